//! The HTTP answers: RFC 6750 challenges, per-route scopes, RFC 9728 metadata.

use crate::harness::{API, call, call_with, spawn_app};
use axum::http::StatusCode;
use serde_json::Value;

const METADATA: &str = "https://api.example/.well-known/oauth-protected-resource";

#[tokio::test]
async fn a_valid_token_passes_and_its_claims_reach_the_handler() {
    let app = spawn_app().await;
    let (id, secret) = app.service(&["api:read", "api:write"]).await;
    let token = app.token(&id, &secret).await;
    let api = crate::harness::api(&app.validator().await);
    for (method, path) in [("GET", "/read"), ("POST", "/write"), ("GET", "/me")] {
        let (status, challenge, body) = call_with(&api, method, path, &token).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}");
        assert_eq!(challenge, "");
        assert_eq!(
            body, id,
            "sub and client_id of a service token are its client_id"
        );
    }
}

#[tokio::test]
async fn no_token_is_a_401_challenge_without_an_error_code() {
    let app = spawn_app().await;
    let api = crate::harness::api(&app.validator().await);
    for (method, path) in [("GET", "/read"), ("POST", "/write"), ("GET", "/me")] {
        let (status, challenge, _) = call(&api, method, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // RFC 6750 §3.1: no error code when no credentials were sent; RFC 9728 §5.1.
        assert_eq!(
            challenge,
            format!("Bearer resource_metadata=\"{METADATA}\"")
        );
    }
    // Another scheme presents no bearer token either.
    let (status, challenge, _) = call(&api, "GET", "/read", Some("Basic YTpi")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!challenge.contains("error="));
}

#[tokio::test]
async fn a_bad_token_is_a_401_invalid_token() {
    let app = spawn_app().await;
    let api = crate::harness::api(&app.validator().await);
    for auth in ["Bearer not-a-jwt", "Bearer a,b", "Bearer a.b.c"] {
        let (status, challenge, _) = call(&api, "GET", "/read", Some(auth)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth}");
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
            "{challenge}"
        );
        assert!(challenge.ends_with(&format!("resource_metadata=\"{METADATA}\"")));
    }
}

#[tokio::test]
async fn a_missing_scope_is_a_403_insufficient_scope_naming_it() {
    let app = spawn_app().await;
    let api = crate::harness::api(&app.validator().await);
    let (reader, reader_secret) = app.service(&["api:read"]).await;
    let read_only = app.token(&reader, &reader_secret).await;
    let (writer, writer_secret) = app.service(&["api:write"]).await;
    let write_only = app.token(&writer, &writer_secret).await;

    // Through the extractor.
    let (status, challenge, _) = call_with(&api, "POST", "/write", &read_only).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge,
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"api:write\", \
             resource_metadata=\"{METADATA}\""
        )
    );
    // Through the layer.
    let (status, challenge, _) = call_with(&api, "GET", "/read", &write_only).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenge.contains("scope=\"api:read\""), "{challenge}");
    // Any valid token is enough where no scope is required.
    assert_eq!(
        call_with(&api, "GET", "/me", &write_only).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn two_authorization_headers_are_a_400() {
    let app = spawn_app().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let token = app.token(&id, &secret).await;
    let api = crate::harness::api(&app.validator().await);
    let req = axum::http::Request::builder()
        .uri("/read")
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Bearer other")
        .body(axum::body::Body::empty())
        .unwrap();
    let r = tower::ServiceExt::oneshot(api, req).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_request\"")
    );
}

#[tokio::test]
async fn protected_resource_metadata_follows_rfc_9728() {
    let app = spawn_app().await;
    let validator = app.validator().await;
    assert_eq!(validator.metadata_url(), METADATA);
    let api = crate::harness::api(&validator);
    let (status, _, body) = call(&api, "GET", "/.well-known/oauth-protected-resource", None).await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["resource"], API);
    assert_eq!(
        doc["authorization_servers"],
        serde_json::json!([app.settings.issuer])
    );
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["api:read", "api:write"])
    );
    assert_eq!(
        doc["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
}

#[tokio::test]
async fn discovery_must_name_the_configured_issuer() {
    let app = spawn_app().await;
    // RFC 8414 §3.3: `https://localhost:PORT/` is not the issuer `https://localhost:PORT`.
    let config = valet_resource::Config::new(format!("{}/", app.settings.issuer), API)
        .http_client(app.http.clone());
    let err = valet_resource::Validator::new(config).await.unwrap_err();
    assert!(matches!(err, valet_resource::Error::Config(_)), "{err}");
}
