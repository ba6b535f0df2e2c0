//! Issue 12.1 and 12.4 across nodes: sign-in attempts are counted in the store, so three
//! nodes together check no more passwords than one would.

use crate::node::{Backend, Cluster, PASSWORD, REDIRECT};
use std::sync::Arc;

async fn guesses_are_counted_across_nodes(backend: Backend) {
    let c = Cluster::start(backend, 3, &[]).await;
    c.user("alice");
    let app = c.client(&[
        "--name",
        "Legacy",
        "--profile",
        "web",
        "--redirect-uri",
        REDIRECT,
        "--grant",
        "password",
    ]);
    let c = Arc::new(c);
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (c, app) = (c.clone(), app.clone());
            tokio::spawn(async move {
                let form = [
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", "wrong-password"),
                ];
                c.post(i % 3, "/oauth2/token", &app, &form).await.0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 400).count();
    assert!(
        checked <= 10,
        "{checked} of 30 checked over 3 nodes: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [400, 429, 503].contains(s)),
        "{statuses:?}"
    );
    // One by one over the nodes, the rest of the ten: then the eleventh is refused.
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "wrong-password"),
    ];
    let mut more = 0;
    for i in 0..20 {
        match c.post(i % 3, "/oauth2/token", &app, &form).await.0 {
            400 => more += 1,
            429 => break,
            other => panic!("{other}"),
        }
    }
    assert_eq!(
        checked + more,
        10,
        "ten checks for the address, over all nodes"
    );
    // Every node now refuses this address for alice, even with the right password.
    for node in 0..3 {
        let form = [
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
        ];
        let (status, _) = c.post(node, "/oauth2/token", &app, &form).await;
        assert_eq!(status, 429, "node {node}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn postgres_guesses_are_counted_across_nodes() {
    guesses_are_counted_across_nodes(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_guesses_are_counted_across_nodes() {
    guesses_are_counted_across_nodes(Backend::Sqlite).await;
}
