//! Browser sessions and logout.

use std::sync::Arc;
use valet_store::{Store, StoreError};

use super::{grant, grant_in, insert_grants, refresh, revoked, session, token_hash};

pub(crate) async fn browser_sessions(s: Arc<dyn Store>) {
    s.create_session(&session(1, "u1", 1000), None)
        .await
        .unwrap();
    assert_eq!(
        s.session(&token_hash(1), 999).await.unwrap(),
        Some(session(1, "u1", 1000))
    );
    assert!(s.session(&token_hash(1), 1000).await.unwrap().is_none());
    assert!(s.session(&token_hash(9), 10).await.unwrap().is_none());

    // Signing in rotates the session id: the old one is gone.
    s.create_session(&session(2, "u1", 1000), Some(&token_hash(1)))
        .await
        .unwrap();
    assert!(s.session(&token_hash(1), 10).await.unwrap().is_none());
    assert!(s.session(&token_hash(2), 10).await.unwrap().is_some());

    // A taken id refuses the new session and keeps the one it would have replaced.
    s.create_session(&session(3, "u2", 1000), None)
        .await
        .unwrap();
    let r = s
        .create_session(&session(2, "u2", 2000), Some(&token_hash(3)))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))));
    assert!(s.session(&token_hash(3), 10).await.unwrap().is_some());
    assert_eq!(
        s.session(&token_hash(2), 10)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        1000
    );
}

pub(crate) async fn logout(s: Arc<dyn Store>) {
    s.create_session(&session(1, "u1", 1000), None)
        .await
        .unwrap();
    s.create_session(&session(2, "u2", 1000), None)
        .await
        .unwrap();
    insert_grants(
        &s,
        &[
            grant_in("online", "u1", "openid profile", 1, 500),
            grant_in("offline", "u1", "openid offline_access", 1, 500),
            grant_in("offline-first", "u1", "offline_access openid", 1, 500),
            grant_in("offline-only", "u1", "offline_access", 1, 500),
            // Scope tokens match whole and exactly (they are case-sensitive).
            grant_in(
                "look-alike",
                "u1",
                "openid offline-access offline_accessx xoffline_access OFFLINE_ACCESS",
                1,
                500,
            ),
            grant_in("expired", "u1", "openid", 1, 100),
            grant_in("other-session", "u2", "openid", 2, 500),
            grant("no-session", "u1", "c1", "openid", 500),
        ],
    )
    .await;
    let all = [
        "online",
        "offline",
        "offline-first",
        "offline-only",
        "look-alike",
        "expired",
        "other-session",
        "no-session",
    ];
    assert!(s.end_session(&token_hash(1), 100).await.unwrap());
    assert!(s.session(&token_hash(1), 100).await.unwrap().is_none());
    assert!(s.session(&token_hash(2), 100).await.unwrap().is_some());
    assert_eq!(revoked(&s, &all).await, ["online", "look-alike"]);
    // Each revocation lasts until its grant's last token expires.
    s.purge_expired(500, 100).await.unwrap();
    assert_eq!(revoked(&s, &all).await, ["online", "look-alike"]);

    // Logging out of a session that is already gone still ends its grants.
    s.insert_grant(&grant_in("late", "u1", "openid", 1, 900))
        .await
        .unwrap();
    assert!(!s.end_session(&token_hash(1), 100).await.unwrap());
    assert!(s.is_grant_revoked("late").await.unwrap());
}

pub(crate) async fn debug_redacts_hashes(s: Arc<dyn Store>) {
    // 0xab prints as 171 in a derived Debug of the bytes.
    s.create_session(&session(0xab, "u1", 1000), None)
        .await
        .unwrap();
    s.insert_refresh_token(&refresh(0xab, "g1", 1000), 1000)
        .await
        .unwrap();
    let printed = [
        format!(
            "{:?}",
            s.session(&token_hash(0xab), 10).await.unwrap().unwrap()
        ),
        format!(
            "{:?}",
            s.refresh_token(&token_hash(0xab), 10)
                .await
                .unwrap()
                .unwrap()
        ),
    ];
    for p in printed {
        assert!(!p.contains("171"), "{p}");
        assert!(p.contains("[redacted]") && p.contains("u1"), "{p}");
    }
}
