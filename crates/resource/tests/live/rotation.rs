//! A key rotation in Valet reaches a running API without a restart (checklist K9, from
//! the relying side): through the unknown-`kid` refetch, and through the periodic one.

use crate::harness::{now, spawn_with};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;
use std::time::{Duration, Instant};
use valet_jose::Algorithm;
use valet_resource::{Error, Validator};
use valet_server::keyring;

fn kid(token: &str) -> String {
    let h: Value =
        serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    h["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_without_a_restart() {
    let app = spawn_with(|mut p| {
        p.key_refresh_interval = Some(1);
        p.jwks_max_age = Some(1);
        p.key_activation_delay = Some(3);
        p
    })
    .await;
    let (id, secret) = app.service(&["api:read"]).await;
    // Learns new keys only from an unknown kid (the periodic refetch is an hour away).
    let on_demand = Validator::new(
        app.config()
            .jwks_refresh(Duration::from_secs(3600))
            .unknown_kid_cooldown(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    // Learns new keys only from the periodic refetch (an unknown kid waits an hour).
    let periodic = Validator::new(
        app.config()
            .jwks_refresh(Duration::from_secs(1))
            .unknown_kid_cooldown(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    let old = app.token(&id, &secret).await;
    on_demand.validate(&old).await.unwrap();
    periodic.validate(&old).await.unwrap();

    let new = keyring::rotate(
        app.store.as_ref(),
        &app.sealer,
        Algorithm::ES256,
        now(),
        app.settings.key_activation_delay,
        app.settings.key_retention(),
    )
    .await
    .unwrap();
    assert_ne!(new.kid, kid(&old));

    // Once the new key signs, Valet's tokens carry its kid.
    let deadline = Instant::now() + Duration::from_secs(15);
    let fresh = loop {
        let t = app.token(&id, &secret).await;
        if kid(&t) == new.kid {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "Valet never signed with the new key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let claims = on_demand
        .validate(&fresh)
        .await
        .expect("the unknown kid refetches the JWKS");
    assert_eq!(claims.client_id, id);
    periodic
        .validate(&fresh)
        .await
        .expect("the periodic refetch saw the key published before it signed");
    // Tokens of the old key stay good while Valet keeps it published.
    on_demand.validate(&old).await.unwrap();
    periodic.validate(&old).await.unwrap();
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_cooldown() {
    let app = spawn_with(|mut p| {
        p.key_refresh_interval = Some(1);
        p.jwks_max_age = Some(1);
        p.key_activation_delay = Some(2);
        p
    })
    .await;
    let (id, secret) = app.service(&["api:read"]).await;
    let v = Validator::new(
        app.config()
            .jwks_refresh(Duration::from_secs(3600))
            .unknown_kid_cooldown(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    keyring::rotate(
        app.store.as_ref(),
        &app.sealer,
        Algorithm::ES256,
        now(),
        app.settings.key_activation_delay,
        app.settings.key_retention(),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let first = app.token(&id, &secret).await;
    let fresh = loop {
        let t = app.token(&id, &secret).await;
        if kid(&t) != kid(&first) {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "Valet never signed with the new key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The start-up fetch began the cooldown: the new kid is not fetched for, so tokens
    // with made-up kids cannot make the API hammer Valet (RFC 8725 §3.10).
    assert!(matches!(
        v.validate(&fresh).await,
        Err(Error::InvalidToken("unknown kid"))
    ));
}

#[tokio::test]
async fn a_remembered_token_dies_with_its_key() {
    // The verified-token cache never outlives the key: once Valet stops publishing the
    // key (here at once, retention 0) and the API refetches the JWKS, a token it had
    // verified and remembered is checked again, and refused.
    let app = spawn_with(|mut p| {
        p.key_refresh_interval = Some(1);
        p.jwks_max_age = Some(1);
        p.key_activation_delay = Some(2);
        p
    })
    .await;
    let (id, secret) = app.service(&["api:read"]).await;
    let v = Validator::new(
        app.config()
            .jwks_refresh(Duration::from_secs(1))
            .jwt_cache(Duration::from_secs(300)),
    )
    .await
    .unwrap();
    let old = app.token(&id, &secret).await;
    v.validate(&old).await.unwrap();
    keyring::rotate(
        app.store.as_ref(),
        &app.sealer,
        Algorithm::ES256,
        now(),
        2,
        0,
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let jwks: Value = app
            .http
            .get(app.url("/oauth2/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !jwks.to_string().contains(&kid(&old)) {
            break;
        }
        assert!(Instant::now() < deadline, "Valet never retired the old key");
        // Until then the remembered token passes.
        v.validate(&old).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while v.validate(&old).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "a retired key's token outlived the JWKS refresh"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(matches!(
        v.validate(&old).await,
        Err(Error::InvalidToken("unknown kid"))
    ));
}
