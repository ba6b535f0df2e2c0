//! Issue 16: self-registration with email verification, through a real SMTP conversation
//! on loopback. Off by default (404); on, a person signs up, cannot sign in until they
//! follow the emailed link (a right password says so, a wrong one the usual thing), and
//! then can. The link works once; the account is then a user like any other. On SQLite and
//! PostgreSQL.

use valet_server::config::Partial;
use valet_server::mail::SmtpUrl;
use valet_store::AuditQuery;

use crate::flow::{Browser, Page};
use crate::harness::{TestApp, spawn_app, spawn_with};
use crate::smtp::{Received, SmtpSink};

pub const NEW_PASSWORD: &str = "plum orchard lantern";

/// A node with mail and sign-up on, over `database` (its own SQLite file when `None`).
pub async fn with_signup(database: Option<String>) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_with(move |p| Partial {
        smtp_url: Some(SmtpUrl(url)),
        mail_from: Some("Valet <id@valet.test>".into()),
        self_registration: Some(true),
        database: database.or(p.database.clone()),
        ..p
    })
    .await;
    (app, sink)
}

/// Fills in and sends the sign-up form.
pub async fn sign_up(
    app: &TestApp,
    b: &Browser,
    username: &str,
    email: &str,
    password: &str,
) -> Page {
    let form = b.get(&app.url("/signup")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.field("csrf").unwrap();
    b.post_form(
        &app.url("/signup"),
        &[
            ("username", username),
            ("email", email),
            ("name", "Newcomer Example"),
            ("password", password),
            ("csrf", &csrf),
        ],
    )
    .await
}

/// The path of the first `/signup/verify?token=…` link in a message, quoted-printable
/// soft breaks undone; `None` if it has none.
pub fn link_in(m: &Received) -> Option<String> {
    let joined = m.data.replace("=\n", "").replace("=3D", "=");
    let start = joined.find("/signup/verify?token=")?;
    let rest = &joined[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// Opens the link (a button, nothing used yet) and presses the button.
pub async fn confirm(app: &TestApp, b: &Browser, link: &str) -> Page {
    let page = b.get(&app.url(link)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = page.field("token").unwrap();
    b.post_form(
        &app.url("/signup/verify"),
        &[("token", &token), ("csrf", &page.field("csrf").unwrap())],
    )
    .await
}

pub async fn login(app: &TestApp, b: &Browser, username: &str, password: &str) -> Page {
    let page = b.get(&app.url("/login")).await;
    b.login(app, &page, username, password).await
}

#[tokio::test]
async fn sign_up_is_off_by_default() {
    let app = spawn_app().await;
    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    assert!(!login.body.contains("/signup"), "no link to it");
    assert_eq!(b.get(&app.url("/signup")).await.status, 404);
    let csrf = login.field("csrf").unwrap();
    let post = b
        .post_form(
            &app.url("/signup"),
            &[
                ("username", "newcomer"),
                ("email", "new@example.com"),
                ("password", NEW_PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(post.status, 404);
    assert!(app.store.users().await.unwrap().is_empty());
}

async fn sign_up_confirm_sign_in(app: TestApp, sink: SmtpSink) {
    let b = app.browser();
    let login_page = b.get(&app.url("/login")).await;
    assert!(login_page.body.contains("href=\"/signup\""));
    assert!(login_page.body.contains("Create an account"));
    let sent = sign_up(&app, &b, "newcomer", "new@example.com", NEW_PASSWORD).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains("Check your email"));
    assert!(!sent.body.contains(NEW_PASSWORD));

    let m = &sink.wait_for(1).await[0];
    assert_eq!(m.to, ["<new@example.com>"]);
    assert!(m.data.contains("Subject: Confirm your new Valet account"));
    assert!(m.data.contains("text/plain") && m.data.contains("text/html"));
    let link = link_in(m).expect("a confirmation link");
    let token = link.split("token=").nth(1).unwrap();
    assert!(token.len() >= 43, "at least 256 bits: {token}");

    // Pending: the store says so, the admin faces show it, and no sign-in yet.
    let u = app
        .store
        .user_by_username("newcomer")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.pending_until, Some(app.now() + 24 * 3600));
    assert!(!u.claims.email_verified);
    assert_eq!(u.claims.name.as_deref(), Some("Newcomer Example"));
    let view = valet_server::admin::UserView::from(&app.admin.user("newcomer").await.unwrap());
    assert!(view.pending);
    let right = login(&app, &b, "newcomer", NEW_PASSWORD).await;
    assert_eq!(right.status, 403, "{}", right.body);
    assert!(right.body.contains("Confirm your email address"));
    assert!(
        right.body.contains("action=\"/signup/resend\""),
        "a way to resend"
    );
    let wrong = login(&app, &b, "newcomer", "not the password at all").await;
    assert_eq!(wrong.status, 200);
    assert!(
        wrong
            .body
            .contains("The username or password is not right.")
    );
    assert!(!wrong.body.contains("Confirm your email"), "nothing leaks");
    assert_ne!(b.get(&app.url("/account")).await.status, 200);

    // Opening the link changes nothing; the button confirms, once.
    let opened = b.get(&app.url(&link)).await;
    assert!(opened.body.contains("new@example.com"));
    assert!(
        app.store
            .user(&u.id)
            .await
            .unwrap()
            .unwrap()
            .pending_until
            .is_some()
    );
    let ready = confirm(&app, &b, &link).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(ready.body.contains("Your account is ready"));
    assert!(ready.body.contains("href=\"/login\""));
    let confirmed = app.store.user(&u.id).await.unwrap().unwrap();
    assert_eq!(confirmed.pending_until, None);
    assert!(confirmed.claims.email_verified);
    let again = b
        .post_form(
            &app.url("/signup/verify"),
            &[
                ("token", token),
                (
                    "csrf",
                    &b.get(&app.url("/login")).await.field("csrf").unwrap(),
                ),
            ],
        )
        .await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("no longer works"));
    assert_eq!(b.get(&app.url(&link)).await.status, 400);

    // Now the password signs in.
    let signed_in = login(&app, &b, "newcomer", NEW_PASSWORD).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location().as_deref(), Some("/account"));
    assert_eq!(b.get(&app.url("/account")).await.status, 200);

    // Both steps are in the audit trail, and the right password of the pending account.
    let events = audited(&app, "signup.", 2).await;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["signup.verified", "signup.requested"]);
    assert!(events.iter().all(|e| e.target == "user:newcomer"));
    assert!(events.iter().all(|e| !e.changes.contains(token)));
    assert_eq!(audited(&app, "signin.pending", 1).await.len(), 1);
}

/// The audit events whose action starts with `action`, once there are `n` (they are
/// written by a background task: this waits for that write, never for a clock).
pub async fn audited(app: &TestApp, action: &str, n: usize) -> Vec<valet_store::AuditRecord> {
    for _ in 0..200 {
        let found = app
            .store
            .audit_events(&AuditQuery {
                action: Some(action.into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} {action} events");
}

#[tokio::test]
async fn a_person_signs_up_confirms_by_email_and_signs_in() {
    let (app, sink) = with_signup(None).await;
    sign_up_confirm_sign_in(app, sink).await;
}

#[tokio::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn a_person_signs_up_confirms_by_email_and_signs_in_on_postgres() {
    let db = valet_store::postgres::testdb::TestDatabase::create()
        .await
        .unwrap();
    let (app, sink) = with_signup(Some(db.url.clone())).await;
    sign_up_confirm_sign_in(app, sink).await;
}

#[tokio::test]
async fn the_password_grant_refuses_a_pending_account() {
    use valet_protocol::application::{GrantType, Profile};
    let (app, _sink) = with_signup(None).await;
    let b = app.browser();
    sign_up(&app, &b, "newcomer", "new@example.com", NEW_PASSWORD).await;
    let (id, secret) = app
        .client(valet_server::admin::NewClient {
            name: "Legacy".into(),
            profile: Some(Profile::Service),
            grant_types: Some(vec![GrantType::ClientCredentials, GrantType::Password]),
            ..Default::default()
        })
        .await;
    let grant = |password: &'static str| {
        app.http
            .post(app.url("/oauth2/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[
                ("grant_type", "password"),
                ("username", "newcomer"),
                ("password", password),
            ])
            .send()
    };
    let r = grant(NEW_PASSWORD).await.unwrap();
    let body = crate::harness::assert_oauth_error(r, 400, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not confirmed")
    );
    let r = grant("not the password at all").await.unwrap();
    crate::harness::assert_oauth_error(r, 400, "invalid_grant").await;
}
