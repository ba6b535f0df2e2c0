//! Second factors as policy (issue 16): `mfa = "required"` enrols before any session,
//! an application's `require_mfa` and `acr_values` step a password session up (the
//! device page too), `max_age` still means the password, `amr`/`acr` in ID tokens and
//! discovery, `mfa = "off"`, and the password grant that never stands in for a second
//! factor, and the throttling of codes. Helpers in `mfa.rs`.

use serde_json::Value;
use valet_server::admin::NewClient;

use crate::flow::{PASSWORD, REDIRECT, param, unescape};
use crate::harness::{spawn_app, spawn_with};
use crate::mfa::{
    MFA_ACR, align, audit_actions, claims_of, code, enrol, id_token, is_code_page, recovery_codes,
    secret_of, sessions, to_redirect,
};

#[tokio::test]
async fn required_mfa_enrols_before_any_session() {
    let app = spawn_with(|p| valet_server::config::Partial {
        mfa: Some("required".into()),
        ..p
    })
    .await;
    let sub = app.user("bob").await;
    align(&app);
    let (id, client_secret) = app.web_client().await;
    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    let p = b.login(&app, &login, "bob", PASSWORD).await;
    assert!(is_code_page(&p), "{}", p.body);
    assert!(p.body.contains("<svg class=\"qr\"") && unescape(&p.body).contains("otpauth://totp/"));
    assert_eq!(sessions(&app), 0, "the password alone makes no session");
    let secret = secret_of(&p);
    let wrong = b.submit_code(&app, &p, "999999").await;
    assert!(is_code_page(&wrong));
    assert_eq!(sessions(&app), 0);
    let codes_page = b.submit_code(&app, &wrong, &code(&app, &secret, 0)).await;
    assert_eq!(recovery_codes(&codes_page).len(), 10, "{}", codes_page.body);
    assert_eq!(sessions(&app), 1);
    assert!(app.store.totp(&sub).await.unwrap().is_some());
    let next = b
        .post_form(
            &app.url("/login/continue"),
            &[
                ("csrf", &codes_page.field("csrf").unwrap()),
                ("interaction", &codes_page.field("interaction").unwrap()),
            ],
        )
        .await;
    let location = to_redirect(&app, &b, next).await;
    let claims = id_token(&app, &id, &client_secret, &location).await;
    assert_eq!(claims["acr"], MFA_ACR);

    // A login without an application goes to /account the same way.
    app.clock.advance(60);
    let b2 = app.browser();
    let login = b2.get(&app.url("/login")).await;
    let p = b2.login(&app, &login, "bob", PASSWORD).await;
    assert!(is_code_page(&p) && !unescape(&p.body).contains("otpauth://"));
    let ok = b2.submit_code(&app, &p, &code(&app, &secret, 0)).await;
    assert_eq!(ok.location().as_deref(), Some("/account"));
}

#[tokio::test]
async fn an_application_that_requires_mfa_steps_up_a_password_session() {
    let app = spawn_app().await;
    app.user("alice").await;
    align(&app);
    let b = app.browser();
    // Alice enrolled on the account page: her session there is a password session.
    let (secret, _) = enrol(&app, &b, "alice").await;
    app.clock.advance(60);
    let (plain, plain_secret) = app.web_client().await;
    let location = b
        .sign_in(&app, &app.authorize_url(&plain, ""), "alice")
        .await;
    let claims = id_token(&app, &plain, &plain_secret, &location).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["acr"], "urn:valet:acr:password");

    let (strict, strict_secret) = app
        .client(NewClient {
            name: "Payroll".into(),
            profile: Some(valet_protocol::application::Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            require_mfa: true,
            ..Default::default()
        })
        .await;
    // prompt=none cannot step up.
    let none = b.get(&app.authorize_url(&strict, "&prompt=none")).await;
    assert_eq!(
        param(&none.location().unwrap(), "error").as_deref(),
        Some("interaction_required")
    );
    let p = b.get(&app.authorize_url(&strict, "")).await;
    assert!(
        is_code_page(&p),
        "the second factor, not the password: {}",
        p.body
    );
    let ok = b.submit_code(&app, &p, &code(&app, &secret, 0)).await;
    let location = to_redirect(&app, &b, ok).await;
    let claims = id_token(&app, &strict, &strict_secret, &location).await;
    assert_eq!(claims["acr"], MFA_ACR);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));

    // acr_values asks for the same of any application; the stepped-up session has it.
    let again = b
        .sign_in(
            &app,
            &app.authorize_url(&plain, "&acr_values=urn%3Avalet%3Aacr%3Amfa"),
            "alice",
        )
        .await;
    let claims = id_token(&app, &plain, &plain_secret, &again).await;
    assert_eq!(claims["acr"], MFA_ACR);

    // max_age still means the password: too old a session signs in again, then the code.
    app.clock.advance(60);
    let p = b.get(&app.authorize_url(&strict, "&max_age=30")).await;
    assert!(p.body.contains("name=\"password\""), "the login page first");
    let p = b.login(&app, &p, "alice", PASSWORD).await;
    assert!(is_code_page(&p));
    let ok = b.submit_code(&app, &p, &code(&app, &secret, 0)).await;
    let location = to_redirect(&app, &b, ok).await;
    let claims = id_token(&app, &strict, &strict_secret, &location).await;
    assert_eq!(claims["auth_time"], app.now());
    assert_eq!(claims["acr"], MFA_ACR);

    // acr_values for an unenrolled user enrols one first.
    app.user("carol").await;
    let c = app.browser();
    let login = c
        .get(&app.authorize_url(&plain, "&acr_values=urn%3Avalet%3Aacr%3Amfa"))
        .await;
    let p = c.login(&app, &login, "carol", PASSWORD).await;
    assert!(is_code_page(&p) && unescape(&p.body).contains("otpauth://totp/Valet:carol"));
}

