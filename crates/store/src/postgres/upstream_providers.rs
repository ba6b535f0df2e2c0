//! Upstream identity providers added through the administration (PostgreSQL). Same rules
//! as `sqlite/upstream_providers`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use crate::{Result, UpstreamProviderRecord, UpstreamProviders};

const COLUMNS: &str = "id, config, secret, created_at, updated_at";

fn record(r: &PgRow) -> Result<UpstreamProviderRecord> {
    Ok(UpstreamProviderRecord {
        id: r.try_get(0)?,
        config: r.try_get(1)?,
        secret: r.try_get(2)?,
        created_at: r.try_get(3)?,
        updated_at: r.try_get(4)?,
    })
}

#[async_trait]
impl UpstreamProviders for PostgresStore {
    async fn upstream_providers(&self) -> Result<Vec<UpstreamProviderRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM upstream_providers ORDER BY id"
            ))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(record)
            .collect()
        })
        .await
    }

    async fn upstream_provider(&self, id: &str) -> Result<Option<UpstreamProviderRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM upstream_providers WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
        })
        .await
    }

    async fn create_upstream_provider(&self, p: &UpstreamProviderRecord) -> Result<()> {
        self.timed(async {
            sqlx::query(&format!(
                "INSERT INTO upstream_providers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            ))
            .bind(&p.id)
            .bind(&p.config)
            .bind(&p.secret)
            .bind(p.created_at)
            .bind(p.updated_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn update_upstream_provider(&self, p: &UpstreamProviderRecord) -> Result<bool> {
        self.timed(async {
            Ok(sqlx::query(
                "UPDATE upstream_providers SET config = $2, secret = $3, updated_at = $4 \
                 WHERE id = $1",
            )
            .bind(&p.id)
            .bind(&p.config)
            .bind(&p.secret)
            .bind(p.updated_at)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1)
        })
        .await
    }

    async fn delete_upstream_provider(&self, id: &str) -> Result<bool> {
        self.timed(async {
            Ok(sqlx::query("DELETE FROM upstream_providers WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1)
        })
        .await
    }
}
