//! Readiness: whether the database takes writes (issue 12, item 14).

use std::sync::Arc;
use valet_store::Store;

pub(crate) async fn writable(s: Arc<dyn Store>) {
    s.ping().await.unwrap();
    // The same one-row write, as often as readiness is asked.
    for now in [100, 100, 101] {
        s.check_writable(now).await.unwrap();
    }
}
