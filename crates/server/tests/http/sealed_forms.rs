//! Issue 12 item 10: the sealed request in the login and consent forms expires 15 minutes
//! after it was sealed, opens once (a second submit gets an error page and no second
//! code), and is checked again against the application's current registration (still
//! registered, redirect URI still registered, scopes still allowed) before anything is
//! issued.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use valet_server::admin::{ClientChanges, NewClient};

use crate::flow::{PASSWORD, Page, REDIRECT, param};
use crate::harness::{TestApp, spawn_app};

fn codes(app: &TestApp) -> i64 {
    let db = rusqlite::Connection::open(app.sqlite_path()).unwrap();
    db.query_row("SELECT COUNT(*) FROM authorization_codes", [], |r| r.get(0))
        .unwrap()
}

fn sessions(app: &TestApp) -> i64 {
    let db = rusqlite::Connection::open(app.sqlite_path()).unwrap();
    db.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
        .unwrap()
}

fn is_login_page(p: &Page) -> bool {
    p.status == 200 && p.body.contains("name=\"password\"")
}

fn is_consent_page(p: &Page) -> bool {
    p.status == 200 && p.body.contains("value=\"allow\"")
}

/// An error page: no redirect, nothing for the application.
fn assert_refused(p: &Page, what: &str) {
    assert_eq!(p.status, 400, "{what}: {}", p.body);
    assert!(p.location().is_none(), "{what}: no redirect");
    assert!(!p.body.contains("name=\"code\""), "{what}: no form_post");
}

#[tokio::test]
async fn a_consent_form_works_once() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    let consent = b.login(&app, &login, "alice", PASSWORD).await;
    assert!(is_consent_page(&consent), "{}", consent.body);

    let first = b.consent(&app, &consent, "allow").await;
    assert_eq!(first.status, 303);
    assert!(param(&first.location().unwrap(), "code").is_some());
    let again = b.consent(&app, &consent, "allow").await;
    assert_refused(&again, "the same consent form twice");
    assert_eq!(codes(&app), 1, "one code");

    // Deny, then Allow on the same form: the second answer is refused too.
    let (other, _) = app.web_client().await;
    let consent = b.get(&app.authorize_url(&other, "")).await;
    assert!(is_consent_page(&consent));
    let denied = b.consent(&app, &consent, "deny").await;
    assert_eq!(denied.status, 303);
    assert_eq!(
        param(&denied.location().unwrap(), "error").as_deref(),
        Some("access_denied")
    );
    assert_refused(
        &b.consent(&app, &consent, "allow").await,
        "allow after deny",
    );
    assert_eq!(codes(&app), 1);
}

// A trusted application skips consent: the login form itself continues to the code, and
// submitting it twice must not give two codes (nor two sessions).
#[tokio::test]
async fn a_login_form_works_once() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app
        .client(NewClient {
            name: "First party".into(),
            profile: Some(valet_protocol::application::Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            trusted: true,
            ..Default::default()
        })
        .await;
    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    assert!(is_login_page(&login));
    let first = b.login(&app, &login, "alice", PASSWORD).await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert!(param(&first.location().unwrap(), "code").is_some());
    let again = b.login(&app, &login, "alice", PASSWORD).await;
    assert_refused(&again, "the same login form twice");
    assert_eq!(codes(&app), 1);
    assert_eq!(sessions(&app), 1);
}

// A wrong password re-renders the form with a freshly sealed request, which works; the
// one already submitted does not.
#[tokio::test]
async fn a_wrong_password_gives_a_fresh_form() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    let wrong = b.login(&app, &login, "alice", "not the password").await;
    assert!(is_login_page(&wrong));
    assert_ne!(wrong.field("interaction"), login.field("interaction"));
    let retried = b.login(&app, &wrong, "alice", PASSWORD).await;
    assert!(is_consent_page(&retried), "{}", retried.body);
    // The first form was spent by its (wrong) submit.
    assert_refused(
        &b.login(&app, &login, "alice", PASSWORD).await,
        "the spent form",
    );
}

