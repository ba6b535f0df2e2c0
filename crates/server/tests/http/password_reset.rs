//! Issue 16: "lose their password and recover by email" — through a real SMTP
//! conversation on loopback; the link works once, for 30 minutes, and afterwards every
//! session and refresh token of the user has ended. Nobody learns whether an account or
//! an address exists.

use serde_json::Value;
use valet_server::config::Partial;
use valet_server::mail::SmtpUrl;

use crate::flow::{Browser, PASSWORD, Page};
use crate::harness::{TestApp, spawn_with};
use crate::smtp::SmtpSink;

async fn with_mail() -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_with(move |p| Partial {
        smtp_url: Some(SmtpUrl(url)),
        mail_from: Some("Valet <id@valet.test>".into()),
        ..p
    })
    .await;
    (app, sink)
}

async fn ask(app: &TestApp, b: &Browser, who: &str) -> Page {
    let form = b.get(&app.url("/password/forgot")).await;
    assert_eq!(form.status, 200);
    let csrf = form.field("csrf").unwrap();
    b.post_form(
        &app.url("/password/forgot"),
        &[("who", who), ("csrf", &csrf)],
    )
    .await
}

/// The reset link in a message (quoted-printable soft breaks undone).
fn link_in(data: &str) -> String {
    let joined = data.replace("=\n", "").replace("=3D", "=");
    let start = joined.find("/password/reset?token=").expect("a reset link");
    let rest = &joined[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .unwrap_or(rest.len());
    rest[..end].to_owned()
}

#[tokio::test]
async fn a_user_who_lost_their_password_recovers_by_email() {
    let (app, sink) = with_mail().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    // A session and a refresh token from before.
    let before = app.browser();
    let location = before
        .sign_in(&app, &app.authorize_url(&id, ""), "alice")
        .await;
    let t: Value = app
        .redeem(&id, &secret, &location)
        .await
        .json()
        .await
        .unwrap();
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();

    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    assert!(
        login.body.contains("href=\"/password/forgot\""),
        "the login page links it"
    );
    let sent = ask(&app, &b, "alice@example.com").await;
    assert_eq!(sent.status, 200);
    assert!(sent.body.contains("Check your email"));
    let messages = sink.wait_for(1).await;
    let m = &messages[0];
    assert_eq!(m.to, ["<alice@example.com>"]);
    assert_eq!(m.from, "<id@valet.test>");
    assert!(m.data.contains("Subject: Reset your Valet password"));
    assert!(m.data.contains("text/plain") && m.data.contains("text/html"));
    let link = link_in(&m.data);
    let token = link.split("token=").nth(1).unwrap();
    assert!(token.len() >= 43, "at least 256 bits: {token}");

    // Opening the link shows the form and uses nothing up.
    let form = b.get(&app.url(&link)).await;
    assert_eq!(form.status, 200);
    let csrf = form.field("csrf").unwrap();
    let mismatch = b
        .post_form(
            &app.url("/password/reset"),
            &[
                ("token", token),
                ("password", "a new long password"),
                ("confirm", "another"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(mismatch.status, 400);
    let weak = b
        .post_form(
            &app.url("/password/reset"),
            &[
                ("token", token),
                ("password", "short"),
                ("confirm", "short"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(weak.status, 400);
    let done = b
        .post_form(
            &app.url("/password/reset"),
            &[
                ("token", token),
                ("password", "a new long password"),
                ("confirm", "a new long password"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Your password is changed"));

    // Once only.
    let again = b
        .post_form(
            &app.url("/password/reset"),
            &[
                ("token", token),
                ("password", "yet another password"),
                ("confirm", "yet another password"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("no longer works"));
    // Everything from before has ended; the new password signs in, the old one not.
    assert_eq!(
        app.introspect(&id, &secret, &refresh).await["active"],
        false
    );
    let account = before.get(&app.url("/account")).await;
    assert_ne!(account.status, 200, "the old session is gone");
    let fresh = app.browser();
    let login = fresh.get(&app.authorize_url(&id, "")).await;
    let wrong = fresh.login(&app, &login, "alice", PASSWORD).await;
    assert!(wrong.body.contains("not right"));
    // On the form the failed attempt re-rendered (a form is spent once submitted).
    let ok = fresh
        .login(&app, &wrong, "alice", "a new long password")
        .await;
    assert!(
        ok.status == 303 || ok.body.contains("value=\"allow\""),
        "{}",
        ok.body
    );
}

#[tokio::test]
async fn the_answer_never_tells_whether_an_account_exists_and_links_expire() {
    let (app, sink) = with_mail().await;
    app.user("bob").await;
    let b = app.browser();
    let unknown = ask(&app, &b, "nobody@example.com").await;
    let known = ask(&app, &b, "bob").await;
    assert_eq!(unknown.status, known.status);
    let strip = |p: &Page| p.body.replace(&p.field("csrf").unwrap_or_default(), "");
    assert_eq!(strip(&unknown), strip(&known), "the same page either way");
    let link = link_in(&sink.wait_for(1).await[0].data);
    assert_eq!(
        sink.messages.lock().unwrap().len(),
        1,
        "only the known one got mail"
    );
    // A newer link replaces the older one.
    ask(&app, &b, "bob").await;
    let newer = link_in(&sink.wait_for(2).await[1].data);
    assert_eq!(
        b.get(&app.url(&link)).await.status,
        400,
        "the older link is dead"
    );
    // 30 minutes on the node's clock: expired.
    app.clock.advance(30 * 60 + 1);
    let page = b.get(&app.url(&newer)).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("no longer works"));
    // A forged form post is refused.
    let forged = b
        .post_form(
            &app.url("/password/forgot"),
            &[("who", "bob"), ("csrf", "forged")],
        )
        .await;
    assert_eq!(forged.status, 403);
}

#[tokio::test]
async fn asking_is_throttled_and_without_mail_the_page_says_so() {
    let (app, sink) = with_mail().await;
    app.user("carol").await;
    let b = app.browser();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(ask(&app, &b, "carol").await.status);
    }
    assert_eq!(&statuses[..3], [200, 200, 200]);
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(sink.wait_for(3).await.len(), 3);

    let plain = crate::harness::spawn_app().await;
    let page = plain.browser().get(&plain.url("/password/forgot")).await;
    assert!(page.body.contains("does not send email"));
}

/// The confirmation link in a message.
fn verify_link_in(data: &str) -> String {
    let joined = data.replace("=\n", "").replace("=3D", "=");
    let start = joined
        .find("/email/verify?token=")
        .expect("a verification link");
    let rest = &joined[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .unwrap_or(rest.len());
    rest[..end].to_owned()
}

#[tokio::test]
async fn an_address_becomes_verified_only_through_its_link() {
    let (app, sink) = with_mail().await;
    app.user("dora").await;
    // Unverified to begin with.
    app.admin
        .update_user(
            "dora",
            valet_server::admin::UserChanges {
                email_verified: Some(false),
                ..Default::default()
            },
            None,
            app.now(),
        )
        .await
        .unwrap();
    let (id, _) = app.web_client().await;
    let b = app.browser();
    b.sign_in(&app, &app.authorize_url(&id, ""), "dora").await;
    let account = b.get(&app.url("/account")).await;
    assert!(account.body.contains("verify it"));
    let page = b.get(&app.url("/account/email")).await;
    assert!(page.body.contains("not verified"));
    let csrf = page.field("csrf").unwrap();
    let forged = b
        .post_form(&app.url("/account/email"), &[("csrf", "forged")])
        .await;
    assert_eq!(forged.status, 403);
    let sent = b
        .post_form(&app.url("/account/email"), &[("csrf", &csrf)])
        .await;
    assert!(sent.body.contains("on its way"), "{}", sent.body);
    let link = verify_link_in(&sink.wait_for(1).await[0].data);

    // Opening the link (a mail scanner would) verifies nothing; the button does, once.
    let confirm = b.get(&app.url(&link)).await;
    assert_eq!(confirm.status, 200);
    let unverified = app.store.user_by_username("dora").await.unwrap().unwrap();
    assert!(!unverified.claims.email_verified);
    let token = link.split("token=").nth(1).unwrap();
    let csrf = confirm.field("csrf").unwrap();
    let done = b
        .post_form(
            &app.url("/email/verify"),
            &[("token", token), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("is verified"));
    let verified = app.store.user_by_username("dora").await.unwrap().unwrap();
    assert!(verified.claims.email_verified);
    let again = b
        .post_form(
            &app.url("/email/verify"),
            &[("token", token), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, 400);

    // A link sent before the address changed proves nothing about the new one.
    app.admin
        .update_user(
            "dora",
            valet_server::admin::UserChanges {
                email_verified: Some(false),
                ..Default::default()
            },
            None,
            app.now(),
        )
        .await
        .unwrap();
    let page = b.get(&app.url("/account/email")).await;
    let csrf = page.field("csrf").unwrap();
    b.post_form(&app.url("/account/email"), &[("csrf", &csrf)])
        .await;
    let link = verify_link_in(&sink.wait_for(2).await[1].data);
    app.admin
        .update_user(
            "dora",
            valet_server::admin::UserChanges {
                email: Some("other@example.com".into()),
                ..Default::default()
            },
            None,
            app.now(),
        )
        .await
        .unwrap();
    let confirm = b.get(&app.url(&link)).await;
    let csrf = confirm.field("csrf").unwrap();
    let token = link.split("token=").nth(1).unwrap();
    let refused = b
        .post_form(
            &app.url("/email/verify"),
            &[("token", token), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 400);
    let u = app.store.user_by_username("dora").await.unwrap().unwrap();
    assert!(!u.claims.email_verified);
}
