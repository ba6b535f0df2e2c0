//! Pushed authorization requests (RFC 9126) and request objects (RFC 9101): the PAR
//! endpoint checks a request as the authorization endpoint would and answers a
//! `request_uri` that works once, for 60 seconds, for the application that pushed it;
//! the pushed (or signed) parameters are the only ones honoured; an application that
//! must push cannot send its request through the browser.

use serde_json::{Value, json};
use valet_protocol::application::{AuthMethod, Profile};
use valet_server::admin::NewClient;

use crate::client_assertion::post_form;
use crate::flow::{REDIRECT, param};
use crate::harness::{TestApp, assert_oauth_error, spawn_app, spawn_with};
use crate::jwt_client::ClientKey;

/// A web application authenticating with `key`; `require_par` as given.
async fn keyed_web(app: &TestApp, key: &ClientKey, require_par: bool) -> String {
    app.admin
        .create_client(
            NewClient {
                name: "Keyed Web".into(),
                profile: Some(Profile::Web),
                redirect_uris: vec![REDIRECT.into()],
                token_endpoint_auth_method: Some(AuthMethod::PrivateKeyJwt),
                jwks: Some(key.jwks()),
                require_par,
                ..Default::default()
            },
            app.now(),
        )
        .await
        .unwrap()
        .app
        .client_id
}

const PARAMS: &str = "response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
                      &scope=openid+profile&state=pushed-state&nonce=n1";

async fn push(app: &TestApp, key: &ClientKey, id: &str, params: &str) -> reqwest::Response {
    let body = format!(
        "{params}&client_id={id}&{}",
        key.assertion_form(id, &app.settings.issuer, app.now())
    );
    post_form(app, "/oauth2/par", &body).await
}

async fn pushed_uri(app: &TestApp, key: &ClientKey, id: &str, params: &str) -> String {
    let r = push(app, key, id, params).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    // RFC 9126 §2.2: a URN holding at least 128 bits.
    let reference = uri
        .strip_prefix("urn:ietf:params:oauth:request_uri:")
        .unwrap();
    assert!(reference.len() >= 22, "{uri}");
    uri
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn authorize_with(app: &TestApp, id: &str, request_uri: &str, extra: &str) -> String {
    app.url(&format!(
        "/oauth2/authorize?client_id={id}&request_uri={}{extra}",
        enc(request_uri)
    ))
}

#[tokio::test]
async fn a_pushed_request_signs_in_once_with_only_its_own_parameters() {
    let app = spawn_app().await;
    app.user("alice").await;
    let key = ClientKey::es256("k1");
    let id = keyed_web(&app, &key, false).await;
    let uri = pushed_uri(&app, &key, &id, PARAMS).await;
    // Parameters beside request_uri are ignored (RFC 9126 §4): the pushed state wins.
    let url = authorize_with(&app, &id, &uri, "&state=from-the-url&scope=openid+email");
    let location = app.browser().sign_in(&app, &url, "alice").await;
    assert_eq!(param(&location, "state").as_deref(), Some("pushed-state"));
    assert!(param(&location, "code").is_some());
    // Used once (RFC 9126 §4): the second time is a page, nothing redirected.
    let again = app.browser().get(&url).await;
    assert_eq!(again.status, 400);
    assert!(again.location().is_none());
    assert!(again.body.contains("invalid_request_uri"), "{}", again.body);
}

#[tokio::test]
async fn a_request_uri_expires_and_belongs_to_its_application() {
    let app = spawn_app().await;
    let key = ClientKey::es256("k1");
    let id = keyed_web(&app, &key, false).await;
    let other = keyed_web(&app, &ClientKey::es256("k2"), false).await;
    let uri = pushed_uri(&app, &key, &id, PARAMS).await;
    // Another application cannot use it (and learns nothing by trying).
    let page = app
        .browser()
        .get(&authorize_with(&app, &other, &uri, ""))
        .await;
    assert_eq!(page.status, 400);
    let uri = pushed_uri(&app, &key, &id, PARAMS).await;
    app.clock.advance(61);
    let page = app
        .browser()
        .get(&authorize_with(&app, &id, &uri, ""))
        .await;
    assert_eq!(page.status, 400, "expired after 60 s");
    // A request_uri Valet did not issue is never fetched.
    let page = app
        .browser()
        .get(&authorize_with(
            &app,
            &id,
            "https://attacker.example/req",
            "&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code",
        ))
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        param(&page.location().unwrap(), "error").as_deref(),
        Some("request_uri_not_supported")
    );
}