// The sealed request carries its expiry, 15 minutes after it was sealed; at that instant it
// no longer opens. (The test re-seals the form's own value with the node's master key to
// move the expiry instead of waiting.)
#[tokio::test]
async fn a_sealed_form_expires_15_minutes_after_it_was_sealed() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    let csrf = login.field("csrf").unwrap();
    let sealer = app.master_key.interaction_sealer().unwrap();
    // The associated data: the form's purpose and the browser's binding.
    let aad = format!("authorize|login:{csrf}");
    let sealed = URL_SAFE_NO_PAD
        .decode(login.field("interaction").unwrap())
        .unwrap();
    let mut v: Value = serde_json::from_slice(&sealer.open(&aad, &sealed).unwrap()).unwrap();
    let now = app.now();
    let expires_at = v["expires_at"].as_i64().unwrap();
    assert!(
        (now + 15 * 60 - 5..=now + 15 * 60).contains(&expires_at),
        "15 minutes: {expires_at} at {now}"
    );
    assert_eq!(v["value"]["client_id"], id.as_str());
    let submit = |v: &Value| {
        let interaction =
            URL_SAFE_NO_PAD.encode(sealer.seal(&aad, &serde_json::to_vec(v).unwrap()).unwrap());
        let (b, csrf) = (&b, csrf.clone());
        let url = app.url("/login");
        async move {
            b.post_form(
                &url,
                &[
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("csrf", &csrf),
                    ("interaction", &interaction),
                ],
            )
            .await
        }
    };
    for expired in [now, now - 1, now - 3600] {
        v["expires_at"] = json!(expired);
        assert_refused(&submit(&v).await, "expired");
    }
    assert_eq!(sessions(&app), 0, "nobody signed in");
    // The same request with a minute left opens (and was not spent by the refusals).
    v["expires_at"] = json!(now + 60);
    let p = submit(&v).await;
    assert!(is_consent_page(&p), "{}", p.body);
}

// The registration changes while the form is open: the redirect URI is removed (an error
// page, never a redirect to it), or a scope is no longer allowed (`invalid_scope` to the
// still-registered redirect URI). No code either way.
#[tokio::test]
async fn an_open_form_is_checked_against_the_current_registration() {
    let app = spawn_app().await;
    app.api().await;
    app.user("alice").await;
    let scopes = |s: &[&str]| Some(s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    let (id, _) = app
        .client(NewClient {
            name: "Web App".into(),
            profile: Some(valet_protocol::application::Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            scopes: scopes(&["openid", "profile", "api:read"]),
            ..Default::default()
        })
        .await;
    let authorize = app
        .authorize_url(&id, "")
        .replace("scope=openid+profile+email", "scope=openid+api%3Aread");
    let change = |changes: ClientChanges| {
        let app = &app;
        let id = id.clone();
        async move {
            app.admin
                .update_client(&id, changes, None, app.now())
                .await
                .unwrap()
        }
    };

    // The consent form, after the redirect URI is gone.
    let b = app.browser();
    let login = b.get(&authorize).await;
    let consent = b.login(&app, &login, "alice", PASSWORD).await;
    assert!(is_consent_page(&consent));
    change(ClientChanges {
        redirect_uris: Some(vec!["https://app.example/elsewhere".into()]),
        ..Default::default()
    })
    .await;
    assert_refused(&b.consent(&app, &consent, "allow").await, "consent");
    assert_refused(&b.consent(&app, &consent, "deny").await, "deny");
    assert_eq!(codes(&app), 0);

    // The login form, likewise: nobody is signed in on its strength.
    change(ClientChanges {
        redirect_uris: Some(vec![REDIRECT.into()]),
        ..Default::default()
    })
    .await;
    let other = app.browser();
    let login = other.get(&authorize).await;
    assert!(is_login_page(&login));
    change(ClientChanges {
        redirect_uris: Some(vec!["https://app.example/elsewhere".into()]),
        ..Default::default()
    })
    .await;
    let before = sessions(&app);
    assert_refused(&other.login(&app, &login, "alice", PASSWORD).await, "login");
    assert_eq!(sessions(&app), before);

    // The consent form, after `api:read` is no longer allowed.
    change(ClientChanges {
        redirect_uris: Some(vec![REDIRECT.into()]),
        ..Default::default()
    })
    .await;
    let consent = b.get(&authorize).await;
    assert!(is_consent_page(&consent), "{}", consent.body);
    change(ClientChanges {
        scopes: scopes(&["openid", "profile"]),
        ..Default::default()
    })
    .await;
    let p = b.consent(&app, &consent, "allow").await;
    assert_eq!(p.status, 303, "{}", p.body);
    let location = p.location().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(param(&location, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(param(&location, "state").as_deref(), Some("st1"));
    assert_eq!(codes(&app), 0);
}
