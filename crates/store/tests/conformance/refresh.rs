//! Refresh tokens and their rotation.

use std::sync::Arc;
use valet_store::{REFRESH_SUCCESSOR_MEMORY, Rotation, Store, StoreError};

use super::{chained, grant, insert_grants, refresh, revoked, rotate_again, token_hash};

async fn grant_expiry(s: &Arc<dyn Store>, id: &str) -> i64 {
    s.grant(id).await.unwrap().unwrap().expires_at
}

pub(crate) async fn refresh_tokens(s: Arc<dyn Store>) {
    s.insert_grant(&grant("g1", "u1", "c1", "openid email", 1000))
        .await
        .unwrap();
    s.insert_refresh_token(&refresh(1, "g1", 2000), 2000)
        .await
        .unwrap();
    assert_eq!(grant_expiry(&s, "g1").await, 2000);
    // The grant's expiry is raised, never lowered.
    s.insert_refresh_token(&refresh(2, "g1", 1500), 1500)
        .await
        .unwrap();
    assert_eq!(grant_expiry(&s, "g1").await, 2000);

    assert_eq!(
        s.refresh_token(&token_hash(1), 1999).await.unwrap(),
        Some(refresh(1, "g1", 2000))
    );
    assert!(
        s.refresh_token(&token_hash(1), 2000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.refresh_token(&token_hash(9), 100)
            .await
            .unwrap()
            .is_none()
    );

    // A taken hash writes nothing: the grant is not raised either.
    let r = s.insert_refresh_token(&refresh(1, "g1", 3000), 3000).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))));
    assert_eq!(grant_expiry(&s, "g1").await, 2000);
    assert_eq!(
        s.refresh_token(&token_hash(1), 100)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        2000
    );

    // With its grant's standing, in one read: what `grant_scope` says of the grant.
    let standing = |at| {
        let s = s.clone();
        async move { s.refresh_token_standing(&token_hash(1), at).await.unwrap() }
    };
    let (record, grant) = standing(100).await.unwrap();
    assert_eq!(record, refresh(1, "g1", 2000));
    assert_eq!(grant, s.grant_scope("g1").await.unwrap());
    assert!(!grant.revoked);
    assert_eq!(grant.narrowed, None);
    assert_eq!(standing(2000).await, None, "expired");
    assert_eq!(
        s.refresh_token_standing(&token_hash(9), 100).await.unwrap(),
        None
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
    assert_eq!(
        s.withdraw_scope("u1", "c1", "openid", 150).await.unwrap(),
        1
    );
    let (_, grant) = standing(160).await.unwrap();
    assert_eq!(grant, s.grant_scope("g1").await.unwrap());
    assert!(grant.narrowed.is_some(), "{grant:?}");
    s.revoke_grant("g1", 3000).await.unwrap();
    assert!(standing(160).await.unwrap().1.revoked);
    // A token whose grant row is gone reads as a grant neither revoked nor narrowed.
    s.insert_refresh_token(&refresh(3, "g-none", 2000), 2000)
        .await
        .unwrap();
    assert_eq!(
        s.refresh_token_standing(&token_hash(3), 100).await.unwrap(),
        Some((refresh(3, "g-none", 2000), Default::default()))
    );
}

