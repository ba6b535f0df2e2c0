//! One-time links sent by email (PostgreSQL). Same rules as `sqlite/links`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use crate::{LinkRecord, Links, Result, TokenHash, UnixTime};

const COLUMNS: &str = "hash, purpose, user_id, data, created_at, expires_at";

fn record(r: &PgRow) -> Result<LinkRecord> {
    Ok(LinkRecord {
        hash: r.try_get(0)?,
        purpose: r.try_get(1)?,
        user_id: r.try_get(2)?,
        data: r.try_get(3)?,
        created_at: r.try_get(4)?,
        expires_at: r.try_get(5)?,
    })
}

#[async_trait]
impl Links for PostgresStore {
    async fn create_link(&self, l: &LinkRecord) -> Result<()> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM one_time_links WHERE user_id = $1 AND purpose = $2")
                .bind(&l.user_id)
                .bind(&l.purpose)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "INSERT INTO one_time_links ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
            ))
            .bind(&l.hash)
            .bind(&l.purpose)
            .bind(&l.user_id)
            .bind(&l.data)
            .bind(l.created_at)
            .bind(l.expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
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
        self.timed(async {
            sqlx::query(&format!(
                "DELETE FROM one_time_links WHERE hash = $1 AND purpose = $2 AND expires_at > $3 \
                 RETURNING {COLUMNS}"
            ))
            .bind(hash)
            .bind(purpose)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
        })
        .await
    }

    async fn link(
        &self,
        hash: &TokenHash,
        purpose: &str,
        now: UnixTime,
    ) -> Result<Option<LinkRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM one_time_links \
                 WHERE hash = $1 AND purpose = $2 AND expires_at > $3"
            ))
            .bind(hash)
            .bind(purpose)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
        })
        .await
    }
}
