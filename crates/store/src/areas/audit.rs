//! The audit trail: every administrative change and every security event, as rows kept for
//! the operator's retention (issue 15).

use async_trait::async_trait;

use crate::{Result, UnixTime};

/// One event. `changes` is a JSON object the server wrote (field → `{from, to}` for an
/// administrative change, the event's details for a security event), opaque to the store;
/// it never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Assigned by the store, increasing; 0 in a record not yet written.
    pub id: i64,
    pub at: UnixTime,
    /// Who: `cli:<os user>`, `user:<username>`, `client:<client_id>`, or `anonymous`.
    pub actor: String,
    /// Where from: the caller's IP address, when there was one.
    pub address: Option<String>,
    /// What, as `area.verb`: `client.update`, `user.disable`, `signin.failed`, …
    pub action: String,
    /// On what: `client:<id>`, `user:<username>`, `api:<audience>`, `key:<kid>`, …
    pub target: String,
    pub changes: String,
    /// The `X-Request-Id` of the request that made it (issue 21); `None` from the CLI.
    pub request_id: Option<String>,
}

/// Which events to read: all of them match every filter given; newest first, after the
/// `before` id when given (the cursor of the next page), at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub since: Option<UnixTime>,
    pub until: Option<UnixTime>,
    pub actor: Option<String>,
    /// A prefix of `action` (`user.` matches every user event).
    pub action: Option<String>,
    pub target: Option<String>,
    /// Every event of one request (`X-Request-Id`).
    pub request_id: Option<String>,
    pub before: Option<i64>,
    pub limit: u32,
}

#[async_trait]
pub trait Audit {
    /// Appends the events, in one transaction.
    async fn record_audit(&self, events: &[AuditRecord]) -> Result<()>;
    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;
    /// Deletes at most `batch` events older than `before`, oldest first. Returns how many.
    async fn purge_audit(&self, before: UnixTime, batch: u32) -> Result<u64>;
}