pub(crate) async fn rotation(s: Arc<dyn Store>) {
    s.insert_grant(&grant("g1", "u1", "c1", "openid", 1000))
        .await
        .unwrap();
    s.insert_refresh_token(&refresh(1, "g1", 1000), 1000)
        .await
        .unwrap();
    assert_eq!(
        s.rotate_refresh_token(
            &token_hash(1),
            &refresh(2, "g1", 2000),
            b"sealed 1",
            2000,
            100
        )
        .await
        .unwrap(),
        Rotation::Rotated
    );
    let old = s.refresh_token(&token_hash(1), 100).await.unwrap().unwrap();
    assert_eq!(old.rotated_at, Some(100));
    assert_eq!(
        s.refresh_token(&token_hash(2), 100).await.unwrap(),
        Some(refresh(2, "g1", 2000))
    );
    assert_eq!(grant_expiry(&s, "g1").await, 2000);

    // A second rotation learns the first one's successor and writes nothing.
    assert_eq!(
        s.rotate_refresh_token(
            &token_hash(1),
            &refresh(3, "g1", 3000),
            b"sealed 3",
            3000,
            101
        )
        .await
        .unwrap(),
        Rotation::AlreadyRotated {
            at: 100,
            successor: Some(b"sealed 1".to_vec())
        }
    );
    assert!(
        s.refresh_token(&token_hash(3), 101)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(grant_expiry(&s, "g1").await, 2000);

    // Unknown and expired tokens rotate to nothing, and write nothing.
    assert_eq!(
        s.rotate_refresh_token(&token_hash(9), &refresh(4, "g1", 4000), b"x", 4000, 100)
            .await
            .unwrap(),
        Rotation::Unknown
    );
    s.insert_refresh_token(&refresh(5, "g1", 150), 150)
        .await
        .unwrap();
    assert_eq!(
        s.rotate_refresh_token(&token_hash(5), &refresh(6, "g1", 4000), b"x", 4000, 150)
            .await
            .unwrap(),
        Rotation::Unknown
    );
    for h in [4, 6] {
        assert!(
            s.refresh_token(&token_hash(h), 100)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(grant_expiry(&s, "g1").await, 2000);

    // A successor whose hash is taken aborts the rotation: the old token stays unrotated.
    let r = s
        .rotate_refresh_token(&token_hash(2), &refresh(1, "g1", 4000), b"x", 4000, 110)
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))));
    let two = s.refresh_token(&token_hash(2), 110).await.unwrap().unwrap();
    assert_eq!(two.rotated_at, None);
    assert_eq!(grant_expiry(&s, "g1").await, 2000);
    assert_eq!(
        s.rotate_refresh_token(
            &token_hash(2),
            &refresh(7, "g1", 3000),
            b"sealed 7",
            3000,
            120
        )
        .await
        .unwrap(),
        Rotation::Rotated
    );

    // The successor is kept for REFRESH_SUCCESSOR_MEMORY seconds, the rotation for good.
    s.purge_expired(100 + REFRESH_SUCCESSOR_MEMORY, 100)
        .await
        .unwrap();
    assert_eq!(
        rotate_again(&s, 1, 200).await,
        Rotation::AlreadyRotated {
            at: 100,
            successor: Some(b"sealed 1".to_vec())
        }
    );
    s.purge_expired(100 + REFRESH_SUCCESSOR_MEMORY + 1, 100)
        .await
        .unwrap();
    assert_eq!(
        rotate_again(&s, 1, 200).await,
        Rotation::AlreadyRotated {
            at: 100,
            successor: None
        }
    );
    // A rotated token that expired is still recognised until it is purged.
    assert!(
        s.refresh_token(&token_hash(1), 1000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        rotate_again(&s, 1, 1000).await,
        Rotation::AlreadyRotated { at: 100, .. }
    ));
    s.purge_expired(1001, 100).await.unwrap();
    assert_eq!(rotate_again(&s, 1, 1001).await, Rotation::Unknown);
}

/// 50 concurrent rotations of one token, alternating between `a` and `b`, each with its own
/// successor: exactly one wins, every loser learns the winner's successor, and only the
/// winner's new token exists.
pub(crate) async fn race_rotations(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    a.insert_grant(&grant("g7", "u1", "c1", "openid", 1000))
        .await
        .unwrap();
    a.insert_refresh_token(&refresh(7, "g7", 1000), 1000)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..50u8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let new = refresh(100 + i, "g7", 2000);
            s.rotate_refresh_token(&token_hash(7), &new, &[i; 4], 2000, 10)
                .await
                .unwrap()
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let winners: Vec<u8> = (0..50u8)
        .filter(|&i| results[usize::from(i)] == Rotation::Rotated)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one rotation wins");
    let w = winners[0];
    for r in &results {
        if *r != Rotation::Rotated {
            assert_eq!(
                *r,
                Rotation::AlreadyRotated {
                    at: 10,
                    successor: Some(vec![w; 4])
                }
            );
        }
    }
    for i in 0..50u8 {
        let new = b.refresh_token(&token_hash(100 + i), 10).await.unwrap();
        assert_eq!(new.is_some(), i == w, "token {i}");
    }
}

pub(crate) async fn racing_rotations(s: Arc<dyn Store>) {
    race_rotations(s.clone(), s).await;
}

