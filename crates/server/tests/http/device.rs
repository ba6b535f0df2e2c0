//! The device authorization grant (RFC 8628) end to end: the `oauth2` crate's device flow
//! as the device, the test browser on `/device` as the person; every polling answer on
//! the node's manual clock (nothing sleeps for an expiry), the 50-poll race, another
//! application's device code (the rules against abuse are in `device_abuse.rs`).

use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, DeviceAuthorizationUrl, RefreshToken, Scope, StandardDeviceAuthorizationResponse,
    TokenResponse, TokenUrl,
};
use serde_json::Value;
use std::time::Duration;
use valet_protocol::application::Profile;
use valet_server::admin::NewClient;

use crate::flow::{Browser, PASSWORD, Page};
use crate::harness::{TestApp, assert_oauth_error, spawn_app};

pub(crate) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A `device` application (public, no redirect URI); returns its client_id.
pub(crate) async fn device_client(app: &TestApp) -> String {
    app.client(NewClient {
        name: "Living Room TV".into(),
        profile: Some(Profile::Device),
        ..Default::default()
    })
    .await
    .0
}

/// `POST /oauth2/device_authorization` as the public client `id`.
pub(crate) async fn start(app: &TestApp, id: &str, scope: &str) -> Value {
    let r = app
        .http
        .post(app.url("/oauth2/device_authorization"))
        .form(&[("client_id", id), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

/// One poll of the token endpoint as the public client `id`.
pub(crate) async fn poll(app: &TestApp, id: &str, device_code: &str) -> oauth2::reqwest::Response {
    app.http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", id),
            ("device_code", device_code),
        ])
        .send()
        .await
        .unwrap()
}

pub(crate) fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap().to_owned()
}

/// Enters `code` on `/device` (after a GET, which sets the CSRF cookie).
pub(crate) async fn enter(app: &TestApp, b: &Browser, code: &str) -> Page {
    let page = b.get(&app.url("/device")).await;
    assert_eq!(page.status, 200);
    let csrf = page.field("csrf").unwrap();
    b.post_form(&app.url("/device"), &[("csrf", &csrf), ("user_code", code)])
        .await
}

/// Answers the confirmation page with `allow` or `deny`.
pub(crate) async fn decide(app: &TestApp, b: &Browser, confirm: &Page, decision: &str) -> Page {
    let csrf = confirm.field("csrf").unwrap();
    let interaction = confirm.field("interaction").unwrap();
    b.post_form(
        &app.url("/device"),
        &[
            ("csrf", &csrf),
            ("interaction", &interaction),
            ("decision", decision),
        ],
    )
    .await
}

/// The whole page flow for `code`: enter it, sign in as `username` if asked, answer.
pub(crate) async fn answer(
    app: &TestApp,
    b: &Browser,
    code: &str,
    username: &str,
    decision: &str,
) -> Page {
    let mut p = enter(app, b, code).await;
    if p.body.contains("name=\"password\"") {
        p = b.login(app, &p, username, PASSWORD).await;
    }
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("value=\"allow\""), "{}", p.body);
    decide(app, b, &p, decision).await
}

#[tokio::test]
async fn device_flow_end_to_end_with_the_oauth2_crate() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    let id = device_client(&app).await;

    // Both discovery documents advertise the endpoint and the grant (RFC 8628 §4).
    let mut endpoint = String::new();
    for doc in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let meta: Value = app
            .http
            .get(app.url(doc))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        endpoint = s(&meta, "device_authorization_endpoint");
        assert_eq!(endpoint, app.url("/oauth2/device_authorization"), "{doc}");
        assert!(
            meta["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&DEVICE_GRANT.into()),
            "{doc}"
        );
    }

    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_token_uri(TokenUrl::new(app.url("/oauth2/token")).unwrap())
        .set_device_authorization_url(DeviceAuthorizationUrl::new(endpoint).unwrap());
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("openid".into()))
        .request_async(&app.http)
        .await
        .unwrap();
    let user_code = details.user_code().secret().clone();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .chars()
            .filter(|c| *c != '-')
            .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c))
    );
    assert!(details.device_code().secret().len() >= 43);
    assert_eq!(details.verification_uri().as_str(), app.url("/device"));
    let complete = details
        .verification_uri_complete()
        .unwrap()
        .secret()
        .clone();
    assert_eq!(complete, app.url(&format!("/device?user_code={user_code}")));
    assert_eq!(details.expires_in(), Duration::from_secs(600));
    assert_eq!(details.interval(), Duration::from_secs(5));

    // Before anyone answers: authorization_pending (once the interval has passed).
    app.clock.advance(5);
    assert_oauth_error(
        poll(&app, &id, details.device_code().secret()).await,
        400,
        "authorization_pending",
    )
    .await;

    // The person opens the complete URI: the code is prefilled, nothing is approved yet
    // (RFC 8628 §5.4).
    let b = app.browser();
    let page = b.get(&complete).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.field("user_code").as_deref(), Some(user_code.as_str()));
    assert_eq!(
        page.body.matches("<input").count(),
        2,
        "csrf and the one code field"
    );
    // Typed in lower case without the dash: the same code (RFC 8628 §6.1).
    let typed = user_code.replace('-', "").to_lowercase();
    let csrf = page.field("csrf").unwrap();
    let login = b
        .post_form(
            &app.url("/device"),
            &[("csrf", &csrf), ("user_code", &typed)],
        )
        .await;
    assert!(login.body.contains("name=\"password\""), "sign-in first");
    assert!(login.body.contains("Living Room TV"));
    let confirm = b.login(&app, &login, "alice", PASSWORD).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains(&user_code), "the code to compare");
    assert!(confirm.body.contains("matches the one on your device"));
    assert!(confirm.body.contains("Living Room TV"));
    assert!(confirm.body.contains("value=\"deny\""));
    let done = decide(&app, &b, &confirm, "allow").await;
    assert_eq!(done.status, 200);
    assert!(
        done.body.contains("Go back to your device"),
        "{}",
        done.body
    );
    // The same form again: spent.
    let again = decide(&app, &b, &confirm, "allow").await;
    assert_eq!(again.status, 400);

    // The device polls with the crate: the first poll comes at once (inside the interval
    // since the last poll: slow_down, +5 s), then after the grown interval: tokens. The
    // crate's sleep advances the node's clock instead of sleeping.
    let clock = app.clock.clone();
    let slept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = slept.clone();
    let tokens = client
        .exchange_device_access_token(&details)
        .request_async(
            &app.http,
            move |d: Duration| {
                clock.advance(d.as_secs() as i64);
                log.lock().unwrap().push(d.as_secs());
                std::future::ready(())
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        *slept.lock().unwrap(),
        [10],
        "slow_down grew the interval by 5 s"
    );
    assert_eq!(tokens.token_type().as_ref(), "bearer");
    // `openid` alone gets a refresh token for a device application.
    let refresh = tokens.refresh_token().expect("a refresh token").clone();
    let who: Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["sub"], sub.as_str(), "{who}");

    // Redeemed: every later poll is invalid_grant.
    app.clock.advance(60);
    assert_oauth_error(
        poll(&app, &id, details.device_code().secret()).await,
        400,
        "invalid_grant",
    )
    .await;

    // Refresh tokens rotate for device applications (public).
    let next = client
        .exchange_refresh_token(&refresh)
        .request_async(&app.http)
        .await
        .unwrap();
    let rotated = next.refresh_token().unwrap().secret().clone();
    assert_ne!(&rotated, refresh.secret());
    app.clock.advance(60);
    let reuse = client
        .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .request_async(&app.http)
        .await;
    assert!(reuse.is_err(), "a rotated refresh token is spent");
}

