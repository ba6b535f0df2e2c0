//! Authorization codes, grants and revocations.

use std::sync::Arc;
use valet_store::{CodeUse, GrantState, Store, StoreError};

use super::{code, grant, grant_in, session, token_hash};

/// A grant that was never written (codes inserted without one).
const NO_GRANT: GrantState = GrantState {
    exists: false,
    revoked: false,
    session_ended: false,
};

pub(crate) async fn codes(s: Arc<dyn Store>) {
    s.insert_code(&code(1, 160), None).await.unwrap();
    assert!(matches!(
        s.insert_code(&code(1, 160), None).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.consume_code(&token_hash(1), 100).await.unwrap(),
        CodeUse::Fresh(code(1, 160), NO_GRANT)
    );
    // RFC 6749 §10.5: a second use is recognised, with the grant to revoke.
    assert_eq!(
        s.consume_code(&token_hash(1), 101).await.unwrap(),
        CodeUse::Replayed(code(1, 160))
    );
    assert_eq!(
        s.consume_code(&token_hash(9), 100).await.unwrap(),
        CodeUse::Unknown
    );
    // Expired unused codes redeem as nothing.
    s.insert_code(&code(2, 160), None).await.unwrap();
    assert_eq!(
        s.consume_code(&token_hash(2), 160).await.unwrap(),
        CodeUse::Unknown
    );
    // A used code is remembered past its expiry, then purged.
    assert_eq!(
        s.consume_code(&token_hash(1), 500).await.unwrap(),
        CodeUse::Replayed(code(1, 160))
    );
    s.purge_expired(160 + valet_store::CODE_REPLAY_MEMORY + 1, 100)
        .await
        .unwrap();
    assert_eq!(
        s.consume_code(&token_hash(1), 900).await.unwrap(),
        CodeUse::Unknown
    );
}

pub(crate) async fn racing_redemptions(s: Arc<dyn Store>) {
    // Checklist D2: 50 concurrent redemptions of one code, exactly one wins. Each loser
    // revokes the grant at once, as the token endpoint does on a replay; the winner still
    // read the grant as standing (issue 12 item 5 must not cost D2 its one winner).
    s.insert_code(
        &code(7, i64::MAX),
        Some(&grant("g7", "u1", "c1", "openid", i64::MAX)),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let used = s.consume_code(&token_hash(7), 10).await.unwrap();
            if let CodeUse::Replayed(c) = &used {
                s.revoke_grant(&c.grant_id, i64::MAX).await.unwrap();
            }
            used
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            CodeUse::Fresh(_, standing) => {
                fresh += 1;
                assert_eq!(
                    standing,
                    GrantState {
                        exists: true,
                        revoked: false,
                        session_ended: false
                    },
                    "read before any replay revoked it"
                );
            }
            CodeUse::Replayed(c) => assert_eq!(c.grant_id, "g7"),
            CodeUse::Unknown => panic!("the code vanished"),
        }
    }
    assert_eq!(fresh, 1);
    assert!(s.is_grant_revoked("g7").await.unwrap());
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
        s.consume_code(&token_hash(2), 100).await.unwrap(),
        CodeUse::Unknown
    );
    assert_eq!(s.grant("g2").await.unwrap().unwrap().user_id, "u1");
    assert!(matches!(
        s.insert_grant(&grant("g2", "u1", "c1", "openid", 160))
            .await,
        Err(StoreError::Conflict(_))
    ));
}

/// The winner of a redemption learns, from the same transaction, whether the code's grant
/// still stands at `now`: it exists, is not revoked, and its session (if any) is live.
pub(crate) async fn redemption_reads_the_grants_standing(s: Arc<dyn Store>) {
    let standing = |exists, revoked, session_ended| GrantState {
        exists,
        revoked,
        session_ended,
    };
    let fresh = |s: Arc<dyn Store>, hash: u8, now: i64| async move {
        match s.consume_code(&token_hash(hash), now).await.unwrap() {
            CodeUse::Fresh(c, g) => {
                assert_eq!(c.grant_id, format!("g{hash}"));
                g
            }
            other => panic!("code {hash}: {other:?}"),
        }
    };
    // Sessions 1 (live until 500), 2 (ends at 150).
    s.create_session(&session(1, "u1", 500), None)
        .await
        .unwrap();
    s.create_session(&session(2, "u1", 150), None)
        .await
        .unwrap();
    let offline = "openid offline_access";
    for (hash, g) in [
        (10, grant_in("g10", "u1", "openid", 1, 900)),
        (11, grant_in("g11", "u1", "openid", 1, 900)),
        (12, grant_in("g12", "u1", offline, 2, 900)),
        (13, grant("g13", "u1", "c1", "openid", 900)),
        (14, grant_in("g14", "u1", offline, 3, 900)),
        (15, grant_in("g15", "u1", offline, 1, 900)),
    ] {
        s.insert_code(&code(hash, 900), Some(&g)).await.unwrap();
    }
    s.revoke_grant("g11", 900).await.unwrap();
    assert_eq!(
        fresh(s.clone(), 10, 100).await,
        standing(true, false, false)
    );
    assert_eq!(fresh(s.clone(), 11, 100).await, standing(true, true, false));
    // Session 2 expired by 200; no session at all (the password grant) never ends.
    assert_eq!(fresh(s.clone(), 12, 200).await, standing(true, false, true));
    assert_eq!(
        fresh(s.clone(), 13, 200).await,
        standing(true, false, false)
    );
    // Session 3 never existed (or went).
    assert_eq!(fresh(s.clone(), 14, 100).await, standing(true, false, true));
    // Logout ends session 1: its offline grant stands, but the session is over.
    assert!(s.end_session(&token_hash(1), 100).await.unwrap());
    assert_eq!(fresh(s.clone(), 15, 100).await, standing(true, false, true));
}
