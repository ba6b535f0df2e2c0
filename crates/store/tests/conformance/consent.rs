//! Remembered consent and its revocation.

use std::sync::Arc;
use valet_store::{ConsentRecord, Store};

use super::{grant, insert_grants, revoked};

fn consent(user: &str, client: &str, scope: &str, at: i64) -> ConsentRecord {
    ConsentRecord {
        user_id: user.into(),
        client_id: client.into(),
        scope: scope.into(),
        created_at: at,
        updated_at: at,
    }
}

pub(crate) async fn consents(s: Arc<dyn Store>) {
    assert!(s.consent("u1", "c1").await.unwrap().is_none());
    s.save_consent(&consent("u1", "c1", "openid", 10))
        .await
        .unwrap();
    assert_eq!(
        s.consent("u1", "c1").await.unwrap(),
        Some(consent("u1", "c1", "openid", 10))
    );
    // Saving again replaces the scope and keeps when consent was first given.
    s.save_consent(&consent("u1", "c1", "openid profile", 20))
        .await
        .unwrap();
    let got = s.consent("u1", "c1").await.unwrap().unwrap();
    assert_eq!(
        (got.scope.as_str(), got.created_at, got.updated_at),
        ("openid profile", 10, 20)
    );
    s.save_consent(&consent("u1", "c0", "openid", 15))
        .await
        .unwrap();
    s.save_consent(&consent("u2", "c1", "openid", 5))
        .await
        .unwrap();
    // Oldest first, only the user's own.
    let mine: Vec<String> = s
        .consents_of_user("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(mine, ["c1", "c0"]);
    assert!(s.consents_of_user("nobody").await.unwrap().is_empty());
}

pub(crate) async fn revoke_consent(s: Arc<dyn Store>) {
    insert_grants(
        &s,
        &[
            grant("g1", "u1", "c1", "openid", 500),
            grant("g2", "u1", "c1", "openid", 800),
            grant("g3", "u1", "c1", "openid", 100), // every token already expired
            grant("g4", "u1", "c2", "openid", 500), // another application
            grant("g5", "u2", "c1", "openid", 500), // another user
        ],
    )
    .await;
    for (u, c) in [("u1", "c1"), ("u1", "c2"), ("u2", "c1")] {
        s.save_consent(&consent(u, c, "openid", 1)).await.unwrap();
    }
    // A shorter revocation recorded earlier is extended to the grant's expiry.
    s.revoke_grant("g2", 300).await.unwrap();

    assert_eq!(s.revoke_consent("u1", "c1", 100).await.unwrap(), 2);
    let all = ["g1", "g2", "g3", "g4", "g5"];
    assert_eq!(revoked(&s, &all).await, ["g1", "g2"]);
    assert!(s.consent("u1", "c1").await.unwrap().is_none());
    assert!(s.consent("u1", "c2").await.unwrap().is_some());
    assert!(s.consent("u2", "c1").await.unwrap().is_some());
    // Nothing left to revoke.
    assert_eq!(s.revoke_consent("u1", "c1", 100).await.unwrap(), 0);

    // Each revocation lasts until its grant's last token expires.
    s.purge_expired(500, 100).await.unwrap();
    assert_eq!(revoked(&s, &all).await, ["g1", "g2"]);
    s.purge_expired(501, 100).await.unwrap();
    assert_eq!(revoked(&s, &all).await, ["g2"]);
}

pub(crate) async fn revoke_client_grants(s: Arc<dyn Store>) {
    insert_grants(
        &s,
        &[
            grant("g1", "u1", "c1", "openid", 500),
            grant("g2", "u2", "c1", "openid", 500),
            grant("g3", "u1", "c2", "openid", 500), // another application
            grant("g4", "u3", "c1", "openid", 50),  // every token already expired
        ],
    )
    .await;
    for (u, c) in [("u1", "c1"), ("u2", "c1"), ("u1", "c2")] {
        s.save_consent(&consent(u, c, "openid", 1)).await.unwrap();
    }
    assert_eq!(s.revoke_client_grants("c1", 100).await.unwrap(), 2);
    assert_eq!(revoked(&s, &["g1", "g2", "g3", "g4"]).await, ["g1", "g2"]);
    assert!(s.consent("u1", "c1").await.unwrap().is_none());
    assert!(s.consent("u2", "c1").await.unwrap().is_none());
    assert!(s.consent("u1", "c2").await.unwrap().is_some());
    assert_eq!(s.revoke_client_grants("c1", 100).await.unwrap(), 0);
}
