//! The device grant against abuse and mistakes (RFC 8628 §5): who may use the grant,
//! another application's device code, racing polls, throttled user codes and device
//! authorizations, what the verification link may carry, and what signing out ends.

use serde_json::Value;
use valet_protocol::application::{GrantType, Profile};
use valet_server::admin::NewClient;

use crate::device::{DEVICE_GRANT, answer, decide, device_client, enter, poll, s, start};
use crate::flow::PASSWORD;
use crate::harness::{assert_oauth_error, spawn_app};

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
