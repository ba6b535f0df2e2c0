//! Pushed authorization requests (`pushed_requests`), taken once.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::{PushedRequestRecord, PushedRequests, Result, TokenHash, UnixTime};

#[async_trait]
impl PushedRequests for SqliteStore {
    async fn push_request(&self, record: &PushedRequestRecord) -> Result<()> {
        let r = record.clone();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO pushed_requests (hash, client_id, params, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![r.hash, r.client_id, r.params, r.expires_at])?;
            Ok(())
        })
        .await
    }

    async fn take_pushed_request(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<PushedRequestRecord>> {
        let hash = hash.clone();
        self.write(move |c| {
            // The single statement that decides which taker gets the request; an expired
            // one goes too, unreturned.
            let taken = c
                .prepare_cached(
                    "DELETE FROM pushed_requests WHERE hash = ?1 \
                     RETURNING hash, client_id, params, expires_at",
                )?
                .query_row(params![hash], |r| {
                    Ok(PushedRequestRecord {
                        hash: r.get(0)?,
                        client_id: r.get(1)?,
                        params: r.get(2)?,
                        expires_at: r.get(3)?,
                    })
                })
                .optional()?;
            Ok(taken.filter(|r| r.expires_at > now))
        })
        .await
    }
}
