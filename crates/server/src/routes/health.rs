//! `/health/live` (the process answers) and `/health/ready` (the store answers and takes
//! writes: a node whose database is read-only, full or locked elsewhere is not ready,
//! issue 12, item 14).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::Shared;

/// Readiness checks in flight share one write (issue 12.14 made readiness a write, and the
/// endpoint is public): a probe that arrives while a check is running waits for the next
/// one to *start and finish after it arrived*, and takes that answer, so a flood of
/// probes costs about one write per write's duration, and no answer is older than the
/// request that gets it.
#[derive(Default)]
pub struct Readiness {
    /// Checks finished so far, and the last one's answer.
    last: tokio::sync::Mutex<(u64, bool)>,
    started: std::sync::atomic::AtomicU64,
}

impl Readiness {
    /// `probe`'s answer for this request, sharing a probe with those in flight.
    async fn check<F, Fut>(&self, probe: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        use std::sync::atomic::Ordering;
        // Every probe that starts after this point counts for this request.
        let arrived = self.started.load(Ordering::Acquire);
        let mut last = self.last.lock().await;
        if last.0 > arrived {
            return last.1;
        }
        let n = self.started.fetch_add(1, Ordering::AcqRel) + 1;
        let ok = probe().await;
        *last = (n, ok);
        ok
    }
}

pub async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "live" }))
}

pub async fn ready(State(state): State<Shared>) -> Response {
    let probe = || async {
        match state.store.check_writable(state.clock.now()).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "not ready: the store does not take writes");
                false
            }
        }
    };
    if state.readiness.check(probe).await {
        Json(json!({ "status": "ready", "store": state.store.backend() })).into_response()
    } else {
        let mut r = (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "store": state.store.backend() })),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_probes_share_a_write_and_later_ones_get_a_fresh_one() {
        let r = Arc::new(Readiness::default());
        let writes = Arc::new(AtomicUsize::new(0));
        // The first write is held until every probe has queued behind it.
        let gate = Arc::new(tokio::sync::Notify::new());
        let probe = |writes: Arc<AtomicUsize>, gate: Option<Arc<tokio::sync::Notify>>, ok| {
            move || async move {
                if writes.fetch_add(1, Ordering::SeqCst) == 0 {
                    if let Some(g) = gate {
                        g.notified().await;
                    }
                }
                ok
            }
        };
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (r, w, g) = (r.clone(), writes.clone(), gate.clone());
                tokio::spawn(async move { r.check(probe(w, Some(g), true)).await })
            })
            .collect();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        for t in tasks {
            assert!(t.await.unwrap());
        }
        let shared = writes.load(Ordering::SeqCst);
        assert!(shared <= 3, "{shared} writes for 200 concurrent probes");
        // A probe after those has its own write, and sees a store gone bad at once.
        assert!(!r.check(probe(writes.clone(), None, false)).await);
        assert_eq!(writes.load(Ordering::SeqCst), shared + 1);
    }
}
