//! Signing-key rotation without downtime (checklist K9): publish first, sign later,
//! keep the old key published while its tokens live.

use crate::harness::spawn_with;
use serde_json::Value;
use std::time::Duration;
use valet_jose::Algorithm;
use valet_server::{keyring, now};

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn a_rotated_key_is_published_before_it_signs() {
    let app = spawn_with(|mut p| {
        p.key_refresh_interval = Some(1);
        p.jwks_max_age = Some(1);
        p.key_activation_delay = Some(5);
        p
    })
    .await;
    let (id, secret) = app.service(&[]).await;
    let old_token = app.token(&id, &secret).await;
    let old_kid = kid_of(&old_token);

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
    assert_ne!(new.kid, old_kid);

    // Within the refresh interval the node publishes the new key but still signs with the old.
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    loop {
        let jwks: Value = app.jwks().await;
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        if kids.contains(&new.kid.as_str()) {
            assert!(kids.contains(&old_kid.as_str()));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new key was not published in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let signed_now = app.token(&id, &secret).await;
    if now() < new.activates_at {
        assert_eq!(
            kid_of(&signed_now),
            old_kid,
            "published, but not signing yet"
        );
    }

    // After the activation delay the new key signs; the old key and its token still verify.
    while now() < new.activates_at {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(kid_of(&app.token(&id, &secret).await), new.kid);
    let jwks: Value = app.jwks().await;
    assert!(
        jwks.to_string().contains(&old_kid),
        "the old key stays published"
    );
    assert_eq!(
        app.introspect(&id, &secret, &old_token).await["active"],
        true
    );
}
