//! The device authorization grant (RFC 8628) end to end: the `oauth2` crate's device flow
//! as the device, the test browser on `/device` as the person; every polling answer on
//! the node's manual clock (nothing sleeps for an expiry), the 50-poll race, another
//! application's device code, the throttle on entering user codes.

use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, DeviceAuthorizationUrl, RefreshToken, Scope, StandardDeviceAuthorizationResponse,
    TokenResponse, TokenUrl,
};
use serde_json::Value;
use std::time::Duration;
use valet_protocol::application::{GrantType, Profile};
use valet_server::admin::NewClient;

use crate::flow::{Browser, PASSWORD, Page};
use crate::harness::{TestApp, assert_oauth_error, spawn_app};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A `device` application (public, no redirect URI); returns its client_id.
async fn device_client(app: &TestApp) -> String {
    app.client(NewClient {
        name: "Living Room TV".into(),
        profile: Some(Profile::Device),
        ..Default::default()
    })
    .await
    .0
}

/// `POST /oauth2/device_authorization` as the public client `id`.
async fn start(app: &TestApp, id: &str, scope: &str) -> Value {
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
async fn poll(app: &TestApp, id: &str, device_code: &str) -> oauth2::reqwest::Response {
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

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap().to_owned()
}

/// Enters `code` on `/device` (after a GET, which sets the CSRF cookie).
async fn enter(app: &TestApp, b: &Browser, code: &str) -> Page {
    let page = b.get(&app.url("/device")).await;
    assert_eq!(page.status, 200);
    let csrf = page.field("csrf").unwrap();
    b.post_form(&app.url("/device"), &[("csrf", &csrf), ("user_code", code)])
        .await
}

/// Answers the confirmation page with `allow` or `deny`.
async fn decide(app: &TestApp, b: &Browser, confirm: &Page, decision: &str) -> Page {
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
async fn answer(app: &TestApp, b: &Browser, code: &str, username: &str, decision: &str) -> Page {
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

#[tokio::test]
async fn only_applications_registered_for_the_grant_may_use_it() {
    let app = spawn_app().await;
    let (web, secret) = app.web_client().await;
    let r = app
        .post(
            "/oauth2/device_authorization",
            &web,
            &secret,
            "scope=openid",
        )
        .await;
    assert_oauth_error(r, 400, "unauthorized_client").await;
    let r = app
        .post(
            "/oauth2/token",
            &web,
            &secret,
            &format!("grant_type={DEVICE_GRANT}&device_code=x"),
        )
        .await;
    assert_oauth_error(r, 400, "unauthorized_client").await;
    // A confidential application may add the grant; it authenticates as at the token
    // endpoint.
    let (tv, tv_secret) = app
        .client(NewClient {
            name: "Kiosk".into(),
            profile: Some(Profile::Web),
            redirect_uris: vec!["https://app.example/cb".into()],
            grant_types: Some(vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::DeviceCode,
            ]),
            ..Default::default()
        })
        .await;
    let r = app
        .post("/oauth2/device_authorization", &tv, "wrong", "scope=openid")
        .await;
    assert_oauth_error(r, 401, "invalid_client").await;
    let r = app
        .post(
            "/oauth2/device_authorization",
            &tv,
            &tv_secret,
            "scope=openid",
        )
        .await;
    assert_eq!(r.status(), 200);
    // Scopes are selected as for the other grants.
    let id = device_client(&app).await;
    let r = app
        .http
        .post(app.url("/oauth2/device_authorization"))
        .form(&[("client_id", id.as_str()), ("scope", "api:write")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 400, "invalid_scope").await;
}

#[tokio::test]
async fn another_applications_device_code_reads_like_a_made_up_one() {
    let app = spawn_app().await;
    app.user("carol").await;
    let mine = device_client(&app).await;
    let other = device_client(&app).await;
    let d = start(&app, &mine, "openid").await;
    answer(&app, &app.browser(), &s(&d, "user_code"), "carol", "allow").await;
    app.clock.advance(5);
    let stolen = poll(&app, &other, &s(&d, "device_code")).await;
    let stolen = assert_oauth_error(stolen, 400, "invalid_grant").await;
    let made_up = poll(&app, &other, &"B".repeat(43)).await;
    let made_up = assert_oauth_error(made_up, 400, "invalid_grant").await;
    assert_eq!(stolen, made_up, "the same answer, byte for byte");
    // And the stolen attempt cost the owner nothing.
    let r = poll(&app, &mine, &s(&d, "device_code")).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_polls_after_approval_one_gets_tokens() {
    let app = spawn_app().await;
    app.user("dave").await;
    let id = device_client(&app).await;
    let d = start(&app, &id, "openid").await;
    answer(&app, &app.browser(), &s(&d, "user_code"), "dave", "allow").await;
    app.clock.advance(5);
    let app = std::sync::Arc::new(app);
    let code = s(&d, "device_code");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, id, code) = (app.clone(), id.clone(), code.clone());
            tokio::spawn(async move {
                let r = poll(&app, &id, &code).await;
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == 200 {
            winners += 1;
            assert!(body["access_token"].is_string());
        } else {
            assert_eq!(status, 400);
            assert!(
                body["error"] == "invalid_grant" || body["error"] == "slow_down",
                "{body}"
            );
        }
    }
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn entering_user_codes_is_throttled_per_browser_and_per_address() {
    let app = spawn_app().await;
    app.user("erin").await;
    let id = device_client(&app).await;
    let d = start(&app, &id, "openid").await;
    let b = app.browser();
    // Wrong codes, well-formed or not, get one message and count.
    for i in 0..10 {
        let typed = if i % 2 == 0 { "BCDF-GHJK" } else { "nonsense" };
        let p = enter(&app, &b, typed).await;
        assert_eq!(p.status, 200);
        assert!(
            p.body.contains("not right, or it has expired"),
            "{}",
            p.body
        );
    }
    // The eleventh, even the right code, waits.
    let p = enter(&app, &b, &s(&d, "user_code")).await;
    assert_eq!(p.status, 429, "{}", p.body);
    assert!(p.headers.contains_key("retry-after"));
    assert!(p.body.contains("Too many codes"));
    // Other browsers at the same address share its limit (50 per window).
    for _ in 0..4 {
        let other = app.browser();
        for _ in 0..10 {
            assert_eq!(enter(&app, &other, "BCDF-GHJK").await.status, 200);
        }
    }
    let fresh = app.browser();
    assert_eq!(enter(&app, &fresh, &s(&d, "user_code")).await.status, 429);
    // The window passes: the right code works again.
    app.clock.advance(300);
    let p = enter(&app, &fresh, &s(&d, "user_code")).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("name=\"password\""));
}

#[tokio::test]
async fn a_signed_in_user_confirms_and_the_link_alone_approves_nothing() {
    let app = spawn_app().await;
    app.user("frank").await;
    let id = device_client(&app).await;
    let b = app.browser();
    // Signed in first (standalone login).
    let login = b.get(&app.url("/login")).await;
    let r = b.login(&app, &login, "frank", PASSWORD).await;
    assert_eq!(r.status, 303);
    let d = start(&app, &id, "openid").await;
    // Following the complete URI shows the code step, prefilled; nothing else happens.
    let page = b.get(&s(&d, "verification_uri_complete")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("value=\"allow\""));
    app.clock.advance(5);
    assert_oauth_error(
        poll(&app, &id, &s(&d, "device_code")).await,
        400,
        "authorization_pending",
    )
    .await;
    // Submitting it goes straight to the confirmation (already signed in).
    let confirm = enter(&app, &b, &s(&d, "user_code")).await;
    assert!(confirm.body.contains("value=\"allow\""), "{}", confirm.body);
    assert!(confirm.body.contains(&s(&d, "user_code")));
    // A forged CSRF token does nothing.
    let interaction = confirm.field("interaction").unwrap();
    let forged = b
        .post_form(
            &app.url("/device"),
            &[
                ("csrf", "forged"),
                ("interaction", &interaction),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    let done = decide(&app, &b, &confirm, "allow").await;
    assert!(done.body.contains("Go back to your device"));
    app.clock.advance(5);
    assert_eq!(poll(&app, &id, &s(&d, "device_code")).await.status(), 200);
}

#[tokio::test]
async fn device_authorizations_are_counted_per_address() {
    // Each request writes a row and a public client_id is no secret: 60 per address in
    // 10 minutes, then 429 with Retry-After, counted in the store.
    let app = spawn_app().await;
    let id = device_client(&app).await;
    for _ in 0..60 {
        start(&app, &id, "openid").await;
    }
    let r = app
        .http
        .post(app.url("/oauth2/device_authorization"))
        .form(&[("client_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    app.clock.advance(600);
    start(&app, &id, "openid").await;
}

#[tokio::test]
async fn a_withdrawn_approval_issues_nothing() {
    // Allowed, then withdrawn (the account page, an admin) before the device polls: the
    // grant is revoked and the poll gets nothing.
    let app = spawn_app().await;
    let sub = app.user("gina").await;
    let id = device_client(&app).await;
    let d = start(&app, &id, "openid").await;
    answer(&app, &app.browser(), &s(&d, "user_code"), "gina", "allow").await;
    // Allowing is remembered as a consent, so it can be withdrawn like any other.
    assert!(app.store.consent(&sub, &id).await.unwrap().is_some());
    assert_eq!(
        app.store
            .revoke_consent(&sub, &id, app.now())
            .await
            .unwrap(),
        1
    );
    app.clock.advance(5);
    let e = assert_oauth_error(
        poll(&app, &id, &s(&d, "device_code")).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(s(&e, "error_description").contains("withdrew"), "{e}");
}

#[tokio::test]
async fn what_the_link_carries_is_escaped_and_cut_short() {
    let app = spawn_app().await;
    let b = app.browser();
    let page =
        b.get(&app.url(
            "/device?user_code=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E-and-a-lot-more-text",
        ))
        .await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("<script>"), "{}", page.body);
    assert_eq!(
        page.field("user_code").as_deref(),
        Some("\"><script>alert(")
    );
    // A well-formed code is shown in its usual form, however it was typed.
    let page = b.get(&app.url("/device?user_code=bcdf+ghjk")).await;
    assert_eq!(page.field("user_code").as_deref(), Some("BCDF-GHJK"));
}

#[tokio::test]
async fn signing_out_where_it_was_approved_leaves_the_device_signed_in() {
    // The grant belongs to the device: the phone's session ending (without
    // offline_access in the scope) does not revoke it.
    let app = spawn_app().await;
    app.user("hank").await;
    let id = device_client(&app).await;
    let d = start(&app, &id, "openid").await;
    let b = app.browser();
    answer(&app, &b, &s(&d, "user_code"), "hank", "allow").await;
    app.clock.advance(5);
    let r = poll(&app, &id, &s(&d, "device_code")).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let confirm = b.get(&app.url("/oauth2/logout")).await;
    let csrf = confirm.field("csrf").unwrap();
    let out = b
        .post_form(&app.url("/oauth2/logout"), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.body.contains("You are signed out"), "{}", out.body);
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", id.as_str()),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}
