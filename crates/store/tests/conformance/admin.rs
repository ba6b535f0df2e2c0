//! What administration needs of the store (issue 15): users updated and ended, live grants
//! listed, APIs replaced, keys revoked, and the audit trail.

use std::sync::Arc;
use valet_protocol::audience::{Api, ApiScope};
use valet_protocol::keys::KeyTimes;
use valet_protocol::user::UserClaims;
use valet_store::{
    ApiRecord, AuditQuery, AuditRecord, ConsentRecord, PasswordHash, Role, SigningKeyRecord, Store,
    StoreError, UserRecord,
};

use super::{grant, grant_in, insert_grants, revoked, session, token_hash};

fn user(id: &str, name: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        username: name.into(),
        claims: UserClaims::default(),
        password_hash: Some(PasswordHash("$argon2id$x".into())),
        disabled: false,
        role: Role::None,
        pending_until: None,
        created_at: 1,
        updated_at: 1,
    }
}

pub(crate) async fn user_updates(s: Arc<dyn Store>) {
    s.create_user(&user("u1", "ann")).await.unwrap();
    s.create_user(&user("u2", "bob")).await.unwrap();
    let mut ann = user("u1", "Annie");
    ann.role = Role::Viewer;
    ann.disabled = true;
    ann.updated_at = 7;
    assert!(s.update_user(&ann).await.unwrap());
    assert_eq!(s.user("u1").await.unwrap().unwrap(), ann);
    assert!(s.user_by_username("ann").await.unwrap().is_none());
    // Another user's name (in any case) is taken; nothing changes.
    let clash = UserRecord {
        username: "BOB".into(),
        ..ann.clone()
    };
    assert!(matches!(
        s.update_user(&clash).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.user("u1").await.unwrap().unwrap(), ann);
    assert!(!s.update_user(&user("nobody", "x")).await.unwrap());
}

pub(crate) async fn ending_a_user(s: Arc<dyn Store>) {
    s.create_user(&user("u1", "ann")).await.unwrap();
    s.create_user(&user("u2", "bob")).await.unwrap();
    for (id, u) in [(1, "u1"), (2, "u1"), (3, "u2")] {
        s.create_session(&session(id, u, 1000), None).await.unwrap();
    }
    insert_grants(
        &s,
        &[
            grant_in("a1", "u1", "openid", 1, 500),
            grant("a2", "u1", "c2", "offline_access", 500),
            grant("b1", "u2", "c1", "openid", 500),
        ],
    )
    .await;
    for u in ["u1", "u2"] {
        s.save_consent(&ConsentRecord {
            user_id: u.into(),
            client_id: "c1".into(),
            scope: "openid".into(),
            created_at: 1,
            updated_at: 1,
        })
        .await
        .unwrap();
    }
    assert_eq!(s.sessions_of_user("u1", 10).await.unwrap().len(), 2);
    assert_eq!(s.count_sessions(10).await.unwrap(), 3);

    // Ending ann's access: every session, consent and grant of hers, nobody else's.
    assert_eq!(s.end_user_access("u1", 10).await.unwrap(), 2);
    assert!(s.sessions_of_user("u1", 10).await.unwrap().is_empty());
    assert!(s.session(&token_hash(1), 10).await.unwrap().is_none());
    assert!(s.session(&token_hash(3), 10).await.unwrap().is_some());
    assert!(s.consent("u1", "c1").await.unwrap().is_none());
    assert!(s.consent("u2", "c1").await.unwrap().is_some());
    assert_eq!(revoked(&s, &["a1", "a2", "b1"]).await, ["a1", "a2"]);
    assert!(s.user("u1").await.unwrap().is_some(), "the user stays");

    // Deleting bob ends his in the same transaction.
    assert!(s.delete_user("BOB", 10).await.unwrap());
    assert!(s.session(&token_hash(3), 10).await.unwrap().is_none());
    assert!(s.consent("u2", "c1").await.unwrap().is_none());
    assert_eq!(revoked(&s, &["b1"]).await, ["b1"]);
    assert!(!s.delete_user("bob", 10).await.unwrap());
    assert_eq!(s.count_sessions(10).await.unwrap(), 0);
}

pub(crate) async fn live_grants(s: Arc<dyn Store>) {
    let at = |id: &str, user: &str, client: &str, created: i64, expires: i64| {
        let mut g = grant(id, user, client, "openid", expires);
        g.created_at = created;
        g
    };
    insert_grants(
        &s,
        &[
            at("g1", "u1", "c1", 1, 500),
            at("g2", "u1", "c2", 2, 500),
            at("g3", "u2", "c1", 3, 500),
            at("g4", "u1", "c1", 4, 50), // expired at 100
            at("g5", "u1", "c1", 5, 500),
        ],
    )
    .await;
    s.revoke_grant("g5", 500).await.unwrap();
    let ids = |v: Vec<valet_store::GrantRecord>| -> Vec<String> {
        v.into_iter().map(|g| g.grant_id).collect()
    };
    assert_eq!(
        ids(s.live_grants(None, None, 100, None, 10).await.unwrap()),
        ["g3", "g2", "g1"]
    );
    assert_eq!(
        ids(s
            .live_grants(Some("u1"), None, 100, None, 10)
            .await
            .unwrap()),
        ["g2", "g1"]
    );
    assert_eq!(
        ids(s
            .live_grants(Some("u1"), Some("c1"), 100, None, 10)
            .await
            .unwrap()),
        ["g1"]
    );
    assert_eq!(
        ids(s
            .live_grants(None, Some("c1"), 100, None, 10)
            .await
            .unwrap()),
        ["g3", "g1"]
    );
    // Pages: newest first, then after the cursor.
    assert_eq!(
        ids(s.live_grants(None, None, 100, None, 2).await.unwrap()),
        ["g3", "g2"]
    );
    assert_eq!(
        ids(s.live_grants(None, None, 100, Some("g2"), 2).await.unwrap()),
        ["g1"]
    );
}

pub(crate) async fn api_updates(s: Arc<dyn Store>) {
    let api = |aud: &str, name: &str, scopes: &[&str]| ApiRecord {
        name: name.into(),
        api: Api {
            audience: aud.into(),
            scopes: scopes
                .iter()
                .map(|n| ApiScope {
                    name: (*n).into(),
                    description: format!("d {n}"),
                })
                .collect(),
            access_token_format: Default::default(),
            introspectors: vec![],
            token_exchange: vec![],
        },
        created_at: 1,
    };
    s.create_api(&api("https://a", "A", &["a.read"]))
        .await
        .unwrap();
    s.create_api(&api("https://b", "B", &["b.read"]))
        .await
        .unwrap();
    let changed = api("https://a", "A2", &["a.read", "a.write", "a.admin"]);
    assert!(s.update_api(&changed).await.unwrap());
    let all = s.apis().await.unwrap();
    assert_eq!(all[0], changed, "scopes in their order");
    // A scope of another API: refused whole.
    let clash = api("https://a", "A3", &["a.read", "b.read"]);
    assert!(matches!(
        s.update_api(&clash).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.apis().await.unwrap()[0], changed);
    assert!(
        !s.update_api(&api("https://none", "N", &["n"]))
            .await
            .unwrap()
    );
}

pub(crate) async fn key_revocation(s: Arc<dyn Store>) {
    let key = |kid: &str, until: Option<i64>| SigningKeyRecord {
        times: KeyTimes {
            kid: kid.into(),
            alg: "ES256".into(),
            created_at: 1,
            activates_at: 1,
            publish_until: until,
        },
        sealed_private: vec![1],
        public_jwk: "{}".into(),
    };
    assert!(s.insert_first_signing_key(&key("k1", None)).await.unwrap());
    s.rotate_signing_key(&key("k2", Some(900)), &[])
        .await
        .unwrap();
    s.rotate_signing_key(&key("k3", Some(50)), &[])
        .await
        .unwrap();
    assert!(s.revoke_signing_key("k1", 100).await.unwrap());
    // Retiring later: brought forward to now.
    assert!(s.revoke_signing_key("k2", 100).await.unwrap());
    // Already gone, or unknown: nothing to do.
    assert!(!s.revoke_signing_key("k3", 100).await.unwrap());
    assert!(!s.revoke_signing_key("k1", 200).await.unwrap());
    assert!(!s.revoke_signing_key("nope", 100).await.unwrap());
    let until: Vec<_> = s
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.times.kid, k.times.publish_until))
        .collect();
    assert_eq!(
        until,
        [
            ("k1".to_string(), Some(100)),
            ("k2".to_string(), Some(100)),
            ("k3".to_string(), Some(50))
        ]
    );
}

