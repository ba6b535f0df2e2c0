//! Opaque access tokens (issue 6 item 2), from an API's side: a real opaque token issued
//! by a live Valet is accepted through introspection, refused once revoked within the
//! configured cache bound, and refused outright by local (JWT) validation.

use crate::harness::{TestApp, call_with, spawn_app};
use axum::http::StatusCode;
use std::time::{Duration, Instant};
use valet_protocol::application::Profile;
use valet_protocol::opaque_token::{AccessTokenFormat, PREFIX};
use valet_resource::{Error, Validator};
use valet_server::admin::NewClient;

/// A service allowed `api:read` whose access tokens are opaque.
async fn opaque_service(app: &TestApp) -> (String, String) {
    app.client(NewClient {
        name: "opaque svc".into(),
        profile: Some(Profile::Service),
        scopes: Some(vec!["api:read".into()]),
        access_token_format: AccessTokenFormat::Opaque,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn a_revoked_opaque_token_is_refused_within_the_cache_bound() {
    let app = spawn_app().await;
    let (api_id, api_secret) = app.introspector.clone();
    let cache = Duration::from_secs(3);
    let v = Validator::new(
        app.config()
            .introspection(&api_id, &api_secret)
            .introspection_cache(cache),
    )
    .await
    .unwrap();
    let (id, secret) = opaque_service(&app).await;
    let token = app.token(&id, &secret).await;
    assert!(token.starts_with(PREFIX) && !token.contains('.'), "{token}");

    // Accepted before: the introspection answer becomes the claims.
    let claims = v.validate(&token).await.unwrap();
    assert_eq!(claims.client_id, id);
    assert_eq!(claims.sub, id);
    assert!(claims.has_scope("api:read"));
    let api = crate::harness::api(&v);
    let (status, _, body) = call_with(&api, "GET", "/read", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, id);

    let r = app
        .post("/oauth2/revoke", &id, &secret, &format!("token={token}"))
        .await;
    assert_eq!(r.status(), 200);
    let revoked_at = Instant::now();
    // Refused once the bound has passed at the latest (the cached answer may serve until
    // then: that is the bound the API chose).
    loop {
        match v.validate(&token).await {
            Err(Error::InvalidToken(_)) => break,
            Ok(_) => assert!(
                revoked_at.elapsed() <= cache + Duration::from_millis(500),
                "a revoked opaque token outlived the cache bound"
            ),
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(revoked_at.elapsed() <= cache + Duration::from_millis(600));
    let (status, challenge, _) = call_with(&api, "GET", "/read", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

#[tokio::test]
async fn without_a_cache_revocation_bites_on_the_next_request() {
    let app = spawn_app().await;
    let (api_id, api_secret) = app.introspector.clone();
    let v = Validator::new(
        app.config()
            .introspection(&api_id, &api_secret)
            .introspection_cache(Duration::ZERO),
    )
    .await
    .unwrap();
    let (id, secret) = opaque_service(&app).await;
    let token = app.token(&id, &secret).await;
    v.validate(&token).await.unwrap();
    let r = app
        .post("/oauth2/revoke", &id, &secret, &format!("token={token}"))
        .await;
    assert_eq!(r.status(), 200);
    assert!(matches!(
        v.validate(&token).await,
        Err(Error::InvalidToken(_))
    ));
}

#[tokio::test]
async fn local_validation_cannot_read_an_opaque_token() {
    // An API configured for opaque tokens must use introspection: locally such a token is
    // just not a JWT.
    let app = spawn_app().await;
    let v = app.validator().await;
    let (id, secret) = opaque_service(&app).await;
    let token = app.token(&id, &secret).await;
    assert!(matches!(
        v.validate(&token).await,
        Err(Error::InvalidToken(_))
    ));
}
