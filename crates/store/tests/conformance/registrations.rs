//! Self-registered applications (RFC 7591/7592, issue 14): deduplication decided by the
//! database, the registration access token, the last use, initial access tokens, purge.

use std::sync::Arc;
use valet_protocol::application::Origin;
use valet_store::{ClientRecord, Registered, RegistrationRecord, Store, TOUCH_INTERVAL};

use super::{client, token_hash};

fn dynamic(id: &str) -> ClientRecord {
    let mut c = client(id);
    c.app.registration.origin = Origin::Dynamic;
    c
}

fn reg(id: &str, token: u8, fingerprint: Option<u8>) -> RegistrationRecord {
    RegistrationRecord {
        client_id: id.into(),
        token_hash: token_hash(token),
        fingerprint: fingerprint.map(token_hash),
        created_at: 100,
        dedupe_until: 200,
        last_used_at: None,
        expires_at: 1000,
    }
}

async fn count_clients(s: &Arc<dyn Store>) -> usize {
    s.clients().await.unwrap().len()
}

pub async fn registrations(s: Arc<dyn Store>) {
    let r = s
        .register_client(&dynamic("d1"), &reg("d1", 1, Some(7)), None, 100)
        .await
        .unwrap();
    assert!(matches!(r, Registered::Created));
    assert_eq!(
        s.registration("d1").await.unwrap().unwrap(),
        reg("d1", 1, Some(7))
    );
    assert!(s.registration("nobody").await.unwrap().is_none());

    // Identical within the window: the same application, a fresh token.
    match s
        .register_client(&dynamic("d2"), &reg("d2", 2, Some(7)), None, 150)
        .await
        .unwrap()
    {
        Registered::Existing(c) => assert_eq!(c.app.client_id, "d1"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.registration("d1").await.unwrap().unwrap().token_hash,
        token_hash(2)
    );
    assert!(s.client("d2").await.unwrap().is_none());
    // Past the window, with another fingerprint, or none: new rows.
    for (id, fp, at) in [
        ("d3", Some(7), 200),
        ("d4", Some(8), 150),
        ("d5", None, 150),
    ] {
        let r = s
            .register_client(&dynamic(id), &reg(id, 3, fp), None, at)
            .await
            .unwrap();
        assert!(matches!(r, Registered::Created), "{id}");
    }
    assert_eq!(count_clients(&s).await, 4);

    // RFC 7592: update and delete only with the current token; an update rotates it.
    let mut changed = dynamic("d1");
    changed.app.name = "renamed".into();
    changed.updated_at = 160;
    assert!(
        !s.update_registered_client(&changed, &token_hash(1), &token_hash(9))
            .await
            .unwrap()
    );
    assert_eq!(s.client("d1").await.unwrap().unwrap().app.name, "app d1");
    assert!(
        s.update_registered_client(&changed, &token_hash(2), &token_hash(9))
            .await
            .unwrap()
    );
    assert_eq!(s.client("d1").await.unwrap().unwrap().app.name, "renamed");
    assert!(
        !s.update_registered_client(&changed, &token_hash(2), &token_hash(10))
            .await
            .unwrap()
    );
    assert!(
        !s.delete_registered_client("d1", &token_hash(2))
            .await
            .unwrap()
    );
    assert!(
        !s.delete_registered_client("d4", &token_hash(9))
            .await
            .unwrap()
    );
    assert!(
        s.delete_registered_client("d1", &token_hash(9))
            .await
            .unwrap()
    );
    assert!(s.client("d1").await.unwrap().is_none());
    assert!(s.registration("d1").await.unwrap().is_none());
    // An admin-registered application has no registration token at all.
    s.create_client(&client("admin")).await.unwrap();
    assert!(
        !s.delete_registered_client("admin", &token_hash(9))
            .await
            .unwrap()
    );
    assert!(s.client("admin").await.unwrap().is_some());
}

pub async fn initial_access_tokens(s: Arc<dyn Store>) {
    s.create_initial_access_token(&token_hash(40), Some(2), 100, 500)
        .await
        .unwrap();
    s.create_initial_access_token(&token_hash(41), None, 100, 500)
        .await
        .unwrap();
    let with = |s: Arc<dyn Store>, id: &'static str, t: u8, at: i64| async move {
        s.register_client(&dynamic(id), &reg(id, 1, None), Some(&token_hash(t)), at)
            .await
            .unwrap()
    };
    assert!(matches!(
        with(s.clone(), "i1", 40, 110).await,
        Registered::Created
    ));
    assert!(matches!(
        with(s.clone(), "i2", 40, 110).await,
        Registered::Created
    ));
    // Used up, unknown or expired: refused, and nothing written.
    assert!(matches!(
        with(s.clone(), "i3", 40, 110).await,
        Registered::TokenRefused
    ));
    assert!(matches!(
        with(s.clone(), "i3", 42, 110).await,
        Registered::TokenRefused
    ));
    assert!(matches!(
        with(s.clone(), "i3", 41, 500).await,
        Registered::TokenRefused
    ));
    assert!(s.client("i3").await.unwrap().is_none());
    for i in 0..5 {
        let id: &'static str = ["u0", "u1", "u2", "u3", "u4"][i];
        assert!(matches!(
            with(s.clone(), id, 41, 499).await,
            Registered::Created
        ));
    }
}

