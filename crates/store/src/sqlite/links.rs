//! One-time links sent by email.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, immediate};
use crate::{LinkRecord, Links, Result, TokenHash, UnixTime};

const COLUMNS: &str = "hash, purpose, user_id, data, created_at, expires_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LinkRecord> {
    Ok(LinkRecord {
        hash: r.get(0)?,
        purpose: r.get(1)?,
        user_id: r.get(2)?,
        data: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
    })
}

#[async_trait]
impl Links for SqliteStore {
    async fn create_link(&self, link: &LinkRecord) -> Result<()> {
        let l = link.clone();
        self.write(move |c| {
            let tx = immediate(c)?;
            tx.prepare_cached("DELETE FROM one_time_links WHERE user_id = ?1 AND purpose = ?2")?
                .execute(params![l.user_id, l.purpose])?;
            tx.prepare_cached(&format!(
                "INSERT INTO one_time_links ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))?
            .execute(params![
                l.hash,
                l.purpose,
                l.user_id,
                l.data,
                l.created_at,
                l.expires_at
            ])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn consume_link(
        &self,
        hash: &TokenHash,
        purpose: &str,
        now: UnixTime,
    ) -> Result<Option<LinkRecord>> {
        let (hash, purpose) = (hash.clone(), purpose.to_owned());
        self.write(move |c| {
            Ok(c.prepare_cached(&format!(
                "DELETE FROM one_time_links WHERE hash = ?1 AND purpose = ?2 AND expires_at > ?3 \
                 RETURNING {COLUMNS}"
            ))?
            .query_row(params![hash, purpose, now], row)
            .optional()?)
        })
        .await
    }

    async fn link(
        &self,
        hash: &TokenHash,
        purpose: &str,
        now: UnixTime,
    ) -> Result<Option<LinkRecord>> {
        let (hash, purpose) = (hash.clone(), purpose.to_owned());
        self.point_read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM one_time_links \
                 WHERE hash = ?1 AND purpose = ?2 AND expires_at > ?3"
            ))?
            .query_row(params![hash, purpose, now], row)
            .optional()?)
        })
        .await
    }
}
