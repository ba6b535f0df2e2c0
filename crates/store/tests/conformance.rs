#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The storage contract, checked against every backend. Each backend gets a fresh
//! database; the same `suite` functions run on all of them.

use std::sync::Arc;
use valet_protocol::application::{Application, AuthMethod, GrantType, Profile};
use valet_protocol::audience::{Api, ApiScope};
use valet_protocol::keys::KeyTimes;
use valet_protocol::user::UserClaims;
use valet_store::sqlite::SqliteStore;
use valet_store::{
    ApiRecord, ClientRecord, CodeRecord, CodeUse, PasswordHash, SecretHash, SigningKeyRecord,
    Store, StoreError, UserRecord,
};

async fn sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("valet.db"))
        .await
        .unwrap();
    (dir, Arc::new(store))
}

fn client(id: &str) -> ClientRecord {
    ClientRecord {
        app: Application {
            client_id: id.into(),
            name: format!("app {id}"),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile: Profile::Service,
            redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["a".into()],
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            trusted: false,
            service_subject: None,
        },
        secret: Some(SecretHash(vec![1; 32])),
        previous_secret: None,
        created_at: 100,
        updated_at: 100,
    }
}

fn key(kid: &str, alg: &str, created: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        times: KeyTimes {
            kid: kid.into(),
            alg: alg.into(),
            created_at: created,
            activates_at: created,
            publish_until: None,
        },
        sealed_private: vec![9; 40],
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
    }
}

async fn clients(s: Arc<dyn Store>) {
    s.create_client(&client("c1")).await.unwrap();
    assert!(matches!(
        s.create_client(&client("c1")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.client("c1").await.unwrap().unwrap(), client("c1"));
    assert!(s.client("nope").await.unwrap().is_none());

    let mut c = client("c1");
    c.app.name = "renamed".into();
    c.updated_at = 200;
    assert!(s.update_client(&c).await.unwrap());
    let got = s.client("c1").await.unwrap().unwrap();
    assert_eq!(got.app.name, "renamed");
    assert_eq!(
        got.secret,
        Some(SecretHash(vec![1; 32])),
        "update keeps the secret"
    );

    // Rotation with a grace period keeps the old hash, without one it drops it.
    assert!(
        s.rotate_client_secret("c1", &SecretHash(vec![2; 32]), Some(500), 300)
            .await
            .unwrap()
    );
    let got = s.client("c1").await.unwrap().unwrap();
    assert_eq!(got.secret, Some(SecretHash(vec![2; 32])));
    assert_eq!(got.previous_secret, Some((SecretHash(vec![1; 32]), 500)));
    assert!(
        s.rotate_client_secret("c1", &SecretHash(vec![3; 32]), None, 301)
            .await
            .unwrap()
    );
    let got = s.client("c1").await.unwrap().unwrap();
    assert_eq!(got.previous_secret, None);
    assert!(
        !s.rotate_client_secret("nope", &SecretHash(vec![3; 32]), None, 1)
            .await
            .unwrap()
    );

    s.create_client(&client("c2")).await.unwrap();
    let ids: Vec<String> = s
        .clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.app.client_id)
        .collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert!(s.delete_client("c1").await.unwrap());
    assert!(!s.delete_client("c1").await.unwrap());
    assert!(s.client("c1").await.unwrap().is_none());
}

fn user(id: &str, username: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        username: username.into(),
        claims: UserClaims {
            name: Some(format!("{username} Example")),
            email: Some(format!("{username}@example.com")),
            email_verified: true,
            ..Default::default()
        },
        password_hash: Some(PasswordHash(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        )),
        disabled: false,
        created_at: 5,
        updated_at: 5,
    }
}