pub(crate) async fn revocation_outlives_late_tokens(s: Arc<dyn Store>) {
    // A token issued under a grant while it is being revoked (the caller checked before the
    // revocation committed) must not outlive the revocation record.
    insert_grants(
        &s,
        &[
            grant("g1", "u1", "c1", "openid", 500),
            grant("g2", "u1", "c1", "openid", 500),
        ],
    )
    .await;
    s.insert_refresh_token(&refresh(1, "g2", 500), 500)
        .await
        .unwrap();
    assert_eq!(s.revoke_consent("u1", "c1", 100).await.unwrap(), 2);
    s.insert_refresh_token(&refresh(2, "g1", 2000), 2000)
        .await
        .unwrap();
    assert_eq!(
        s.rotate_refresh_token(&token_hash(1), &refresh(3, "g2", 3000), b"x", 3000, 100)
            .await
            .unwrap(),
        Rotation::Rotated
    );
    s.purge_expired(1999, 100).await.unwrap();
    assert_eq!(revoked(&s, &["g1", "g2"]).await, ["g1", "g2"]);
    s.purge_expired(2001, 100).await.unwrap();
    assert_eq!(revoked(&s, &["g1", "g2"]).await, ["g2"]);
}

/// Bounded storage per grant (issue 17): however often a chain rotates, the store keeps its
/// current token and the one that token replaced; the chain's head is the newest, and a
/// token from before chains is never pruned with them.
pub(crate) async fn chains_keep_two_tokens(s: Arc<dyn Store>) {
    s.insert_grant(&grant("g1", "u1", "c1", "openid", 1000))
        .await
        .unwrap();
    s.insert_refresh_token(&refresh(250, "g1", 5000), 5000)
        .await
        .unwrap();
    s.insert_refresh_token(&chained(0, 0, 5000), 5000)
        .await
        .unwrap();
    assert_eq!(
        s.refresh_chain_head("chain-A", 100).await.unwrap(),
        Some(chained(0, 0, 5000))
    );
    assert_eq!(s.refresh_chain_head("chain-B", 100).await.unwrap(), None);
    // 200 rotations, a token a second; hashes 0..=199 cycle within u8 below 250.
    for g in 1..=200i64 {
        let at = 100 + g;
        let (old, new) = (((g - 1) % 200) as u8, (g % 200) as u8);
        assert_eq!(
            s.rotate_refresh_token(
                &token_hash(old),
                &chained(new, g, 5000),
                b"sealed",
                5000,
                at
            )
            .await
            .unwrap(),
            Rotation::Rotated,
            "rotation {g}"
        );
        let head = s.refresh_chain_head("chain-A", at).await.unwrap().unwrap();
        assert_eq!((head.generation, head.rotated_at), (g, None));
        // The one it replaced is still there, rotated, for the retry window.
        let previous = s
            .refresh_token(&token_hash(old), at)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (previous.generation, previous.rotated_at),
            (g - 1, Some(at))
        );
        if g >= 2 {
            let gone = ((g - 2) % 200) as u8;
            assert_eq!(
                s.refresh_token(&token_hash(gone), at).await.unwrap(),
                None,
                "generation {} is pruned at rotation {g}",
                g - 2
            );
        }
    }
    let left: usize = {
        let mut n = 0;
        for h in 0..200u8 {
            if s.refresh_token(&token_hash(h), 400)
                .await
                .unwrap()
                .is_some()
            {
                n += 1;
            }
        }
        n
    };
    assert_eq!(left, 2, "a chain keeps two tokens after 200 rotations");
    assert!(
        s.refresh_token(&token_hash(250), 400)
            .await
            .unwrap()
            .is_some(),
        "a token without a chain is left to its expiry"
    );
    // A lost rotation prunes nothing either.
    assert!(matches!(
        s.rotate_refresh_token(&token_hash(199), &chained(201, 201, 5000), b"x", 5000, 400)
            .await
            .unwrap(),
        Rotation::AlreadyRotated { .. }
    ));
    assert!(
        s.refresh_token(&token_hash(199), 400)
            .await
            .unwrap()
            .is_some()
    );
    // Expired, the chain has no head.
    assert_eq!(s.refresh_chain_head("chain-A", 5000).await.unwrap(), None);
}
