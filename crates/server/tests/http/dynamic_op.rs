//! The OpenID Foundation's Dynamic OP certification plan, the modules about registration
//! (OIDC Registration 1.0; RFC 7591), ported as tests the way `conformance.rs` ports the
//! Basic and Config plans. Each test is named after its module. Modules for features Valet
//! does not offer (request objects by reference, sector_identifier_uri) are
//! ported as what Valet must do instead: refuse the registration, clearly.

use serde_json::{Value, json};

use crate::harness::{TestApp, assert_oauth_error, spawn_app};

const CB: &str = "https://rp.example/cb";

fn web_rp(extra: Value) -> Value {
    let mut b = json!({
        "redirect_uris": [CB],
        "token_endpoint_auth_method": "none",
        "client_name": "Dynamic OP plan RP",
        "application_type": "web",
    });
    if let (Some(o), Value::Object(e)) = (b.as_object_mut(), extra) {
        o.extend(e);
    }
    b
}

/// The authorization endpoint's first answer for `redirect_uri` of `client_id`.
async fn authorize(app: &TestApp, client_id: &str, redirect_uri: &str) -> reqwest::Response {
    let pairs: Vec<(String, String)> = [
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "st1"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let q = valet_protocol::response::encode(&pairs);
    app.http
        .get(app.url(&format!("/oauth2/authorize?{q}")))
        .send()
        .await
        .unwrap()
}

/// oidcc-registration-logo-uri, -policy-uri, -tos-uri: the URIs are registered and echoed.
#[tokio::test]
async fn oidcc_registration_logo_policy_and_tos_uri() {
    let app = spawn_app().await;
    let r = app
        .registered(
            &web_rp(json!({
                "logo_uri": "https://rp.example/logo.png",
                "policy_uri": "https://rp.example/privacy",
                "tos_uri": "https://rp.example/terms",
                "client_uri": "https://rp.example/",
            })),
            None,
        )
        .await;
    assert_eq!(r["logo_uri"], "https://rp.example/logo.png");
    assert_eq!(r["policy_uri"], "https://rp.example/privacy");
    assert_eq!(r["tos_uri"], "https://rp.example/terms");
    assert_eq!(r["client_uri"], "https://rp.example/");
    // Read back through the registration_client_uri (RFC 7592 §2.1): the same.
    let token = r["registration_access_token"].as_str().unwrap();
    let read: Value = app
        .http
        .get(r["registration_client_uri"].as_str().unwrap())
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["tos_uri"], r["tos_uri"]);
    assert_eq!(read["client_id"], r["client_id"]);
}

/// oidcc-redirect-uri-regfrag: a redirect URI with a fragment is refused at registration.
#[tokio::test]
async fn oidcc_redirect_uri_regfrag() {
    let app = spawn_app().await;
    let r = app
        .register(
            &web_rp(json!({"redirect_uris": ["https://rp.example/cb#frag"]})),
            None,
        )
        .await;
    assert_oauth_error(r, 400, "invalid_redirect_uri").await;
    assert!(
        app.store.clients().await.unwrap().is_empty(),
        "nothing stored"
    );
}

/// oidcc-redirect-uri-query-OK, -query-mismatch, -query-added: a registered redirect URI
/// with a query matches itself exactly and nothing else (no redirect to the others).
#[tokio::test]
async fn oidcc_redirect_uri_query_ok_mismatch_and_added() {
    let app = spawn_app().await;
    let with_query = "https://rp.example/cb?foo=bar";
    let r = app
        .registered(&web_rp(json!({"redirect_uris": [with_query]})), None)
        .await;
    let id = r["client_id"].as_str().unwrap();
    let ok = authorize(&app, id, with_query).await;
    assert_eq!(ok.status(), 200, "the login page: query-OK");
    for (module, uri) in [
        ("query-mismatch", "https://rp.example/cb?foo=zot"),
        ("query-added", "https://rp.example/cb?foo=bar&bar=foo"),
        ("no query", "https://rp.example/cb"),
    ] {
        let r = authorize(&app, id, uri).await;
        assert_eq!(r.status(), 400, "{module}");
        assert!(
            r.headers().get("location").is_none(),
            "{module}: never redirected"
        );
    }
}

/// oidcc-registration-sector-uri and -sector-bad: sector identifiers exist for pairwise
/// subjects, which Valet does not issue; a registration naming one is refused
/// (`invalid_client_metadata`) rather than registered unchecked (checklist M5).
#[tokio::test]
async fn oidcc_registration_sector_uri_is_refused() {
    let app = spawn_app().await;
    for extra in [
        json!({"sector_identifier_uri": "https://rp.example/sector.json"}),
        json!({"request_uris": ["https://rp.example/request.jwt"]}),
        json!({"id_token_signed_response_alg": "HS256"}),
    ] {
        let r = app.register(&web_rp(extra.clone()), None).await;
        let e = assert_oauth_error(r, 400, "invalid_client_metadata").await;
        assert!(
            e["error_description"]
                .as_str()
                .unwrap()
                .contains("not supported"),
            "{extra}: {e}"
        );
    }
    assert!(app.store.clients().await.unwrap().is_empty());
}

/// oidcc-registration-jwks-uri: private_key_jwt needs the application's keys; with
/// them it registers, without a secret.
#[tokio::test]
async fn oidcc_registration_private_key_jwt_needs_keys() {
    let app = spawn_app().await;
    // Without keys, private_key_jwt cannot authenticate: refused.
    let r = app
        .register(
            &web_rp(json!({"token_endpoint_auth_method": "private_key_jwt"})),
            None,
        )
        .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_client_metadata", "{e}");
    // With a jwks_uri (issue 19), registered (a confidential registration needs an
    // initial access token), and no secret issued.
    let token = app.initial_token(None).await;
    let body = app
        .registered(
            &web_rp(json!({
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "https://rp.example/jwks.json",
            })),
            Some(&token),
        )
        .await;
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(body["jwks_uri"], "https://rp.example/jwks.json");
    assert!(body.get("client_secret").is_none(), "{body}");
}

/// The plan's registrations of web and native RPs:
/// `application_type: web` with an http (non-loopback) or localhost redirect is refused
/// (OIDC Registration §2), a native one may use loopback.
#[tokio::test]
async fn oidcc_registration_application_type_rules() {
    let app = spawn_app().await;
    for uri in ["http://rp.example/cb", "http://localhost:8000/cb"] {
        let r = app
            .register(&web_rp(json!({"redirect_uris": [uri]})), None)
            .await;
        assert_oauth_error(r, 400, "invalid_redirect_uri").await;
    }
    let native = app
        .registered(
            &web_rp(json!({
                "application_type": "native",
                "redirect_uris": ["http://127.0.0.1/cb", "com.example.rp:/cb"],
            })),
            None,
        )
        .await;
    assert_eq!(native["application_type"], "native");
}
