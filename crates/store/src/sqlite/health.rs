//! Liveness (`ping`) and readiness (`check_writable`: the `heartbeat` row).

use async_trait::async_trait;
use rusqlite::params;

use super::{BUSY_TIMEOUT, SqliteStore};
use crate::{Health, Result, UnixTime};

/// How long readiness waits for another connection's write lock: a probe gives up after
/// about a second, and a node whose writes wait longer is not ready to take traffic.
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

#[async_trait]
impl Health for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| {
            Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(|_| ())?)
        })
        .await
    }

    /// One committed write (the `heartbeat` row). It fails on a read-only or full
    /// database, and when another connection holds the write lock for longer than
    /// `READY_WAIT`.
    async fn check_writable(&self, now: UnixTime) -> Result<()> {
        self.write(move |c| {
            c.busy_timeout(READY_WAIT)?;
            let written = c
                .prepare_cached(
                    "INSERT INTO heartbeat (id, at) VALUES (1, ?1) \
                     ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                )
                .and_then(|mut s| s.execute(params![now]));
            c.busy_timeout(BUSY_TIMEOUT)?;
            written?;
            Ok(())
        })
        .await
    }
}
