//! Refresh-token chains (issue 17, `protocol::refresh_chain`): a grant's storage stays the
//! same however often it rotates, while a token rotated long ago is still recognised as
//! reused (RFC 9700 §4.14.2; checklist G1, G4) and a forged one is not taken for it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

use crate::harness::{TestApp, assert_oauth_error, spawn_app, spawn_with};
use crate::refresh::{refresh, s, spa, tokens};

fn rows(app: &TestApp) -> i64 {
    rusqlite::Connection::open(app.sqlite_path())
        .unwrap()
        .query_row("SELECT count(*) FROM refresh_tokens", [], |r| r.get(0))
        .unwrap()
}

/// Rotates `rt` `n` times, a minute apart (outside the retry window); every token of
/// the chain, first to last.
async fn rotate(app: &TestApp, id: &str, secret: &str, rt: String, n: usize) -> Vec<String> {
    let mut chain = vec![rt];
    for _ in 0..n {
        app.clock.advance(60);
        let r = refresh(app, id, secret, chain.last().unwrap(), "").await;
        assert_eq!(r.status(), 200);
        let t: Value = r.json().await.unwrap();
        chain.push(s(&t, "refresh_token"));
    }
    chain
}

#[tokio::test]
async fn a_grant_keeps_two_tokens_however_often_it_rotates() {
    let app = spawn_app().await;
    app.user("alice").await;
    let id = spa(&app).await;
    let rt = s(&tokens(&app, &id, "", "openid").await, "refresh_token");
    assert_eq!(rt.len(), 70, "chain, generation and 256 random bits");
    assert_eq!(rows(&app), 1);
    let chain = rotate(&app, &id, "", rt, 50).await;
    assert_eq!(rows(&app), 2, "the current token and the one it replaced");
    // Each token is of the same chain, one generation on.
    let place = |t: &str| {
        let b = B64.decode(t).unwrap();
        (
            b[..16].to_vec(),
            u32::from_be_bytes(b[16..20].try_into().unwrap()),
        )
    };
    assert_eq!(place(&chain[50]), (place(&chain[0]).0, 50));
    let r = refresh(&app, &id, "", &chain[50], "").await;
    assert_eq!(r.status(), 200, "the family lives on");
}

#[tokio::test]
async fn a_token_rotated_long_ago_revokes_the_family() {
    let app = spawn_app().await;
    app.user("alice").await;
    let id = spa(&app).await;
    let other = spa(&app).await;
    let rt = s(&tokens(&app, &id, "", "openid").await, "refresh_token");
    let chain = rotate(&app, &id, "", rt, 5).await;

    // Another application presenting it learns nothing and revokes nothing (G4).
    assert_oauth_error(
        refresh(&app, &other, "", &chain[1], "").await,
        400,
        "invalid_grant",
    )
    .await;
    // A forgery of the current generation (its random part changed) is no reuse either.
    let mut forged = B64.decode(&chain[5]).unwrap();
    forged[40] ^= 1;
    let forged = B64.encode(forged);
    assert_oauth_error(
        refresh(&app, &id, "", &forged, "").await,
        400,
        "invalid_grant",
    )
    .await;
    // Nor is a generation not issued yet.
    let mut ahead = B64.decode(&chain[5]).unwrap();
    ahead[19] += 1;
    assert_oauth_error(
        refresh(&app, &id, "", &B64.encode(ahead), "").await,
        400,
        "invalid_grant",
    )
    .await;
    let r = refresh(&app, &id, "", &chain[5], "").await;
    assert_eq!(r.status(), 200, "the family survived the forgeries");
    let last = s(&r.json().await.unwrap(), "refresh_token");

    // Its own application bringing back generation 1 (no longer stored): reuse.
    app.clock.advance(60);
    assert_oauth_error(
        refresh(&app, &id, "", &chain[1], "").await,
        400,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        refresh(&app, &id, "", &last, "").await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn revoking_an_old_generation_ends_the_family_and_introspection_calls_it_inactive() {
    // RFC 7009 §2.1 for a confidential application whose tokens rotate (refresh_token_rotation = "all").
    let app = spawn_with(|p| valet_server::config::Partial {
        refresh_token_rotation: Some("all".into()),
        ..p
    })
    .await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let rt = s(&tokens(&app, &id, &secret, "openid").await, "refresh_token");
    let chain = rotate(&app, &id, &secret, rt, 3).await;
    assert_eq!(
        app.introspect(&id, &secret, &chain[0]).await["active"],
        false
    );
    assert_eq!(
        app.introspect(&id, &secret, &chain[3]).await["active"],
        true
    );
    let r = app
        .post(
            "/oauth2/revoke",
            &id,
            &secret,
            &format!("token={}", chain[0]),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.introspect(&id, &secret, &chain[3]).await["active"],
        false
    );
    assert_oauth_error(
        refresh(&app, &id, &secret, &chain[3], "").await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_token_from_before_chains_rotates_into_one_and_its_reuse_still_revokes() {
    // A deployment upgraded with live refresh tokens: 43 characters, no chain, one row
    // each. Its use rotates it into a chain; its reuse later is caught by its own row.
    let app = spawn_app().await;
    app.user("alice").await;
    let id = spa(&app).await;
    let rt = s(&tokens(&app, &id, "", "openid").await, "refresh_token");
    let now = app.now();
    let stored = app
        .store
        .refresh_token(&valet_server::crypto::sha256(rt.as_bytes()), now)
        .await
        .unwrap()
        .unwrap();
    let legacy = "L".repeat(43);
    app.store
        .insert_refresh_token(
            &valet_store::RefreshTokenRecord {
                hash: valet_server::crypto::sha256(legacy.as_bytes()),
                chain: None,
                generation: 0,
                ..stored
            },
            now + 3600,
        )
        .await
        .unwrap();
    let r = refresh(&app, &id, "", &legacy, "").await;
    assert_eq!(r.status(), 200);
    let next = s(&r.json().await.unwrap(), "refresh_token");
    assert_eq!(next.len(), 70, "its successor starts a chain");
    let chain = rotate(&app, &id, "", next, 3).await;
    // The old token, past the retry window: its own row says it was rotated.
    assert_oauth_error(
        refresh(&app, &id, "", &legacy, "").await,
        400,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        refresh(&app, &id, "", &chain[3], "").await,
        400,
        "invalid_grant",
    )
    .await;
}
