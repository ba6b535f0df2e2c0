//! Pushed authorization requests (PostgreSQL). Same rules as `sqlite/pushed_requests`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use crate::{PushedRequestRecord, PushedRequests, Result, TokenHash, UnixTime};

fn record(r: &PgRow) -> Result<PushedRequestRecord> {
    Ok(PushedRequestRecord {
        hash: r.try_get(0)?,
        client_id: r.try_get(1)?,
        params: r.try_get(2)?,
        expires_at: r.try_get(3)?,
    })
}

#[async_trait]
impl PushedRequests for PostgresStore {
    async fn push_request(&self, r: &PushedRequestRecord) -> Result<()> {
        self.timed(async {
            sqlx::query(
                "INSERT INTO pushed_requests (hash, client_id, params, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&r.hash)
            .bind(&r.client_id)
            .bind(&r.params)
            .bind(r.expires_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    /// A racing delete of the same row waits for the winner's row lock, then finds the row
    /// gone and returns nothing. An expired one goes too, unreturned.
    async fn take_pushed_request(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<PushedRequestRecord>> {
        self.timed(async {
            let taken = sqlx::query(
                "DELETE FROM pushed_requests WHERE hash = $1 \
                 RETURNING hash, client_id, params, expires_at",
            )
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()?;
            Ok(taken.filter(|r| r.expires_at > now))
        })
        .await
    }
}
