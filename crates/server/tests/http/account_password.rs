//! Changing one's password on /account (issue 16; checklist G11): the current password
//! first (throttled like a sign-in), then every other session and every refresh token of
//! the user ends; this session stays.

use crate::account_sessions::{CHROME_ANDROID, FIREFOX, active, signed_in};
use crate::flow::{Browser, PASSWORD, Page};
use crate::harness::{TestApp, spawn_app};

const NEW: &str = "a much longer new passphrase";

async fn change(app: &TestApp, b: &Browser, current: &str, new: &str, confirm: &str) -> Page {
    let page = b.get(&app.url("/account")).await;
    b.post_form(
        &app.url("/account/password"),
        &[
            ("csrf", &page.field("csrf").unwrap()),
            ("current", current),
            ("new", new),
            ("confirm", confirm),
        ],
    )
    .await
}

async fn refreshes(app: &TestApp, (id, secret): (&str, &str), rt: &str) -> u16 {
    app.http
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_new_password_ends_every_other_session_and_refresh_token() {
    let app = spawn_app().await;
    app.user("alice").await;
    app.user("bob").await;
    let (id, secret) = app.web_client().await;
    let c = (id.as_str(), secret.as_str());
    let scope = "openid offline_access";
    let (here, here_tokens) = signed_in(&app, c, "alice", FIREFOX, scope).await;
    let (phone, phone_tokens) = signed_in(&app, c, "alice", CHROME_ANDROID, scope).await;
    let (_bob, bob_tokens) = signed_in(&app, c, "bob", FIREFOX, scope).await;
    let rt = |t: &serde_json::Value| t["refresh_token"].as_str().unwrap().to_owned();

    // Refused: a mismatch, a short one, a wrong current password; nothing changes.
    for (current, new, confirm, why) in [
        (PASSWORD, NEW, "another", "differ"),
        (PASSWORD, "short", "short", "at least 8"),
        ("not my password", NEW, NEW, "not right"),
    ] {
        let r = change(&app, &here, current, new, confirm).await;
        assert_eq!(r.status, 400, "{why}");
        assert!(r.body.contains(why), "{why}: {}", r.body);
    }
    assert_eq!(phone.get(&app.url("/account")).await.status, 200);

    let r = change(&app, &here, PASSWORD, NEW, NEW).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Your password is changed"));
    // This browser stays, with its grant; the phone and its refresh token do not.
    assert_eq!(here.get(&app.url("/account")).await.status, 200);
    assert!(active(&app, c, &here_tokens).await);
    assert_eq!(refreshes(&app, c, &rt(&here_tokens)).await, 200);
    assert_eq!(phone.get(&app.url("/account")).await.status, 303);
    assert!(!active(&app, c, &phone_tokens).await);
    assert_eq!(refreshes(&app, c, &rt(&phone_tokens)).await, 400);
    // Bob is not touched.
    assert_eq!(refreshes(&app, c, &rt(&bob_tokens)).await, 200);

    // The new password signs in; the old one does not.
    let fresh = app.browser();
    let login = fresh.get(&app.url("/account")).await;
    assert_eq!(login.status, 303);
    let page = fresh.get(&app.url("/login")).await;
    let old = fresh.login(&app, &page, "alice", PASSWORD).await;
    assert_ne!(old.status, 303);
    let page = fresh.get(&app.url("/login")).await;
    let new = fresh.login(&app, &page, "alice", NEW).await;
    assert_eq!(new.status, 303, "{}", new.body);
}

#[tokio::test]
async fn guessing_the_current_password_is_throttled() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let (b, _) = signed_in(&app, (&id, &secret), "alice", FIREFOX, "openid").await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(change(&app, &b, "a wrong guess", NEW, NEW).await.status);
    }
    // The sign-in limit per account and address (10 a minute), then 429 even when right.
    assert!(statuses[..9].iter().all(|s| *s == 400), "{statuses:?}");
    assert_eq!(*statuses.last().unwrap(), 429);
    let r = change(&app, &b, PASSWORD, NEW, NEW).await;
    assert_eq!(r.status, 429);
    assert!(r.headers.get("retry-after").is_some());
    assert!(r.body.contains("too many attempts"));
}
