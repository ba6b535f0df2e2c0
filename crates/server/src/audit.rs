//! Security events into the audit trail (issue 15): what a request decided about someone
//! (a sign-in, a failed one, a consent, a refresh-token replay) becomes a row beside the
//! administrative changes, so the CLI, the admin API and the console show both.
//!
//! A request never waits for the store: `AuditLog::event` queues the row (bounded; when
//! the queue is full the row is dropped and counted, and the `valet::audit` log line the
//! caller writes anyway keeps it), and one writer task stores the queue in batches. An
//! unauthenticated caller can make rows (failed sign-ins), so rows are bounded in rate by
//! the throttles in front of them and in number by `audit_retention`.

use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};
use valet_store::{AuditRecord, Store};

/// Rows waiting to be written, at most.
const QUEUE: usize = 4096;
/// Rows per store call, at most.
const BATCH: usize = 256;

enum Item {
    Row(AuditRecord),
    /// Answered once every row queued before it is written (tests, shutdown).
    Flush(oneshot::Sender<()>),
}

pub struct AuditLog {
    queue: mpsc::Sender<Item>,
    dropped: AtomicU64,
}

impl AuditLog {
    /// The log and its writer, which the caller spawns (`tokio::spawn(writer)`).
    pub fn new(store: Arc<dyn Store>) -> (Self, impl std::future::Future<Output = ()>) {
        let (queue, rx) = mpsc::channel(QUEUE);
        let log = Self {
            queue,
            dropped: AtomicU64::new(0),
        };
        (log, write(store, rx))
    }

    /// Queues one event: `actor` as in `admin::Actor` (`user:NAME`, `client:ID`,
    /// `anonymous`), `target` as in `admin::Target`, `details` a JSON object without
    /// secrets.
    pub fn event(
        &self,
        now: i64,
        action: &str,
        actor: String,
        address: Option<std::net::IpAddr>,
        target: String,
        details: Value,
    ) {
        let row = AuditRecord {
            id: 0,
            at: now,
            actor,
            address: address.map(|a| a.to_string()),
            action: action.to_owned(),
            target,
            changes: details.to_string(),
            request_id: crate::request_id::current(),
        };
        if self.queue.try_send(Item::Row(row)).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "the audit queue is full: security events are kept in the log only"
                );
            }
        }
    }

    /// Events dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every event queued so far is stored.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.queue.send(Item::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn write(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Item>) {
    let mut buf: Vec<Item> = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut buf, BATCH).await > 0 {
        let mut rows = Vec::new();
        let mut flushes = Vec::new();
        for item in buf.drain(..) {
            match item {
                Item::Row(r) => rows.push(r),
                Item::Flush(f) => flushes.push(f),
            }
        }
        if !rows.is_empty() {
            if let Err(e) = store.record_audit(&rows).await {
                tracing::warn!(error = %e, events = rows.len(),
                    "security events could not be stored (they are in the log)");
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}
