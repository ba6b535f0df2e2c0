//! Introspection mode: every token is asked about at Valet with the API's own client
//! credentials; positive answers are reused for a short, bounded time, errors never.

use crate::harness::{API, call_with, spawn_app};
use axum::http::StatusCode;
use std::time::{Duration, Instant};
use valet_jose::Algorithm;
use valet_resource::{Error, Validator};

#[tokio::test]
async fn a_revoked_token_is_refused_within_the_cache_bound() {
    let app = spawn_app().await;
    // The API's own confidential application, used only to introspect.
    let (api_id, api_secret) = app.introspector.clone();
    let cache = Duration::from_secs(3);
    let v = Validator::new(
        app.config()
            .introspection(&api_id, &api_secret)
            .introspection_cache(cache),
    )
    .await
    .unwrap();
    let (id, secret) = app.service(&["api:read"]).await;
    let token = app.token(&id, &secret).await;
    let api = crate::harness::api(&v);
    let (status, _, body) = call_with(&api, "GET", "/read", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, id);

    let r = app
        .post("/oauth2/revoke", &id, &secret, &format!("token={token}"))
        .await;
    assert_eq!(r.status(), 200);
    let revoked_at = Instant::now();
    // Within the bound the cached answer may still serve (here it does: the cache works)...
    v.validate(&token)
        .await
        .expect("a fresh positive answer is reused");
    // ...and once the bound has passed, Valet is asked again and says inactive.
    loop {
        match v.validate(&token).await {
            Err(Error::InvalidToken(_)) => break,
            Ok(_) => assert!(
                revoked_at.elapsed() <= cache + Duration::from_millis(500),
                "a revoked token outlived the cache bound"
            ),
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        call_with(&api, "GET", "/read", &token).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn introspection_checks_audience_and_kind_of_token() {
    let app = spawn_app().await;
    let (api_id, api_secret) = app.introspector.clone();
    let v = Validator::new(app.config().introspection(&api_id, &api_secret))
        .await
        .unwrap();
    // Active at Valet, but for another API.
    let (id, secret) = app.service(&["other:read"]).await;
    let other = app.token(&id, &secret).await;
    assert!(matches!(
        v.validate(&other).await,
        Err(Error::InvalidToken("not for this audience"))
    ));
    // A user's access token passes; their ID token and refresh token do not (Valet shows
    // a refresh token only to its own application, with token_type refresh_token).
    let t = app.user_tokens("openid api:read").await;
    let claims = v
        .validate(t["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert!(
        claims.grant_id.is_none(),
        "introspection does not tell the grant"
    );
    for what in ["id_token", "refresh_token"] {
        assert!(
            matches!(
                v.validate(t[what].as_str().unwrap()).await,
                Err(Error::InvalidToken(_))
            ),
            "{what}"
        );
    }
    let forged = app.sign(Algorithm::ES256, "JWT", &app.claims()).await;
    assert!(matches!(
        v.validate(&forged).await,
        Err(Error::InvalidToken(_))
    ));
    assert_eq!(v.audience(), API);
}

#[tokio::test]
async fn an_introspection_error_is_never_a_pass() {
    let app = spawn_app().await;
    let api_id = app.introspector.0.clone();
    let v = Validator::new(app.config().introspection(&api_id, "wrong-secret"))
        .await
        .unwrap();
    let (id, secret) = app.service(&["api:read"]).await;
    let token = app.token(&id, &secret).await;
    for _ in 0..2 {
        assert!(matches!(
            v.validate(&token).await,
            Err(Error::Unavailable(_))
        ));
    }
    let (status, challenge, _) = call_with(&crate::harness::api(&v), "GET", "/read", &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(challenge, "");
}
