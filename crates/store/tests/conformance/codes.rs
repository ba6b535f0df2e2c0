//! Authorization codes, grants and revocations.

use std::sync::Arc;
use valet_store::{CodeUse, Store, StoreError};

use super::{code, grant, grant_in};

pub(crate) async fn codes(s: Arc<dyn Store>) {
    s.insert_code(&code(1, 160), None).await.unwrap();
    assert!(matches!(
        s.insert_code(&code(1, 160), None).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.consume_code(&[1; 32], 100).await.unwrap(),
        CodeUse::Fresh(code(1, 160))
    );
    // RFC 6749 §10.5: a second use is recognised, with the grant to revoke.
    assert_eq!(
        s.consume_code(&[1; 32], 101).await.unwrap(),
        CodeUse::Replayed(code(1, 160))
    );
    assert_eq!(
        s.consume_code(&[9; 32], 100).await.unwrap(),
        CodeUse::Unknown
    );
    // Expired unused codes redeem as nothing.
    s.insert_code(&code(2, 160), None).await.unwrap();
    assert_eq!(
        s.consume_code(&[2; 32], 160).await.unwrap(),
        CodeUse::Unknown
    );
    // A used code is remembered past its expiry, then purged.
    assert_eq!(
        s.consume_code(&[1; 32], 500).await.unwrap(),
        CodeUse::Replayed(code(1, 160))
    );
    s.purge_expired(160 + valet_store::CODE_REPLAY_MEMORY + 1, 100)
        .await
        .unwrap();
    assert_eq!(
        s.consume_code(&[1; 32], 900).await.unwrap(),
        CodeUse::Unknown
    );
}

pub(crate) async fn racing_redemptions(s: Arc<dyn Store>) {
    // Checklist D2: 50 concurrent redemptions of one code, exactly one wins.
    s.insert_code(&code(7, i64::MAX), None).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.consume_code(&[7; 32], 10).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            CodeUse::Fresh(_) => fresh += 1,
            CodeUse::Replayed(c) => assert_eq!(c.grant_id, "g7"),
            CodeUse::Unknown => panic!("the code vanished"),
        }
    }
    assert_eq!(fresh, 1);
}

pub(crate) async fn grants(s: Arc<dyn Store>) {
    assert!(!s.is_grant_revoked("g1").await.unwrap());
    s.revoke_grant("g1", 100).await.unwrap();
    s.revoke_grant("g1", 50).await.unwrap();
    assert!(s.is_grant_revoked("g1").await.unwrap());
    // The longer of two revocations holds.
    s.purge_expired(60, 100).await.unwrap();
    assert!(s.is_grant_revoked("g1").await.unwrap());
    s.purge_expired(101, 100).await.unwrap();
    assert!(!s.is_grant_revoked("g1").await.unwrap());
}

pub(crate) async fn revocations(s: Arc<dyn Store>) {
    assert!(!s.is_access_token_revoked("j1").await.unwrap());
    s.revoke_access_token("j1", 100).await.unwrap();
    s.revoke_access_token("j1", 100).await.unwrap();
    assert!(s.is_access_token_revoked("j1").await.unwrap());
    for i in 0..25 {
        s.revoke_access_token(&format!("old{i}"), 50).await.unwrap();
    }
    // Purge goes in batches and never touches revocations still needed.
    assert_eq!(s.purge_expired(60, 10).await.unwrap(), 10);
    assert_eq!(s.purge_expired(60, 100).await.unwrap(), 15);
    assert_eq!(s.purge_expired(60, 100).await.unwrap(), 0);
    assert!(s.is_access_token_revoked("j1").await.unwrap());
    assert!(!s.is_access_token_revoked("old3").await.unwrap());
    s.ping().await.unwrap();
}

pub(crate) async fn codes_start_grants(s: Arc<dyn Store>) {
    let g1 = grant_in("g1", "u1", "openid", 5, 160);
    s.insert_code(&code(1, 160), Some(&g1)).await.unwrap();
    assert_eq!(s.grant("g1").await.unwrap(), Some(g1.clone()));
    assert!(s.grant("nope").await.unwrap().is_none());

    // A taken code hash writes neither row.
    let mut again = code(1, 160);
    again.grant_id = "g-other".into();
    let r = s
        .insert_code(&again, Some(&grant("g-other", "u1", "c1", "openid", 160)))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))));
    assert!(s.grant("g-other").await.unwrap().is_none());

    // A taken grant id writes neither row either.
    s.insert_grant(&grant("g2", "u1", "c1", "openid", 160))
        .await
        .unwrap();
    let r = s
        .insert_code(&code(2, 160), Some(&grant("g2", "u9", "c9", "email", 900)))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))));
    assert_eq!(
        s.consume_code(&[2; 32], 100).await.unwrap(),
        CodeUse::Unknown
    );
    assert_eq!(s.grant("g2").await.unwrap().unwrap().user_id, "u1");
    assert!(matches!(
        s.insert_grant(&grant("g2", "u1", "c1", "openid", 160))
            .await,
        Err(StoreError::Conflict(_))
    ));
}
