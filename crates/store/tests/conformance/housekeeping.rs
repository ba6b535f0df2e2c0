//! The purge of what no longer matters.

use std::sync::Arc;
use valet_store::{REFRESH_SUCCESSOR_MEMORY, Rotation, Store};

use super::{grant, insert_grants, refresh, rotate_again, session, token_hash};

pub(crate) async fn purge(s: Arc<dyn Store>) {
    // At 1000, what expired before 1000 goes; what expires at 1000 stays for now.
    insert_grants(
        &s,
        &[
            grant("g-old", "u1", "c1", "openid", 999),
            grant("g-edge", "u1", "c1", "openid", 1000),
            grant("g-live", "u1", "c1", "openid", 5000),
        ],
    )
    .await;
    for (h, exp) in [(1, 999), (2, 1000), (3, 5000), (4, 5000)] {
        s.insert_refresh_token(&refresh(h, "g-live", exp), 0)
            .await
            .unwrap();
    }
    for (id, exp) in [(1, 999), (2, 1000), (3, 5000)] {
        s.create_session(&session(id, "u1", exp), None)
            .await
            .unwrap();
    }
    // Token 3 was rotated just over REFRESH_SUCCESSOR_MEMORY ago, token 4 just within.
    let t3 = 1000 - REFRESH_SUCCESSOR_MEMORY - 1;
    let t4 = 1000 - REFRESH_SUCCESSOR_MEMORY;
    for (h, at) in [(3, t3), (4, t4)] {
        let r = s
            .rotate_refresh_token(
                &token_hash(h),
                &refresh(h + 10, "g-live", 5000),
                b"s",
                0,
                at,
            )
            .await
            .unwrap();
        assert_eq!(r, Rotation::Rotated);
    }

    // g-old, token 1, session 1, and token 3's successor.
    assert_eq!(s.purge_expired(1000, 100).await.unwrap(), 4);
    assert_eq!(s.purge_expired(1000, 100).await.unwrap(), 0);
    assert!(s.grant("g-old").await.unwrap().is_none());
    assert!(s.grant("g-edge").await.unwrap().is_some());
    assert!(s.refresh_token(&token_hash(1), 0).await.unwrap().is_none());
    assert!(s.refresh_token(&token_hash(2), 0).await.unwrap().is_some());
    assert!(s.session(&token_hash(1), 0).await.unwrap().is_none());
    assert!(s.session(&token_hash(2), 0).await.unwrap().is_some());
    assert_eq!(
        rotate_again(&s, 3, 1000).await,
        Rotation::AlreadyRotated {
            at: t3,
            successor: None
        }
    );
    assert_eq!(
        rotate_again(&s, 4, 1000).await,
        Rotation::AlreadyRotated {
            at: t4,
            successor: Some(b"s".to_vec())
        }
    );

    // Batches bound each table separately.
    for i in 0..3u8 {
        s.insert_grant(&grant(&format!("old{i}"), "u1", "c1", "openid", 10))
            .await
            .unwrap();
        s.insert_refresh_token(&refresh(50 + i, "g-live", 10), 0)
            .await
            .unwrap();
        s.create_session(&session(50 + i, "u1", 10), None)
            .await
            .unwrap();
    }
    assert_eq!(s.purge_expired(1000, 2).await.unwrap(), 6);
    assert_eq!(s.purge_expired(1000, 2).await.unwrap(), 3);
    assert_eq!(s.purge_expired(1000, 2).await.unwrap(), 0);
}