#[tokio::test]
async fn discovery_lists_both_acr_values() {
    let app = spawn_app().await;
    let d: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        d["acr_values_supported"],
        serde_json::json!(["urn:valet:acr:password", MFA_ACR])
    );
}

#[tokio::test]
async fn the_password_grant_never_stands_in_for_a_second_factor() {
    use valet_protocol::application::GrantType;
    let app = spawn_app().await;
    app.user("alice").await;
    app.user("bob").await;
    align(&app);
    enrol(&app, &app.browser(), "alice").await;
    let (id, secret) = app
        .client(NewClient {
            name: "Legacy".into(),
            profile: Some(valet_protocol::application::Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: Some(vec![GrantType::AuthorizationCode, GrantType::Password]),
            ..Default::default()
        })
        .await;
    let grant = |user: &str| {
        format!(
            "grant_type=password&username={user}&password={}",
            PASSWORD.replace(' ', "+")
        )
    };
    let r = app
        .post("/oauth2/token", &id, &secret, &grant("alice"))
        .await;
    crate::harness::assert_oauth_error(r, 400, "invalid_grant").await;
    let r = app.post("/oauth2/token", &id, &secret, &grant("bob")).await;
    assert_eq!(r.status(), 200, "a user without a second factor");
}

#[tokio::test]
async fn with_mfa_off_an_application_that_requires_it_is_refused() {
    let app = spawn_with(|p| valet_server::config::Partial {
        mfa: Some("off".into()),
        ..p
    })
    .await;
    app.user("alice").await;
    let (strict, _) = app
        .client(NewClient {
            name: "Payroll".into(),
            profile: Some(valet_protocol::application::Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            require_mfa: true,
            ..Default::default()
        })
        .await;
    let b = app.browser();
    let p = b.get(&app.authorize_url(&strict, "")).await;
    assert_eq!(
        param(&p.location().unwrap(), "error").as_deref(),
        Some("access_denied")
    );
    // Nothing is offered on the account page.
    let login = b.get(&app.url("/login")).await;
    b.login(&app, &login, "alice", PASSWORD).await;
    let account = b.get(&app.url("/account")).await;
    assert!(!account.body.contains("authenticator app"));
    let p = b.get(&app.url("/account/authenticator")).await;
    assert_eq!(p.location().as_deref(), Some("/account"));
    // Nor on the device page.
    let (tv, _) = app
        .client(NewClient {
            name: "Payroll TV".into(),
            profile: Some(valet_protocol::application::Profile::Device),
            require_mfa: true,
            ..Default::default()
        })
        .await;
    let d = crate::device::start(&app, &tv, "openid").await;
    let p = crate::device::enter(&app, &b, &crate::device::s(&d, "user_code")).await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(p.body.contains("second factors are turned off"));
}

// The device page: a password session steps up for an application that requires a second
// factor, and the device's ID token says how the person who allowed it signed in.
#[tokio::test]
async fn the_device_page_steps_up_and_the_device_tokens_say_mfa() {
    use crate::device::{decide, enter, poll, s, start};
    let app = spawn_app().await;
    app.user("alice").await;
    align(&app);
    let b = app.browser();
    let (secret, _) = enrol(&app, &b, "alice").await;
    app.clock.advance(60);
    let (tv, _) = app
        .client(NewClient {
            name: "Payroll TV".into(),
            profile: Some(valet_protocol::application::Profile::Device),
            require_mfa: true,
            ..Default::default()
        })
        .await;
    let d = start(&app, &tv, "openid").await;
    let p = enter(&app, &b, &s(&d, "user_code")).await;
    assert!(is_code_page(&p), "a second factor first: {}", p.body);
    let confirm = b.submit_code(&app, &p, &code(&app, &secret, 0)).await;
    assert!(confirm.body.contains("value=\"allow\""), "{}", confirm.body);
    let done = decide(&app, &b, &confirm, "allow").await;
    assert_eq!(done.status, 200, "{}", done.body);
    app.clock.advance(10);
    let r = poll(&app, &tv, &s(&d, "device_code")).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let claims = claims_of(body["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], MFA_ACR);
}

#[tokio::test]
async fn second_factor_attempts_are_throttled() {
    let app = spawn_app().await;
    app.user("alice").await;
    align(&app);
    let (secret, _) = enrol(&app, &app.browser(), "alice").await;
    app.clock.advance(60);
    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    let mut p = b.login(&app, &login, "alice", PASSWORD).await;
    for _ in 0..10 {
        p = b.submit_code(&app, &p, "000000").await;
        assert_eq!(p.status, 200);
    }
    // The right code now waits too, from this browser and any other.
    let throttled = b.submit_code(&app, &p, &code(&app, &secret, 0)).await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(throttled.headers.get("retry-after").is_some());
    assert!(throttled.body.contains("too many attempts"));
    assert_eq!(sessions(&app), 1, "only the enrolment's session");
    assert_eq!(audit_actions(&app, "mfa.throttled").await.len(), 1);
    app.clock.advance(300);
    let ok = b
        .submit_code(&app, &throttled, &code(&app, &secret, 0))
        .await;
    assert_eq!(ok.location().as_deref(), Some("/account"), "{}", ok.body);
}