pub(crate) async fn audit_trail(s: Arc<dyn Store>) {
    let ev = |at: i64, actor: &str, action: &str, target: &str| AuditRecord {
        id: 0,
        at,
        actor: actor.into(),
        address: (actor == "client:x").then(|| "192.0.2.1".into()),
        action: action.into(),
        target: target.into(),
        changes: format!(r#"{{"n":{at}}}"#),
        request_id: (at == 20).then(|| "req-20".into()),
    };
    s.record_audit(&[
        ev(10, "cli:root", "client.create", "client:a"),
        ev(20, "client:x", "user.disable", "user:ann"),
    ])
    .await
    .unwrap();
    s.record_audit(&[ev(30, "cli:root", "user.delete", "user:ann")])
        .await
        .unwrap();
    s.record_audit(&[]).await.unwrap();
    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            limit: 10,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let all = s.audit_events(&q(|_| {})).await.unwrap();
    let ats: Vec<i64> = all.iter().map(|e| e.at).collect();
    assert_eq!(ats, [30, 20, 10], "newest first");
    assert!(all[0].id > all[1].id && all[1].id > all[2].id);
    assert_eq!(all[1].address.as_deref(), Some("192.0.2.1"));
    assert_eq!(all[1].changes, r#"{"n":20}"#);
    assert_eq!(all[1].request_id.as_deref(), Some("req-20"));
    assert_eq!(all[0].request_id, None);
    let at = |v: Vec<AuditRecord>| -> Vec<i64> { v.into_iter().map(|e| e.at).collect() };
    assert_eq!(
        at(s.audit_events(&q(|q| q.request_id = Some("req-20".into())))
            .await
            .unwrap()),
        [20]
    );
    assert_eq!(
        at(s.audit_events(&q(|q| q.since = Some(20))).await.unwrap()),
        [30, 20]
    );
    assert_eq!(
        at(s.audit_events(&q(|q| q.until = Some(20))).await.unwrap()),
        [20, 10]
    );
    assert_eq!(
        at(s.audit_events(&q(|q| q.actor = Some("cli:root".into())))
            .await
            .unwrap()),
        [30, 10]
    );
    // `action` is a prefix, literally: `_` and `%` are no wildcards.
    assert_eq!(
        at(s.audit_events(&q(|q| q.action = Some("user.".into())))
            .await
            .unwrap()),
        [30, 20]
    );
    assert!(
        s.audit_events(&q(|q| q.action = Some("user%".into())))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        at(s.audit_events(&q(|q| q.target = Some("user:ann".into())))
            .await
            .unwrap()),
        [30, 20]
    );
    // Pages after a cursor.
    let first = s
        .audit_events(&AuditQuery {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let next = s
        .audit_events(&AuditQuery {
            limit: 2,
            before: Some(first[1].id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(at(next), [10]);
    // Retention: oldest first, in batches.
    assert_eq!(s.purge_audit(25, 1).await.unwrap(), 1);
    assert_eq!(s.purge_audit(25, 10).await.unwrap(), 1);
    assert_eq!(s.purge_audit(25, 10).await.unwrap(), 0);
    assert_eq!(at(s.audit_events(&q(|_| {})).await.unwrap()), [30]);
}
