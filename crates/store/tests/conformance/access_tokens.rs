//! Opaque access tokens: stored by hash, found until they expire or are revoked, purged
//! after; and the per-API access-token format.

use std::sync::Arc;
use valet_protocol::audience::{Api, ApiScope};
use valet_protocol::opaque_token::AccessTokenFormat;
use valet_store::{ApiRecord, OpaqueAccessTokenRecord, Store, StoreError};

use super::{grant, token_hash};

fn token(hash: u8, grant_id: Option<&str>, expires_at: i64) -> OpaqueAccessTokenRecord {
    OpaqueAccessTokenRecord {
        hash: token_hash(hash),
        client_id: "c1".into(),
        subject: "u1".into(),
        grant_id: grant_id.map(str::to_owned),
        claims: r#"{"scope":"a","aud":"https://api.example"}"#.into(),
        issued_at: 100,
        expires_at,
    }
}

pub(crate) async fn opaque_access_tokens(s: Arc<dyn Store>) {
    s.insert_opaque_access_token(&token(1, None, 700))
        .await
        .unwrap();
    assert_eq!(
        s.opaque_access_token(&token_hash(1), 699).await.unwrap(),
        Some(token(1, None, 700))
    );
    // Expired at its `expires_at`; unknown hashes are nothing.
    assert!(
        s.opaque_access_token(&token_hash(1), 700)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.opaque_access_token(&token_hash(9), 100)
            .await
            .unwrap()
            .is_none()
    );

    // A taken hash is a conflict and changes nothing.
    let mut other = token(1, Some("g1"), 900);
    other.client_id = "c2".into();
    assert!(matches!(
        s.insert_opaque_access_token(&other).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.opaque_access_token(&token_hash(1), 100).await.unwrap(),
        Some(token(1, None, 700))
    );

    // Revocation is immediate, and happens once.
    s.insert_opaque_access_token(&token(2, None, 700))
        .await
        .unwrap();
    assert!(s.revoke_opaque_access_token(&token_hash(2)).await.unwrap());
    assert!(
        s.opaque_access_token(&token_hash(2), 100)
            .await
            .unwrap()
            .is_none()
    );
    assert!(!s.revoke_opaque_access_token(&token_hash(2)).await.unwrap());
    assert!(!s.revoke_opaque_access_token(&token_hash(9)).await.unwrap());
    // Another token is untouched.
    assert!(
        s.opaque_access_token(&token_hash(1), 100)
            .await
            .unwrap()
            .is_some()
    );

    // Debug never prints the hash.
    let printed = format!("{:?}", token(0xAB, Some("g1"), 700));
    assert!(printed.contains("[redacted]") && printed.contains("g1"));
    assert!(!printed.contains("171"));
}

pub(crate) async fn opaque_tokens_keep_their_grant_alive(s: Arc<dyn Store>) {
    // A grant, and its revocation, last at least as long as its tokens.
    s.insert_grant(&grant("g1", "u1", "c1", "openid", 500))
        .await
        .unwrap();
    s.insert_opaque_access_token(&token(1, Some("g1"), 800))
        .await
        .unwrap();
    assert_eq!(s.grant("g1").await.unwrap().unwrap().expires_at, 800);
    // Never lowered.
    s.insert_opaque_access_token(&token(2, Some("g1"), 600))
        .await
        .unwrap();
    assert_eq!(s.grant("g1").await.unwrap().unwrap().expires_at, 800);

    s.revoke_grant("g1", 810).await.unwrap();
    s.insert_opaque_access_token(&token(3, Some("g1"), 2000))
        .await
        .unwrap();
    s.purge_expired(1000, 100).await.unwrap();
    assert!(s.is_grant_revoked("g1").await.unwrap());
    assert!(s.grant("g1").await.unwrap().is_some());
    // A token of a revoked grant is still found: refusing it is the caller's rule.
    assert!(
        s.opaque_access_token(&token_hash(3), 1000)
            .await
            .unwrap()
            .is_some()
    );
    // A token of no grant (client_credentials) touches no grant.
    s.insert_opaque_access_token(&token(4, None, 5000))
        .await
        .unwrap();
    s.purge_expired(2001, 100).await.unwrap();
    assert!(!s.is_grant_revoked("g1").await.unwrap());
    assert!(s.grant("g1").await.unwrap().is_none());
}

pub(crate) async fn purge_opaque_access_tokens(s: Arc<dyn Store>) {
    for (h, exp) in [(1, 999), (2, 1000), (3, 5000), (4, 10), (5, 10)] {
        s.insert_opaque_access_token(&token(h, None, exp))
            .await
            .unwrap();
    }
    // At 1000, what expired before 1000 goes, in batches.
    assert_eq!(s.purge_expired(1000, 2).await.unwrap(), 2);
    assert_eq!(s.purge_expired(1000, 2).await.unwrap(), 1);
    assert_eq!(s.purge_expired(1000, 2).await.unwrap(), 0);
    // Gone for good: a lookup at an earlier instant does not bring them back.
    for h in [1, 4, 5] {
        assert!(
            s.opaque_access_token(&token_hash(h), 0)
                .await
                .unwrap()
                .is_none()
        );
    }
    for h in [2, 3] {
        assert!(
            s.opaque_access_token(&token_hash(h), 0)
                .await
                .unwrap()
                .is_some()
        );
    }
}

pub(crate) async fn api_access_token_format(s: Arc<dyn Store>) {
    let api = |aud: &str, scope: &str, format| ApiRecord {
        name: aud.into(),
        api: Api {
            audience: aud.into(),
            scopes: vec![ApiScope {
                name: scope.into(),
                description: "d".into(),
            }],
            access_token_format: format,
            introspectors: vec![],
            token_exchange: vec![],
        },
        created_at: 1,
    };
    let opaque = api("https://o", "o.read", AccessTokenFormat::Opaque);
    let jwt = api("https://j", "j.read", AccessTokenFormat::Jwt);
    s.create_api(&opaque).await.unwrap();
    s.create_api(&jwt).await.unwrap();
    let mut apis = s.apis().await.unwrap();
    apis.sort_by(|a, b| a.api.audience.cmp(&b.api.audience));
    assert_eq!(apis, [jwt, opaque]);
}

/// A JWT's revocation and its grant's standing in one read: each part as its own method
/// says, and nothing asked of a part that is `None`.
pub(crate) async fn access_token_standing(s: Arc<dyn Store>) {
    use valet_store::GrantScope;
    s.insert_grant(&grant("g1", "u1", "c1", "openid email", 1000))
        .await
        .unwrap();
    let none = GrantScope::default();
    assert_eq!(
        s.access_token_standing(None, None).await.unwrap(),
        (false, none.clone())
    );
    assert_eq!(
        s.access_token_standing(Some("j1"), Some("g1"))
            .await
            .unwrap(),
        (false, none.clone())
    );
    s.revoke_access_token("j1", 900).await.unwrap();
    assert_eq!(
        s.access_token_standing(Some("j1"), None).await.unwrap(),
        (true, none.clone())
    );
    assert_eq!(
        s.access_token_standing(Some("j2"), Some("g1"))
            .await
            .unwrap(),
        (false, none.clone())
    );
    s.save_consent(&valet_store::ConsentRecord {
        user_id: "u1".into(),
        client_id: "c1".into(),
        scope: "openid email".into(),
        created_at: 10,
        updated_at: 10,
    })
    .await
    .unwrap();
    s.withdraw_scope("u1", "c1", "email", 150).await.unwrap();
    let (_, g) = s.access_token_standing(None, Some("g1")).await.unwrap();
    assert_eq!(g, s.grant_scope("g1").await.unwrap());
    assert_eq!(g.narrowed, Some(("openid".into(), 150)));
    s.revoke_grant("g1", 1000).await.unwrap();
    let (revoked, g) = s
        .access_token_standing(Some("j1"), Some("g1"))
        .await
        .unwrap();
    assert!(revoked && g.revoked);
    // An unknown grant is neither revoked nor narrowed, as `grant_scope` says.
    assert_eq!(
        s.access_token_standing(None, Some("g9")).await.unwrap(),
        (false, s.grant_scope("g9").await.unwrap())
    );
}
