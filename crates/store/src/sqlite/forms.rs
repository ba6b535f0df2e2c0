//! Sealed forms already submitted (`used_forms`).

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::{Result, SealedForms, UnixTime};

#[async_trait]
impl SealedForms for SqliteStore {
    async fn consume_sealed_form(&self, id: &str, expires_at: UnixTime) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |c| {
            // The single statement that decides which submit of a sealed form counts.
            let n = c
                .prepare_cached(
                    "INSERT INTO used_forms (id, expires_at) VALUES (?1, ?2) \
                     ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![id, expires_at])?;
            Ok(n == 1)
        })
        .await
    }
}
