//! One-time values already seen (PostgreSQL). Same rules as `sqlite/replays`.

use async_trait::async_trait;

use super::PostgresStore;
use crate::{Replays, Result, UnixTime};

#[async_trait]
impl Replays for PostgresStore {
    /// The single statement that decides which use of a one-time value counts: a racing
    /// insert of the same (kind, id) waits for the first one's unique-index entry and then
    /// does nothing.
    async fn first_use(&self, kind: &str, id: &str, expires_at: UnixTime) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query(
                "INSERT INTO used_once (kind, id, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (kind, id) DO NOTHING",
            )
            .bind(kind)
            .bind(id)
            .bind(expires_at)
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
        .await
    }
}
