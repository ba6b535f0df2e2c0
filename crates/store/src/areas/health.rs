//! Whether the database is there, and whether it takes writes (liveness and readiness).

use async_trait::async_trait;

use crate::{Result, UnixTime};

#[async_trait]
pub trait Health {
    /// Name of the backend, for logs.
    fn backend(&self) -> &'static str;

    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> Result<()>;

    /// Succeeds when the database accepts a write: one small write that commits (the one
    /// row of `heartbeat` set to `now`). Readiness asks this rather than `ping`: a
    /// database that answers reads while refusing writes (read-only, full, a write lock
    /// held elsewhere for more than about a second) is not ready.
    async fn check_writable(&self, now: UnixTime) -> Result<()>;
}
