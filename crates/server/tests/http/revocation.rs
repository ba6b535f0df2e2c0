//! `/oauth2/revoke` (RFC 7009; checklist L4–L7, L9).

use crate::harness::{assert_oauth_error, spawn_app};
use oauth2::basic::BasicClient;
use oauth2::{AccessToken, ClientId, ClientSecret, RevocationUrl, StandardRevocableToken};
use serde_json::json;

#[tokio::test]
async fn revocation_through_the_oauth2_crate_makes_the_token_inactive() {
    let app = spawn_app().await;
    let (id, secret) = app.service(&[]).await;
    let token = app.token(&id, &secret).await;
    assert_eq!(app.introspect(&id, &secret, &token).await["active"], true);
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret.clone()))
        .set_revocation_url(RevocationUrl::new(app.url("/oauth2/revoke")).unwrap());
    client
        .revoke_token(StandardRevocableToken::AccessToken(AccessToken::new(
            token.clone(),
        )))
        .unwrap()
        .request_async(&app.http)
        .await
        .unwrap();
    // L9: the signature still verifies, introspection still says inactive.
    assert_eq!(
        app.introspect(&id, &secret, &token).await,
        json!({"active": false})
    );
    // Revoking twice is fine.
    let r = app
        .post("/oauth2/revoke", &id, &secret, &format!("token={token}"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn revocation_cases() {
    let app = spawn_app().await;
    let (a, a_secret) = app.service(&[]).await;
    let (b, b_secret) = app.service(&[]).await;
    let token = app.token(&a, &a_secret).await;

    // L4: unknown token → 200; unknown hint → unsupported_token_type; missing token.
    assert_eq!(
        app.post("/oauth2/revoke", &a, &a_secret, "token=nope")
            .await
            .status(),
        200
    );
    let r = app
        .post(
            "/oauth2/revoke",
            &a,
            &a_secret,
            &format!("token={token}&token_type_hint=id_token"),
        )
        .await;
    assert_oauth_error(r, 400, "unsupported_token_type").await;
    assert_oauth_error(
        app.post("/oauth2/revoke", &a, &a_secret, "").await,
        400,
        "invalid_request",
    )
    .await;
    assert_oauth_error(
        app.post("/oauth2/revoke", &a, "bad", &format!("token={token}"))
            .await,
        401,
        "invalid_client",
    )
    .await;

    // L5: client B cannot revoke A's token; the answer is still 200.
    let r = app
        .post("/oauth2/revoke", &b, &b_secret, &format!("token={token}"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.introspect(&a, &a_secret, &token).await["active"], true);

    // L4: a wrong hint still finds the token.
    let r = app
        .post(
            "/oauth2/revoke",
            &a,
            &a_secret,
            &format!("token={token}&token_type_hint=refresh_token"),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.introspect(&a, &a_secret, &token).await["active"], false);
    // Seen from any other caller too.
    assert_eq!(app.introspect(&b, &b_secret, &token).await["active"], false);
}

#[tokio::test]
async fn a_revocation_is_seen_by_another_node_at_once() {
    // Two nodes over one database: a revocation at A reads inactive at B.
    let a = spawn_app().await;
    let (id, secret) = a.service(&[]).await;
    let token = a.token(&id, &secret).await;
    let b = crate::harness::spawn_sharing(&a).await;
    assert_eq!(b.introspect(&id, &secret, &token).await["active"], true);
    assert_eq!(
        a.post("/oauth2/revoke", &id, &secret, &format!("token={token}"))
            .await
            .status(),
        200
    );
    assert_eq!(b.introspect(&id, &secret, &token).await["active"], false);
}