pub async fn racing_registrations(s: Arc<dyn Store>) {
    // Two concurrent identical registrations yield one row (issue 14).
    let mut tasks = Vec::new();
    for i in 0..50u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("race{i}");
            s.register_client(&dynamic(&id), &reg(&id, i, Some(77)), None, 100)
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += usize::from(matches!(t.await.unwrap(), Registered::Created));
    }
    assert_eq!(created, 1);
    assert_eq!(count_clients(&s).await, 1);
}

pub async fn last_use_and_expiry(s: Arc<dyn Store>) {
    for id in ["e1", "e2"] {
        s.register_client(&dynamic(id), &reg(id, 1, None), None, 100)
            .await
            .unwrap();
    }
    // A use is written once per interval, and keeps the application past its expiry.
    assert!(
        s.touch_registration("e1", 500, 5000, TOUCH_INTERVAL)
            .await
            .unwrap()
    );
    assert!(
        !s.touch_registration("e1", 600, 6000, TOUCH_INTERVAL)
            .await
            .unwrap()
    );
    let r = s.registration("e1").await.unwrap().unwrap();
    assert_eq!((r.last_used_at, r.expires_at), (Some(500), 5000));
    assert!(!s.touch_registration("nobody", 600, 6000, 0).await.unwrap());
    assert!(
        s.touch_registration("e1", 500 + TOUCH_INTERVAL, 4000, TOUCH_INTERVAL)
            .await
            .unwrap()
    );
    assert_eq!(
        s.registration("e1").await.unwrap().unwrap().expires_at,
        5000,
        "never shortened"
    );
    s.create_client(&client("admin")).await.unwrap();
    s.create_initial_access_token(&token_hash(50), None, 100, 1000)
        .await
        .unwrap();

    // Past e2's expiry the purge deletes the application and its registration; the
    // used one and the admin's stay. Bounded batches.
    let mut purged = 0;
    loop {
        let n = s.purge_expired(1001, 1).await.unwrap();
        if n == 0 {
            break;
        }
        purged += n;
    }
    assert!(purged >= 2, "{purged}");
    assert!(s.client("e2").await.unwrap().is_none());
    assert!(s.registration("e2").await.unwrap().is_none());
    assert!(s.client("e1").await.unwrap().is_some());
    assert!(s.client("admin").await.unwrap().is_some());
    // The initial access token expired too: refused.
    let r = s
        .register_client(
            &dynamic("late"),
            &reg("late", 1, None),
            Some(&token_hash(50)),
            1001,
        )
        .await
        .unwrap();
    assert!(matches!(r, Registered::TokenRefused));
    s.purge_expired(5001, 100).await.unwrap();
    assert!(s.client("e1").await.unwrap().is_none());
}
