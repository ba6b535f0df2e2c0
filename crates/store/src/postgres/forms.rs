//! Sealed forms already submitted (PostgreSQL). Same rules as `sqlite/forms`.

use async_trait::async_trait;

use super::PostgresStore;
use crate::{Result, SealedForms, UnixTime};

#[async_trait]
impl SealedForms for PostgresStore {
    /// The single statement that decides which submit of a sealed form counts: a racing
    /// insert of the same id waits for the first one's unique-index entry and then does
    /// nothing.
    async fn consume_sealed_form(&self, id: &str, expires_at: UnixTime) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query(
                "INSERT INTO used_forms (id, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO NOTHING",
            )
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
