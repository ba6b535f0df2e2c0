//! Signing-key rotation without downtime (checklist K9): publish first, sign later,
//! keep the old key published while its tokens live.

use crate::harness::spawn_with;
use serde_json::Value;
use std::time::Duration;
use valet_jose::Algorithm;
use valet_server::keyring;

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
        app.now(),
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
    // The node's clock stands still until the test moves it: up to the second before
    // activation the old key signs, from `activates_at` the new one.
    assert_eq!(
        kid_of(&app.token(&id, &secret).await),
        old_kid,
        "published, but not signing yet"
    );
    app.clock.set(new.activates_at - 1);
    assert_eq!(
        kid_of(&app.token(&id, &secret).await),
        old_kid,
        "not signing a second before activation"
    );

    // After the activation delay the new key signs; the old key and its token still verify.
    app.clock.set(new.activates_at);
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

#[tokio::test]
async fn an_id_token_hint_signed_by_a_rotated_out_key_still_works() {
    // Checklist J7 (Hydra #3719): a hint signed by a key that no longer signs, but is still
    // published, is accepted.
    let app = spawn_with(|mut p| {
        p.key_refresh_interval = Some(1);
        p.jwks_max_age = Some(1);
        p.key_activation_delay = Some(2);
        p
    })
    .await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let browser = app.browser();
    let id_token = |location: String| {
        let (app, id, secret) = (&app, id.clone(), secret.clone());
        async move {
            let code = crate::flow::param(&location, "code").unwrap();
            let r = app
                .post(
                    "/oauth2/token",
                    &id,
                    &secret,
                    &format!(
                        "grant_type=authorization_code&code={code}\
                         &redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
                    ),
                )
                .await;
            let body: Value = r.json().await.unwrap();
            body["id_token"].as_str().unwrap().to_owned()
        }
    };
    let old = id_token(
        browser
            .sign_in(&app, &app.authorize_url(&id, ""), "alice")
            .await,
    )
    .await;
    let new = keyring::rotate(
        app.store.as_ref(),
        &app.sealer,
        Algorithm::RS256,
        app.now(),
        app.settings.key_activation_delay,
        app.settings.key_retention(),
    )
    .await
    .unwrap();
    // Once the activation time is reached on the node's clock, wait until the node has
    // reloaded its keys (every second, a background task) and signs ID tokens with the new one.
    app.clock.set(new.activates_at);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let fresh = id_token(
            browser
                .sign_in(&app, &app.authorize_url(&id, ""), "alice")
                .await,
        )
        .await;
        if kid_of(&fresh) == new.kid {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new key never signed"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_ne!(kid_of(&old), new.kid);
    let location = browser
        .sign_in(
            &app,
            &app.authorize_url(&id, &format!("&prompt=none&id_token_hint={old}")),
            "alice",
        )
        .await;
    assert!(
        crate::flow::param(&location, "code").is_some(),
        "the old key's hint is accepted: {location}"
    );
}
