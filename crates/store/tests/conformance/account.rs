//! What the account page changes: sessions the user sees and ends, a scope withdrawn.

use std::sync::Arc;
use valet_store::Store;

use super::{grant, grant_in, insert_grants, revoked, session, token_hash};

/// (client, user, session) of every queued logout, sorted.
async fn queued(s: &Arc<dyn Store>) -> Vec<(String, String, bool)> {
    let mut v: Vec<_> = s
        .claim_logout_deliveries(100, 30, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.client_id, d.user_id, d.session.is_some()))
        .collect();
    v.sort();
    v
}

pub(crate) async fn session_details_and_last_use(s: Arc<dyn Store>) {
    s.create_session(&session(1, "u1", 10_000), None)
        .await
        .unwrap();
    let got = s.session(&token_hash(1), 100).await.unwrap().unwrap();
    assert_eq!(got.address.as_deref(), Some("192.0.2.1"));
    assert!(got.user_agent.unwrap().contains("Firefox"));
    assert_eq!(got.last_used_at, 100);
    // Written at most once an interval: too soon changes nothing.
    assert!(!s.touch_session(&token_hash(1), 399, 300).await.unwrap());
    assert_eq!(
        s.session(&token_hash(1), 399)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        100
    );
    assert!(s.touch_session(&token_hash(1), 400, 300).await.unwrap());
    assert!(!s.touch_session(&token_hash(1), 401, 300).await.unwrap());
    let listed = s.sessions_of_user("u1", 401).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, 400);
    // An unknown or expired session is not written.
    assert!(!s.touch_session(&token_hash(9), 900, 300).await.unwrap());
    assert!(!s.touch_session(&token_hash(1), 10_000, 300).await.unwrap());
}

pub(crate) async fn signing_out_everywhere(s: Arc<dyn Store>) {
    for (id, user) in [(1, "u1"), (2, "u1"), (3, "u1"), (4, "u2")] {
        s.create_session(&session(id, user, 1000), None)
            .await
            .unwrap();
    }
    insert_grants(
        &s,
        &[
            grant_in("s1", "u1", "openid", 1, 500),
            grant_in("s2", "u1", "openid", 2, 500),
            grant_in("s2-offline", "u1", "openid offline_access", 2, 500),
            grant_in("s3", "u1", "openid", 3, 500),
            grant_in("other-user", "u2", "openid", 4, 500),
            grant("device", "u1", "c1", "openid", 500),
        ],
    )
    .await;
    let all = ["s1", "s2", "s2-offline", "s3", "other-user", "device"];
    // Every session but the one kept, each as a logout ends it.
    let n = s
        .end_sessions_of_user("u1", Some(&token_hash(1)), false, 100)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let left: Vec<_> = s
        .sessions_of_user("u1", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id_hash)
        .collect();
    assert_eq!(left, [token_hash(1)]);
    assert!(s.session(&token_hash(4), 100).await.unwrap().is_some());
    assert_eq!(revoked(&s, &all).await, ["s2", "s3"]);
    // One logout queued per (application, user, session) that ended.
    assert_eq!(
        queued(&s).await,
        [
            ("c1".to_owned(), "u1".to_owned(), true),
            ("c1".to_owned(), "u1".to_owned(), true)
        ]
    );
    // Then every one, the kept one included.
    assert_eq!(
        s.end_sessions_of_user("u1", None, false, 100)
            .await
            .unwrap(),
        1
    );
    assert!(s.sessions_of_user("u1", 100).await.unwrap().is_empty());
    assert_eq!(revoked(&s, &all).await, ["s1", "s2", "s3"]);
    assert_eq!(
        s.end_sessions_of_user("u1", None, false, 100)
            .await
            .unwrap(),
        0
    );
}

pub(crate) async fn a_new_password_ends_the_rest(s: Arc<dyn Store>) {
    for (id, user) in [(1, "u1"), (2, "u1"), (4, "u2")] {
        s.create_session(&session(id, user, 1000), None)
            .await
            .unwrap();
    }
    insert_grants(
        &s,
        &[
            grant_in("current", "u1", "openid", 1, 500),
            grant_in("current-offline", "u1", "openid offline_access", 1, 500),
            grant_in("s2-offline", "u1", "openid offline_access", 2, 500),
            grant_in("other-user", "u2", "openid", 4, 500),
            grant("device", "u1", "c1", "openid offline_access", 500),
        ],
    )
    .await;
    let all = [
        "current",
        "current-offline",
        "s2-offline",
        "other-user",
        "device",
    ];
    let n = s
        .end_sessions_of_user("u1", Some(&token_hash(1)), true, 100)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(s.session(&token_hash(1), 100).await.unwrap().is_some());
    assert!(s.session(&token_hash(2), 100).await.unwrap().is_none());
    assert_eq!(revoked(&s, &all).await, ["s2-offline", "device"]);
    // Each application hears once per (user, session) whose grant ended.
    assert_eq!(
        queued(&s).await,
        [
            ("c1".to_owned(), "u1".to_owned(), false),
            ("c1".to_owned(), "u1".to_owned(), true)
        ]
    );
}
