//! Expiries on the node's clock (issue 13 item 3): the test moves the node's
//! `ManualClock`, and Valet's answer changes at the second its rule says, not before.

use crate::flow::{Browser, PASSWORD, Page};
use crate::harness::{TestApp, assert_oauth_error, spawn_app};

/// Posts the login form of `login` (a page of `b`) as alice.
async fn log_in(app: &TestApp, b: &Browser, login: &Page) -> Page {
    b.login(app, login, "alice", PASSWORD).await
}

// Checklist D5: a code lives 60 s (`expires_at <= now` is expired).
#[tokio::test]
async fn a_code_redeems_until_60_seconds_after_it_was_issued() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let b = app.browser();
    let first = b.sign_in(&app, &app.authorize_url(&id, ""), "alice").await;
    let second = b.sign_in(&app, &app.authorize_url(&id, ""), "alice").await;
    app.clock.advance(59);
    assert_eq!(app.redeem(&id, &secret, &first).await.status(), 200);
    app.clock.advance(1);
    let r = app.redeem(&id, &secret, &second).await;
    assert_oauth_error(r, 400, "invalid_grant").await;
    // A code issued now, in the same session, still redeems: the first one only expired.
    let third = b.sign_in(&app, &app.authorize_url(&id, ""), "alice").await;
    assert_eq!(app.redeem(&id, &secret, &third).await.status(), 200);
}

// Issue 12 item 8 end to end: a token is active up to the second before `exp`.
#[tokio::test]
async fn an_access_token_is_active_until_its_exp() {
    let app = spawn_app().await;
    let (id, secret) = app.service(&[]).await;
    let token = app.token(&id, &secret).await;
    let ttl = app.settings.access_token_ttl;
    app.clock.advance(ttl - 1);
    assert_eq!(app.introspect(&id, &secret, &token).await["active"], true);
    app.clock.advance(1);
    assert_eq!(
        app.introspect(&id, &secret, &token).await,
        serde_json::json!({"active": false})
    );
}

// A browser session lasts `session_ttl`: one second before, a new authorization is
// silent; at the end, the login page again.
#[tokio::test]
async fn a_session_ends_after_session_ttl() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    b.sign_in(&app, &app.authorize_url(&id, ""), "alice").await;
    app.clock.advance(app.settings.session_ttl - 1);
    let p = b.get(&app.authorize_url(&id, "")).await;
    assert_eq!(p.status, 303, "still signed in: {}", p.body);
    app.clock.advance(1);
    let p = b.get(&app.authorize_url(&id, "")).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("name=\"password\""), "{}", p.body);
}

// Issue 12 item 10: a sealed login form opens for 15 minutes after it was rendered.
#[tokio::test]
async fn a_login_form_works_for_15_minutes() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let (early, late) = (app.browser(), app.browser());
    let early_form = early.get(&app.authorize_url(&id, "")).await;
    let late_form = late.get(&app.authorize_url(&id, "")).await;
    app.clock.advance(15 * 60 - 1);
    let p = log_in(&app, &early, &early_form).await;
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("value=\"allow\""),
        "the consent page: {}",
        p.body
    );
    app.clock.advance(1);
    let p = log_in(&app, &late, &late_form).await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("This request has expired"), "{}", p.body);
}
