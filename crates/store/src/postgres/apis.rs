//! APIs and their scopes (PostgreSQL). Same rules as `sqlite/apis`; scopes keep their
//! order in a `position` column.

use async_trait::async_trait;
use sqlx::Row;
use valet_protocol::audience::{Api, ApiScope};

use super::PostgresStore;
use crate::model::ApiRecord;
use crate::{Apis, Result, StoreError};

#[async_trait]
impl Apis for PostgresStore {
    async fn create_api(&self, a: &ApiRecord) -> Result<()> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO apis (audience, name, created_at, access_token_format, introspectors, \
                                   token_exchange) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&a.api.audience)
            .bind(&a.name)
            .bind(a.created_at)
            .bind(a.api.access_token_format.as_str())
            .bind(serde_json::to_string(&a.api.introspectors)?)
            .bind(serde_json::to_string(&a.api.token_exchange)?)
            .execute(&mut *tx)
            .await?;
            for (position, s) in a.api.scopes.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO api_scopes (name, audience, description, position) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&s.name)
                .bind(&a.api.audience)
                .bind(&s.description)
                .bind(i32::try_from(position).unwrap_or(i32::MAX))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn update_api(&self, a: &ApiRecord) -> Result<bool> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            let n = sqlx::query(
                "UPDATE apis SET name = $2, access_token_format = $3, introspectors = $4, \
                        token_exchange = $5 \
                 WHERE audience = $1",
            )
            .bind(&a.api.audience)
            .bind(&a.name)
            .bind(a.api.access_token_format.as_str())
            .bind(serde_json::to_string(&a.api.introspectors)?)
            .bind(serde_json::to_string(&a.api.token_exchange)?)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM api_scopes WHERE audience = $1")
                .bind(&a.api.audience)
                .execute(&mut *tx)
                .await?;
            for (position, s) in a.api.scopes.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO api_scopes (name, audience, description, position) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&s.name)
                .bind(&a.api.audience)
                .bind(&s.description)
                .bind(i32::try_from(position).unwrap_or(i32::MAX))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn apis(&self) -> Result<Vec<ApiRecord>> {
        self.timed(async {
            let rows = sqlx::query(
                "SELECT a.audience, a.name, a.created_at, s.name, s.description, \
                        a.access_token_format, a.introspectors, a.token_exchange \
                 FROM apis a LEFT JOIN api_scopes s ON s.audience = a.audience \
                 ORDER BY a.created_at, a.audience, s.position",
            )
            .fetch_all(&self.pool)
            .await?;
            let mut out: Vec<ApiRecord> = Vec::new();
            for r in &rows {
                let audience: String = r.try_get(0)?;
                if out.last().is_none_or(|l| l.api.audience != audience) {
                    out.push(ApiRecord {
                        name: r.try_get(1)?,
                        api: Api {
                            audience,
                            scopes: vec![],
                            access_token_format: r
                                .try_get::<String, _>(5)?
                                .parse()
                                .map_err(StoreError::Corrupt)?,
                            introspectors: serde_json::from_str(&r.try_get::<String, _>(6)?)?,
                            token_exchange: serde_json::from_str(&r.try_get::<String, _>(7)?)?,
                        },
                        created_at: r.try_get(2)?,
                    });
                }
                let scope: (Option<String>, Option<String>) = (r.try_get(3)?, r.try_get(4)?);
                if let ((Some(name), Some(description)), Some(last)) = (scope, out.last_mut()) {
                    last.api.scopes.push(ApiScope { name, description });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn delete_api(&self, audience: &str) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query("DELETE FROM apis WHERE audience = $1")
                .bind(audience)
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
        .await
    }
}