#[tokio::test]
async fn every_polling_answer() {
    let app = spawn_app().await;
    app.user("bob").await;
    let id = device_client(&app).await;
    let d = start(&app, &id, "openid profile").await;
    let code = s(&d, "device_code");
    assert_eq!(
        (d["expires_in"].as_i64(), d["interval"].as_i64()),
        (Some(600), Some(5))
    );

    // Inside the interval counted from the response: slow_down, and the interval grows
    // by 5 s for this device code.
    app.clock.advance(4);
    let e = assert_oauth_error(poll(&app, &id, &code).await, 400, "slow_down").await;
    assert!(s(&e, "error_description").contains("10 seconds"), "{e}");
    app.clock.advance(9);
    assert_oauth_error(poll(&app, &id, &code).await, 400, "slow_down").await;
    app.clock.advance(15);
    assert_oauth_error(poll(&app, &id, &code).await, 400, "authorization_pending").await;
    app.clock.advance(14);
    assert_oauth_error(poll(&app, &id, &code).await, 400, "slow_down").await;
    app.clock.advance(20);
    assert_oauth_error(poll(&app, &id, &code).await, 400, "authorization_pending").await;

    // Denied on the page: access_denied, whatever the timing.
    let b = app.browser();
    let done = answer(&app, &b, &s(&d, "user_code"), "bob", "deny").await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("Access denied"), "{}", done.body);
    assert_oauth_error(poll(&app, &id, &code).await, 400, "access_denied").await;
    app.clock.advance(30);
    assert_oauth_error(poll(&app, &id, &code).await, 400, "access_denied").await;

    // Nobody answers for ten minutes: expired_token, also for a late poll.
    let late = start(&app, &id, "openid").await;
    app.clock.advance(599);
    assert_oauth_error(
        poll(&app, &id, &s(&late, "device_code")).await,
        400,
        "authorization_pending",
    )
    .await;
    app.clock.advance(1);
    assert_oauth_error(
        poll(&app, &id, &s(&late, "device_code")).await,
        400,
        "expired_token",
    )
    .await;
    // Its user code no longer works on the page either.
    let p = enter(&app, &b, &s(&late, "user_code")).await;
    assert!(
        p.body.contains("not right, or it has expired"),
        "{}",
        p.body
    );
    app.clock.advance(300);
    assert_oauth_error(
        poll(&app, &id, &s(&late, "device_code")).await,
        400,
        "expired_token",
    )
    .await;

    // Approved, then redeemed once: invalid_grant ever after.
    let ok = start(&app, &id, "openid").await;
    answer(&app, &b, &s(&ok, "user_code"), "bob", "allow").await;
    app.clock.advance(5);
    let r = poll(&app, &id, &s(&ok, "device_code")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert!(body["refresh_token"].is_string(), "{body}");
    assert!(body["id_token"].is_string(), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    app.clock.advance(5);
    assert_oauth_error(
        poll(&app, &id, &s(&ok, "device_code")).await,
        400,
        "invalid_grant",
    )
    .await;

    // A made-up code, and none at all.
    assert_oauth_error(poll(&app, &id, &"A".repeat(43)).await, 400, "invalid_grant").await;
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&[("grant_type", DEVICE_GRANT), ("client_id", &id)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 400, "invalid_request").await;
}