async fn users(s: Arc<dyn Store>) {
    s.create_user(&user("u1", "Alice")).await.unwrap();
    // Login names are unique regardless of case; ids are unique.
    assert!(matches!(
        s.create_user(&user("u2", "alice")).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.create_user(&user("u1", "bob")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.user_by_username("ALICE").await.unwrap().unwrap(),
        user("u1", "Alice")
    );
    assert_eq!(s.user("u1").await.unwrap().unwrap().username, "Alice");
    assert!(s.user_by_username("nobody").await.unwrap().is_none());
    s.create_user(&user("u3", "bob")).await.unwrap();
    let names: Vec<String> = s
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["Alice", "bob"]);
    assert!(s.delete_user("aLiCe").await.unwrap());
    assert!(!s.delete_user("alice").await.unwrap());
    // A new Alice is a new subject: the old id is not reassigned.
    s.create_user(&user("u4", "alice")).await.unwrap();
    assert_eq!(s.user_by_username("alice").await.unwrap().unwrap().id, "u4");
    assert!(s.user("u1").await.unwrap().is_none());
}

fn code(hash: u8, expires_at: i64) -> CodeRecord {
    CodeRecord {
        hash: vec![hash; 32],
        client_id: "c1".into(),
        grant_id: format!("g{hash}"),
        details: r#"{"redirect_uri":"https://app.example/cb"}"#.into(),
        expires_at,
    }
}

async fn codes(s: Arc<dyn Store>) {
    s.insert_code(&code(1, 160)).await.unwrap();
    assert!(matches!(
        s.insert_code(&code(1, 160)).await,
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
    s.insert_code(&code(2, 160)).await.unwrap();
    assert_eq!(
        s.consume_code(&[2; 32], 160).await.unwrap(),
        CodeUse::Unknown
    );
    // A used code is remembered past its expiry, then purged.
    assert_eq!(
        s.consume_code(&[1; 32], 500).await.unwrap(),
        CodeUse::Replayed(code(1, 160))
    );
    s.purge_expired(160 + valet_store::sqlite::CODE_REPLAY_MEMORY + 1, 100)
        .await
        .unwrap();
    assert_eq!(
        s.consume_code(&[1; 32], 900).await.unwrap(),
        CodeUse::Unknown
    );
}

async fn racing_redemptions(s: Arc<dyn Store>) {
    // Checklist D2: 50 concurrent redemptions of one code, exactly one wins.
    s.insert_code(&code(7, i64::MAX)).await.unwrap();
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

async fn grants(s: Arc<dyn Store>) {
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

async fn apis(s: Arc<dyn Store>) {
    let api = |aud: &str, scopes: &[&str]| ApiRecord {
        name: aud.into(),
        api: Api {
            audience: aud.into(),
            scopes: scopes
                .iter()
                .map(|n| ApiScope {
                    name: (*n).into(),
                    description: format!("d {n}"),
                })
                .collect(),
        },
        created_at: 1,
    };
    s.create_api(&api("https://a", &["a.read", "a.write"]))
        .await
        .unwrap();
    // A taken scope name refuses the whole API: nothing half-written.
    let clash = s.create_api(&api("https://b", &["b.read", "a.read"])).await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))));
    let all = s.apis().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0], api("https://a", &["a.read", "a.write"]));
    s.create_api(&api("https://b", &["b.read"])).await.unwrap();
    assert!(s.delete_api("https://a").await.unwrap());
    let all = s.apis().await.unwrap();
    assert_eq!(all.len(), 1);
    // Scopes of a deleted API are free again.
    s.create_api(&api("https://c", &["a.read"])).await.unwrap();
}

async fn signing_keys(s: Arc<dyn Store>) {
    // Ten nodes starting at once: exactly one first key per algorithm.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.insert_first_signing_key(&key(&format!("es{i}"), "ES256", 10))
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
    assert!(
        s.insert_first_signing_key(&key("rs", "RS256", 10))
            .await
            .unwrap()
    );
    let es = s
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.times.alg == "ES256")
        .unwrap();

    s.rotate_signing_key(&key("es-new", "ES256", 20), &[(es.times.kid.clone(), 900)])
        .await
        .unwrap();
    let keys = s.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 3);
    let old = keys.iter().find(|k| k.times.kid == es.times.kid).unwrap();
    assert_eq!(old.times.publish_until, Some(900));
    assert_eq!(old.sealed_private, vec![9; 40]);

    // A duplicate kid aborts the rotation: the old key is not retired either.
    let r = s
        .rotate_signing_key(&key("rs", "RS256", 30), &[("es-new".into(), 50)])
        .await;
    assert!(r.is_err());
    let keys = s.signing_keys().await.unwrap();
    assert_eq!(
        keys.iter()
            .find(|k| k.times.kid == "es-new")
            .unwrap()
            .times
            .publish_until,
        None
    );

    // Purge removes keys whose publication ended.
    s.purge_expired(901, 100).await.unwrap();
    assert!(
        s.signing_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.times.kid != es.times.kid)
    );
}

async fn revocations(s: Arc<dyn Store>) {
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

macro_rules! backend_suite {
    ($backend:ident, $($name:ident),+) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (_guard, store) = super::$backend().await;
                    super::$name(store).await;
                }
            )+
        }
    };
}

backend_suite!(
    sqlite,
    clients,
    users,
    apis,
    signing_keys,
    revocations,
    codes,
    racing_redemptions,
    grants
);

#[tokio::test]
async fn sqlite_migrations_are_idempotent_and_refuse_newer_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    drop(SqliteStore::open(&path).await.unwrap());
    let s = SqliteStore::open(&path).await.unwrap();
    s.create_client(&client("x")).await.unwrap();
    drop(s);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match SqliteStore::open(&path).await {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("upgrade Valet")),
        other => panic!("expected a schema error, got {:?}", other.err()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_stores_on_one_file_still_redeem_once() {
    // Two processes (or nodes) over one file: the database, not a lock in Valet, decides.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    a.insert_code(&code(3, i64::MAX)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.consume_code(&[3; 32], 10).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        fresh += usize::from(matches!(t.await.unwrap(), CodeUse::Fresh(_)));
    }
    assert_eq!(fresh, 1);
}
