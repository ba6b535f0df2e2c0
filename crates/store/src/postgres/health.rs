//! Liveness (`ping`) and readiness (`check_writable`: the `heartbeat` row), PostgreSQL.

use async_trait::async_trait;

use super::PostgresStore;
use crate::{Health, Result, UnixTime};

#[async_trait]
impl Health for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        self.timed(async {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
        .await
    }

    /// One committed write (the `heartbeat` row). It fails on a read-only database (a
    /// standby, `default_transaction_read_only`) or one that cannot write (a full disk).
    async fn check_writable(&self, now: UnixTime) -> Result<()> {
        self.timed(async {
            sqlx::query(
                "INSERT INTO heartbeat (id, at) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at",
            )
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }
}
