//! Issue 12, item 14: `/health/ready` says ready only while the store takes writes. Here
//! another connection holds SQLite's write lock (a stuck admin command, another process):
//! reads still answer, every write would fail, and the node is not ready until the lock
//! goes. (`db_trouble` covers a database that does not answer at all.)

use serde_json::Value;
use std::time::{Duration, Instant};

use crate::harness::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_while_the_store_cannot_be_written() {
    let app = spawn_app().await;
    let ready = || async { app.http.get(app.url("/health/ready")).send().await.unwrap() };
    assert_eq!(ready().await.status(), 200);

    let other = rusqlite::Connection::open(app.sqlite_path()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let r = ready().await;
    assert_eq!(r.status(), 503, "not ready while writes cannot commit");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered within a probe's patience: {:?}",
        started.elapsed()
    );
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    // The process itself is alive, and reads go on.
    let live = app.http.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let jwks = app.http.get(app.url("/oauth2/jwks")).send().await.unwrap();
    assert_eq!(jwks.status(), 200);

    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(
        ready().await.status(),
        200,
        "ready again once writes go through"
    );
}
