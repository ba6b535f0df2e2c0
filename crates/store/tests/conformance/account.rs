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

pub(crate) async fn withdrawing_a_scope(s: Arc<dyn Store>) {
    let consent = |user: &str, client: &str, scope: &str| valet_store::ConsentRecord {
        user_id: user.into(),
        client_id: client.into(),
        scope: scope.into(),
        created_at: 10,
        updated_at: 10,
    };
    s.save_consent(&consent("u1", "c1", "openid profile email"))
        .await
        .unwrap();
    s.save_consent(&consent("u1", "c2", "openid email"))
        .await
        .unwrap();
    insert_grants(
        &s,
        &[
            grant("a", "u1", "c1", "openid profile email", 500),
            grant("b", "u1", "c1", "email", 500),
            grant("c", "u1", "c1", "openid profile", 500),
            grant("expired", "u1", "c1", "openid email", 50),
            grant("other-client", "u1", "c2", "openid email", 500),
            grant("other-user", "u2", "c1", "openid email", 500),
            // A look-alike scope is another scope.
            grant("look-alike", "u1", "c1", "openid emails", 500),
            grant("revoked", "u1", "c1", "openid email", 500),
        ],
    )
    .await;
    s.revoke_grant("revoked", 500).await.unwrap();
    assert_eq!(s.grant_scope("a").await.unwrap(), Default::default());

    assert_eq!(s.withdraw_scope("u1", "c1", "email", 100).await.unwrap(), 2);
    assert_eq!(
        s.consent("u1", "c1").await.unwrap().unwrap().scope,
        "openid profile"
    );
    assert_eq!(
        s.consent("u1", "c1").await.unwrap().unwrap().updated_at,
        100
    );
    let a = s.grant_scope("a").await.unwrap();
    assert!(!a.revoked);
    assert_eq!(a.narrowed, Some(("openid profile".to_owned(), 100)));
    assert_eq!(s.grant("a").await.unwrap().unwrap().scope, "openid profile");
    // Left with nothing: revoked.
    let b = s.grant_scope("b").await.unwrap();
    assert!(b.revoked);
    assert_eq!(b.narrowed, Some((String::new(), 100)));
    // Untouched: no narrowing recorded.
    for id in [
        "c",
        "expired",
        "other-client",
        "other-user",
        "look-alike",
        "revoked",
    ] {
        assert_eq!(s.grant_scope(id).await.unwrap().narrowed, None, "{id}");
    }
    assert_eq!(
        revoked(&s, &["a", "b", "c", "other-client", "other-user"]).await,
        ["b"]
    );
    assert_eq!(
        s.consent("u1", "c2").await.unwrap().unwrap().scope,
        "openid email"
    );

    // Withdrawn already (or never given): nothing changes, not even the time.
    assert_eq!(s.withdraw_scope("u1", "c1", "email", 200).await.unwrap(), 0);
    assert_eq!(
        s.consent("u1", "c1").await.unwrap().unwrap().updated_at,
        100
    );
    assert_eq!(s.withdraw_scope("u9", "c1", "email", 200).await.unwrap(), 0);
    assert!(s.consent("u9", "c1").await.unwrap().is_none());
    assert_eq!(
        s.grant_scope("a").await.unwrap().narrowed,
        Some(("openid profile".to_owned(), 100))
    );
    // A second withdrawal moves the time on.
    assert_eq!(
        s.withdraw_scope("u1", "c1", "profile", 300).await.unwrap(),
        2
    );
    assert_eq!(
        s.grant_scope("a").await.unwrap().narrowed,
        Some(("openid".to_owned(), 300))
    );
}
