//! Issue 21: `key_rotation_interval` rotates each algorithm's key on schedule, through
//! the usual publish → sign → retire timeline, and of several nodes exactly one rotates.

use valet_jose::Algorithm;
use valet_server::config::Partial;
use valet_server::keyring;
use valet_store::{AuditQuery, Store};

use crate::harness::{spawn_app, spawn_with};

async fn kids(store: &dyn Store) -> Vec<(String, String)> {
    store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.times.alg, k.times.kid))
        .collect()
}

#[tokio::test]
async fn of_two_nodes_rotating_at_once_exactly_one_rotates_each_key() {
    let app = spawn_app().await;
    let before = kids(app.store.as_ref()).await;
    assert_eq!(before.len(), Algorithm::ALL.len());
    let now = app.now() + 3600;
    let s = &app.settings;
    let rotate = || {
        keyring::rotate_due(
            app.store.as_ref(),
            &app.sealer,
            3600,
            now,
            s.key_activation_delay,
            s.key_retention(),
        )
    };
    let (a, b) = tokio::join!(rotate(), rotate());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.len() + b.len(),
        Algorithm::ALL.len(),
        "one new key per algorithm"
    );
    assert_eq!(
        kids(app.store.as_ref()).await.len(),
        2 * Algorithm::ALL.len()
    );
    // The new keys sign only after the activation delay: not due again meanwhile.
    let again = keyring::rotate_due(
        app.store.as_ref(),
        &app.sealer,
        3600,
        now + 60,
        s.key_activation_delay,
        s.key_retention(),
    )
    .await
    .unwrap();
    assert!(again.is_empty());
}

#[tokio::test]
async fn a_node_rotates_due_keys_by_itself_and_audits_it() {
    let app = spawn_with(|p| Partial {
        key_rotation_interval: Some("1h".into()),
        key_refresh_interval: Some(1),
        ..p
    })
    .await;
    let before = kids(app.store.as_ref()).await;
    app.clock.advance(3600);
    // The node's key loop runs every key_refresh_interval (a second of real time).
    let mut after = before.clone();
    for _ in 0..100 {
        after = kids(app.store.as_ref()).await;
        if after.len() == 2 * before.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(after.len(), 2 * before.len(), "{after:?}");
    let mut audited = Vec::new();
    for _ in 0..100 {
        audited = app
            .store
            .audit_events(&AuditQuery {
                action: Some("key.rotate".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        if audited.len() == before.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(audited.len(), before.len());
    assert!(audited.iter().all(|e| e.actor == "system:schedule"));
}
