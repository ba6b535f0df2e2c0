//! Applications, users, APIs and signing keys.

use std::sync::Arc;
use valet_protocol::audience::{Api, ApiScope, ExchangeRule};
use valet_protocol::keys::KeyTimes;
use valet_protocol::user::UserClaims;
use valet_store::{
    ApiRecord, PasswordHash, SecretHash, SigningKeyRecord, Store, StoreError, UserRecord,
};

use super::client;

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

pub(crate) async fn clients(s: Arc<dyn Store>) {
    s.create_client(&client("c1")).await.unwrap();
    assert!(matches!(
        s.create_client(&client("c1")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.client("c1").await.unwrap().unwrap(), client("c1"));
    assert!(s.client("nope").await.unwrap().is_none());
    // Whether the authentication method was chosen is part of the registration (issue 12,
    // item 18): it round-trips.
    let mut chosen = client("c-chosen");
    chosen.app.token_endpoint_auth_method_chosen = true;
    s.create_client(&chosen).await.unwrap();
    let got = s.client("c-chosen").await.unwrap().unwrap();
    assert!(got.app.token_endpoint_auth_method_chosen);
    assert_eq!(got, chosen);
    assert!(s.delete_client("c-chosen").await.unwrap());

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
        role: valet_store::Role::None,
        pending_until: None,
        created_at: 5,
        updated_at: 5,
    }
}

pub(crate) async fn users(s: Arc<dyn Store>) {
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
    assert!(s.delete_user("aLiCe", 10).await.unwrap());
    assert!(!s.delete_user("alice", 10).await.unwrap());
    // A new Alice is a new subject: the old id is not reassigned.
    s.create_user(&user("u4", "alice")).await.unwrap();
    assert_eq!(s.user_by_username("alice").await.unwrap().unwrap().id, "u4");
    assert!(s.user("u1").await.unwrap().is_none());
}

pub(crate) async fn apis(s: Arc<dyn Store>) {
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
            access_token_format: Default::default(),
            introspectors: vec![],
            token_exchange: vec![],
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

pub(crate) async fn signing_keys(s: Arc<dyn Store>) {
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

/// The applications an API names as its introspectors are kept, in order, with the API,
/// and go with it.
pub(crate) async fn api_introspectors(s: Arc<dyn Store>) {
    let api = |aud: &str, scope: &str, introspectors: &[&str]| ApiRecord {
        name: aud.into(),
        api: Api {
            audience: aud.into(),
            scopes: vec![ApiScope {
                name: scope.into(),
                description: "d".into(),
            }],
            access_token_format: Default::default(),
            introspectors: introspectors.iter().map(|s| (*s).to_owned()).collect(),
            token_exchange: vec![],
        },
        created_at: 1,
    };
    let mut named = api("https://n", "n.read", &["rs-2", "rs-1"]);
    // Its token exchange policy (issue 20) is kept too, scopes and all.
    named.api.token_exchange = vec![
        ExchangeRule {
            client_id: "agent".into(),
            scopes: vec!["n.read".into()],
        },
        ExchangeRule {
            client_id: "svc".into(),
            scopes: vec![],
        },
    ];
    let none = api("https://z", "z.read", &[]);
    s.create_api(&named).await.unwrap();
    s.create_api(&none).await.unwrap();
    let mut apis = s.apis().await.unwrap();
    apis.sort_by(|a, b| a.api.audience.cmp(&b.api.audience));
    assert_eq!(apis, [named.clone(), none]);
    let mut narrowed = named.clone();
    narrowed.api.token_exchange.truncate(1);
    assert!(s.update_api(&narrowed).await.unwrap());
    let read = s.apis().await.unwrap();
    let n = read.iter().find(|a| a.api.audience == "https://n").unwrap();
    assert_eq!(n.api.token_exchange, narrowed.api.token_exchange);
    assert!(s.delete_api("https://n").await.unwrap());
    s.create_api(&api("https://n", "n.read", &[]))
        .await
        .unwrap();
    let again = s.apis().await.unwrap();
    let n = again
        .iter()
        .find(|a| a.api.audience == "https://n")
        .unwrap();
    assert!(
        n.api.introspectors.is_empty() && n.api.token_exchange.is_empty(),
        "nothing left of the old API"
    );
}