#[tokio::test]
async fn the_par_endpoint_checks_what_the_authorization_endpoint_would() {
    let app = spawn_app().await;
    let key = ClientKey::es256("k1");
    let id = keyed_web(&app, &key, false).await;
    for (params, error) in [
        (format!("{PARAMS}&request_uri=urn%3Ax"), "invalid_request"),
        (
            PARAMS.replace("app.example%2Fcb", "evil.example%2Fcb"),
            "invalid_request",
        ),
        (
            PARAMS.replace("response_type=code", "response_type=bogus"),
            "unsupported_response_type",
        ),
        (
            format!("{PARAMS}&code_challenge=abc&code_challenge_method=plain"),
            "invalid_request",
        ),
        (format!("{PARAMS}&dpop_jkt=short"), "invalid_request"),
    ] {
        assert_oauth_error(push(&app, &key, &id, &params).await, 400, error).await;
    }
    // Unauthenticated pushes are refused.
    let r = post_form(&app, "/oauth2/par", &format!("{PARAMS}&client_id={id}")).await;
    assert_oauth_error(r, 401, "invalid_client").await;
    // GET is not the method (RFC 9126 §2.1).
    let r = app.http.get(app.url("/oauth2/par")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn an_application_that_must_push_cannot_use_the_front_channel() {
    let app = spawn_app().await;
    let key = ClientKey::es256("k1");
    let id = keyed_web(&app, &key, true).await;
    let url = app.authorize_url(&id, "");
    let page = app.browser().get(&url).await;
    assert_eq!(page.status, 303);
    let location = page.location().unwrap();
    assert!(location.starts_with(REDIRECT));
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    // Server-wide (RFC 9126 §5), and said in discovery.
    let strict = spawn_with(|p| valet_server::config::Partial {
        require_pushed_authorization_requests: Some(true),
        ..p
    })
    .await;
    let (web, _) = strict.web_client().await;
    let page = strict.browser().get(&strict.authorize_url(&web, "")).await;
    assert_eq!(
        param(&page.location().unwrap(), "error").as_deref(),
        Some("invalid_request")
    );
    let d: Value = strict
        .http
        .get(strict.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["require_pushed_authorization_requests"], true);
    assert_eq!(
        d["pushed_authorization_request_endpoint"],
        strict.url("/oauth2/par")
    );
}

fn request_object(app: &TestApp, key: &ClientKey, id: &str, extra: Value) -> String {
    let now = app.now();
    let mut claims = json!({"iss": id, "aud": app.settings.issuer, "client_id": id,
        "exp": now + 300, "nbf": now, "response_type": "code", "redirect_uri": REDIRECT,
        "scope": "openid profile", "state": "signed-state", "nonce": "n1"});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    key.sign(Some("oauth-authz-req+jwt"), &claims)
}

#[tokio::test]
async fn a_signed_request_object_is_the_whole_request_pushed_or_not() {
    let app = spawn_app().await;
    app.user("alice").await;
    let key = ClientKey::es256("k1");
    let id = keyed_web(&app, &key, false).await;
    // At the authorization endpoint: its state, not the URL's (RFC 9101 §6.3).
    let jwt = request_object(&app, &key, &id, json!({}));
    let url = app.url(&format!(
        "/oauth2/authorize?client_id={id}&request={jwt}&state=outside"
    ));
    let location = app.browser().sign_in(&app, &url, "alice").await;
    assert_eq!(param(&location, "state").as_deref(), Some("signed-state"));
    // Through PAR.
    let jwt = request_object(&app, &key, &id, json!({"state": "pushed-signed"}));
    let uri = pushed_uri(&app, &key, &id, &format!("request={jwt}")).await;
    let location = app
        .browser()
        .sign_in(&app, &authorize_with(&app, &id, &uri, ""), "alice")
        .await;
    assert_eq!(param(&location, "state").as_deref(), Some("pushed-signed"));
    // Refusals: another key, another client_id inside, another audience, expired.
    let stranger = ClientKey::es256("k1");
    for jwt in [
        request_object(&app, &stranger, &id, json!({})),
        request_object(&app, &key, &id, json!({"client_id": "other"})),
        request_object(&app, &key, &id, json!({"aud": "https://elsewhere.example"})),
        request_object(&app, &key, &id, json!({"exp": app.now() - 1})),
    ] {
        let r = push(&app, &key, &id, &format!("request={jwt}")).await;
        assert_oauth_error(r, 400, "invalid_request_object").await;
        // The client and its one redirect URI verify: the error goes back there.
        let page = app
            .browser()
            .get(&app.url(&format!("/oauth2/authorize?client_id={id}&request={jwt}")))
            .await;
        assert_eq!(page.status, 303);
        let location = page.location().unwrap();
        assert!(location.starts_with(REDIRECT));
        assert_eq!(
            param(&location, "error").as_deref(),
            Some("invalid_request_object")
        );
    }
}
