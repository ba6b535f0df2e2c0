//! Self-registered applications (PostgreSQL). Same rules as `sqlite/registrations`. The
//! deduplicating check-then-insert runs under a transaction-scoped advisory lock keyed by
//! the fingerprint: under READ COMMITTED the check alone would let two nodes both insert.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use super::applications::{CLIENT_COLUMNS, client_record, index_origins};
use crate::model::ClientRecord;
use crate::{Registered, RegistrationRecord, Registrations, Result, TokenHash, UnixTime};

const REG_COLUMNS: &str =
    "client_id, token_hash, fingerprint, created_at, dedupe_until, last_used_at, expires_at";

fn reg_record(r: &PgRow) -> Result<RegistrationRecord> {
    Ok(RegistrationRecord {
        client_id: r.try_get(0)?,
        token_hash: r.try_get(1)?,
        fingerprint: r.try_get(2)?,
        created_at: r.try_get(3)?,
        dedupe_until: r.try_get(4)?,
        last_used_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
    })
}

/// The advisory lock of one fingerprint: its first 8 bytes ("valetreg" for an empty one).
fn lock_key(fp: &TokenHash) -> i64 {
    let mut b = *b"valetreg";
    for (d, s) in b.iter_mut().zip(fp.as_bytes()) {
        *d = *s;
    }
    i64::from_be_bytes(b)
}

#[async_trait]
impl Registrations for PostgresStore {
    async fn register_client(
        &self,
        client: &ClientRecord,
        reg: &RegistrationRecord,
        initial_token: Option<&TokenHash>,
        now: UnixTime,
    ) -> Result<Registered> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            if let Some(hash) = initial_token {
                let n = sqlx::query(
                    "UPDATE initial_access_tokens SET uses_left = uses_left - 1 \
                     WHERE hash = $1 AND expires_at > $2 AND (uses_left IS NULL OR uses_left > 0)",
                )
                .bind(hash)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Ok(Registered::TokenRefused);
                }
            }
            if let Some(fp) = &reg.fingerprint {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock_key(fp))
                    .execute(&mut *tx)
                    .await?;
                let existing: Option<String> = sqlx::query_scalar(
                    "SELECT client_id FROM registrations \
                     WHERE fingerprint = $1 AND dedupe_until > $2 ORDER BY created_at LIMIT 1",
                )
                .bind(fp)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(id) = existing {
                    sqlx::query("UPDATE registrations SET token_hash = $2 WHERE client_id = $1")
                        .bind(&id)
                        .bind(&reg.token_hash)
                        .execute(&mut *tx)
                        .await?;
                    let row = sqlx::query(&format!(
                        "SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1"
                    ))
                    .bind(&id)
                    .fetch_one(&mut *tx)
                    .await?;
                    let record = client_record(&row)?;
                    tx.commit().await?;
                    return Ok(Registered::Existing(Box::new(record)));
                }
            }
            let json = serde_json::to_string(&client.app)?;
            sqlx::query(&format!(
                "INSERT INTO clients (client_id, {CLIENT_COLUMNS}) \
                 VALUES ($1, $2, $3, NULL, NULL, $4, $5)"
            ))
            .bind(&client.app.client_id)
            .bind(json)
            .bind(client.secret.as_ref().map(|s| &s.0))
            .bind(client.created_at)
            .bind(client.updated_at)
            .execute(&mut *tx)
            .await?;
            index_origins(&mut tx, &client.app).await?;
            sqlx::query(&format!(
                "INSERT INTO registrations ({REG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(&client.app.client_id)
            .bind(&reg.token_hash)
            .bind(&reg.fingerprint)
            .bind(reg.created_at)
            .bind(reg.dedupe_until)
            .bind(reg.last_used_at)
            .bind(reg.expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Registered::Created)
        })
        .await
    }

    async fn registration(&self, client_id: &str) -> Result<Option<RegistrationRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {REG_COLUMNS} FROM registrations WHERE client_id = $1"
            ))
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(reg_record)
            .transpose()
        })
        .await
    }

    async fn update_registered_client(
        &self,
        client: &ClientRecord,
        presented: &TokenHash,
        new_token: &TokenHash,
    ) -> Result<bool> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            let n = sqlx::query(
                "UPDATE registrations SET token_hash = $3 WHERE client_id = $1 AND token_hash = $2",
            )
            .bind(&client.app.client_id)
            .bind(presented)
            .bind(new_token)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            let json = serde_json::to_string(&client.app)?;
            sqlx::query(
                "UPDATE clients SET registration = $2, updated_at = $3 WHERE client_id = $1",
            )
            .bind(&client.app.client_id)
            .bind(json)
            .bind(client.updated_at)
            .execute(&mut *tx)
            .await?;
            index_origins(&mut tx, &client.app).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn delete_registered_client(
        &self,
        client_id: &str,
        presented: &TokenHash,
    ) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query(
                "DELETE FROM clients WHERE client_id IN \
                   (SELECT client_id FROM registrations WHERE client_id = $1 AND token_hash = $2)",
            )
            .bind(client_id)
            .bind(presented)
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
        .await
    }

    async fn touch_registration(
        &self,
        client_id: &str,
        now: UnixTime,
        until: UnixTime,
        min_interval: i64,
    ) -> Result<bool> {
        self.timed(async {
            let since = now - min_interval;
            let last: Option<Option<i64>> =
                sqlx::query_scalar("SELECT last_used_at FROM registrations WHERE client_id = $1")
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await?;
            let stale = matches!(last, Some(None)) || matches!(last, Some(Some(t)) if t <= since);
            if !stale {
                return Ok(false);
            }
            let n = sqlx::query(
                "UPDATE registrations SET last_used_at = $2, expires_at = GREATEST(expires_at, $3) \
                 WHERE client_id = $1 AND (last_used_at IS NULL OR last_used_at <= $4)",
            )
            .bind(client_id)
            .bind(now)
            .bind(until)
            .bind(since)
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
        .await
    }

    async fn create_initial_access_token(
        &self,
        hash: &TokenHash,
        uses: Option<u32>,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<()> {
        self.timed(async {
            sqlx::query(
                "INSERT INTO initial_access_tokens (hash, uses_left, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(hash)
            .bind(uses.map(i64::from))
            .bind(now)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }
}
