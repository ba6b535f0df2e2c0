//! Issue 12 item 5: a code lives no longer than its grant and the session it was issued
//! in. A code issued before the user signed out, or before they removed the application on
//! `/account`, is `invalid_grant` at the token endpoint and yields nothing.

use crate::flow::{Browser, Page};
use crate::harness::{TestApp, assert_oauth_error, spawn_app};

/// alice signed in to the web application in a browser, holding a fresh code (not yet
/// redeemed) for `scope`; returns (client_id, secret, browser, the redirect with the code).
async fn code_in_hand(app: &TestApp, scope: &str) -> (String, String, Browser, String) {
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let b = app.browser();
    let url = app.authorize_url(&id, "").replace(
        "scope=openid+profile+email",
        &format!("scope={}", scope.replace(' ', "+")),
    );
    let location = b.sign_in(app, &url, "alice").await;
    (id, secret, b, location)
}

/// Posts the account page's sign-out form (the same request RP-initiated logout makes
/// once confirmed).
async fn sign_out(app: &TestApp, b: &Browser) {
    let account: Page = b.get(&app.url("/account")).await;
    let csrf = account.field("csrf").unwrap();
    let out = b
        .post_form(&app.url("/oauth2/logout"), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, 200);
    assert!(out.body.contains("You are signed out"));
}

#[tokio::test]
async fn a_code_issued_before_sign_out_does_not_redeem() {
    let app = spawn_app().await;
    let (id, secret, b, location) = code_in_hand(&app, "openid profile").await;
    sign_out(&app, &b).await;
    let r = app.redeem(&id, &secret, &location).await;
    assert_oauth_error(r, 400, "invalid_grant").await;
}

// Logout keeps the grants that carry offline_access, but the session the code was issued in
// is over: the code is dead all the same.
#[tokio::test]
async fn an_offline_access_code_issued_before_sign_out_does_not_redeem() {
    let app = spawn_app().await;
    let (id, secret, b, location) = code_in_hand(&app, "openid offline_access").await;
    sign_out(&app, &b).await;
    let r = app.redeem(&id, &secret, &location).await;
    assert_oauth_error(r, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_code_issued_before_the_application_was_removed_does_not_redeem() {
    let app = spawn_app().await;
    let (id, secret, b, location) = code_in_hand(&app, "openid profile").await;
    let account = b.get(&app.url("/account")).await;
    let removed = b
        .post_form(
            &app.url("/account/revoke"),
            &[
                ("csrf", &account.field("csrf").unwrap()),
                ("client_id", &id),
            ],
        )
        .await;
    assert!(removed.body.contains("Access removed"), "{}", removed.body);
    let r = app.redeem(&id, &secret, &location).await;
    assert_oauth_error(r, 400, "invalid_grant").await;
}

// The same through the store: an admin's "revoke every grant of the application".
#[tokio::test]
async fn a_code_whose_grant_an_admin_revoked_does_not_redeem() {
    let app = spawn_app().await;
    let (id, secret, _b, location) = code_in_hand(&app, "openid").await;
    app.admin.revoke_grants(&id, app.now()).await.unwrap();
    let r = app.redeem(&id, &secret, &location).await;
    assert_oauth_error(r, 400, "invalid_grant").await;
}

// The control: still signed in, nothing removed, the code redeems (once).
#[tokio::test]
async fn a_code_of_a_live_session_and_grant_redeems() {
    let app = spawn_app().await;
    let (id, secret, _b, location) = code_in_hand(&app, "openid offline_access").await;
    assert_eq!(app.redeem(&id, &secret, &location).await.status(), 200);
    let r = app.redeem(&id, &secret, &location).await;
    assert_oauth_error(r, 400, "invalid_grant").await;
}
