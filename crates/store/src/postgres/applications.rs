//! Applications (PostgreSQL). Same rules as `sqlite/applications`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use crate::model::{ClientRecord, SecretHash};
use crate::{Applications, Result, UnixTime};

pub(super) const CLIENT_COLUMNS: &str = "registration, secret_hash, previous_secret_hash, \
     previous_secret_expires_at, created_at, updated_at";

pub(super) fn client_record(r: &PgRow) -> Result<ClientRecord> {
    let reg: String = r.try_get(0)?;
    let prev: Option<Vec<u8>> = r.try_get(2)?;
    let prev_until: Option<i64> = r.try_get(3)?;
    Ok(ClientRecord {
        app: serde_json::from_str(&reg)?,
        secret: r.try_get::<Option<Vec<u8>>, _>(1)?.map(SecretHash),
        previous_secret: prev.zip(prev_until).map(|(h, t)| (SecretHash(h), t)),
        created_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
    })
}

#[async_trait]
impl Applications for PostgresStore {
    async fn create_client(&self, client: &ClientRecord) -> Result<()> {
        self.timed(async {
            let reg = serde_json::to_string(&client.app)?;
            sqlx::query(&format!(
                "INSERT INTO clients (client_id, {CLIENT_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(&client.app.client_id)
            .bind(reg)
            .bind(client.secret.as_ref().map(|s| &s.0))
            .bind(client.previous_secret.as_ref().map(|p| &p.0.0))
            .bind(client.previous_secret.as_ref().map(|p| p.1))
            .bind(client.created_at)
            .bind(client.updated_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1"
            ))
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(client_record)
            .transpose()
        })
        .await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, client_id"
            ))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(client_record)
            .collect()
        })
        .await
    }

    async fn update_client(&self, client: &ClientRecord) -> Result<bool> {
        self.timed(async {
            let reg = serde_json::to_string(&client.app)?;
            let n = sqlx::query(
                "UPDATE clients SET registration = $2, updated_at = $3 WHERE client_id = $1",
            )
            .bind(&client.app.client_id)
            .bind(reg)
            .bind(client.updated_at)
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
        .await
    }

    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret: &SecretHash,
        previous_until: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<bool> {
        self.timed(async {
            // One statement: the old hash moves to `previous_*` as the new one lands.
            let n = sqlx::query(
                "UPDATE clients SET \
                   previous_secret_hash = \
                     CASE WHEN $3::BIGINT IS NULL THEN NULL ELSE secret_hash END, \
                   previous_secret_expires_at = $3, \
                   secret_hash = $2, updated_at = $4 \
                 WHERE client_id = $1 AND secret_hash IS NOT NULL",
            )
            .bind(client_id)
            .bind(&secret.0)
            .bind(previous_until)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
        .await
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query("DELETE FROM clients WHERE client_id = $1")
                .bind(client_id)
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
        .await
    }
}
