//! One-time values already seen (`used_once`).

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::{Replays, Result, UnixTime};

#[async_trait]
impl Replays for SqliteStore {
    async fn first_use(&self, kind: &str, id: &str, expires_at: UnixTime) -> Result<bool> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.write(move |c| {
            // The single statement that decides which use of a one-time value counts.
            let n = c
                .prepare_cached(
                    "INSERT INTO used_once (kind, id, expires_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (kind, id) DO NOTHING",
                )?
                .execute(params![kind, id, expires_at])?;
            Ok(n == 1)
        })
        .await
    }
}
