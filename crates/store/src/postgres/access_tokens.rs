//! Access tokens (PostgreSQL): the revocation list of JWT access tokens and opaque access
//! tokens. Same rules as `sqlite/access_tokens`.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use crate::model::OpaqueAccessTokenRecord;
use crate::{AccessTokens, GrantScope, Result, TokenHash, UnixTime};

const COLUMNS: &str = "hash, client_id, subject, grant_id, claims, issued_at, expires_at";

fn record(r: &PgRow) -> Result<OpaqueAccessTokenRecord> {
    Ok(OpaqueAccessTokenRecord {
        hash: r.try_get(0)?,
        client_id: r.try_get(1)?,
        subject: r.try_get(2)?,
        grant_id: r.try_get(3)?,
        claims: r.try_get(4)?,
        issued_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
    })
}

#[async_trait]
impl AccessTokens for PostgresStore {
    // ---- revocation of JWT access tokens ----

    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> Result<()> {
        self.timed(async {
            sqlx::query(
                "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (jti) DO NOTHING",
            )
            .bind(jti)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn is_access_token_revoked(&self, jti: &str) -> Result<bool> {
        self.timed(async {
            Ok(sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?
                .is_some())
        })
        .await
    }

    async fn access_token_standing(
        &self,
        jti: Option<&str>,
        grant_id: Option<&str>,
    ) -> Result<(bool, GrantScope)> {
        self.timed(async {
            let r = sqlx::query(
                "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1), \
                 EXISTS (SELECT 1 FROM revoked_grants WHERE grant_id = $2), \
                 (SELECT scope FROM grants WHERE grant_id = $2), \
                 (SELECT scope_changed_at FROM grants WHERE grant_id = $2)",
            )
            .bind(jti)
            .bind(grant_id)
            .fetch_one(&self.pool)
            .await?;
            let scope: Option<String> = r.try_get(2)?;
            let at: Option<i64> = r.try_get(3)?;
            Ok((
                r.try_get(0)?,
                GrantScope {
                    revoked: r.try_get(1)?,
                    narrowed: scope.zip(at),
                },
            ))
        })
        .await
    }

    // ---- opaque access tokens ----

    async fn insert_opaque_access_token(&self, t: &OpaqueAccessTokenRecord) -> Result<()> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(&format!(
                "INSERT INTO opaque_access_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(&t.hash)
            .bind(&t.client_id)
            .bind(&t.subject)
            .bind(&t.grant_id)
            .bind(&t.claims)
            .bind(t.issued_at)
            .bind(t.expires_at)
            .execute(&mut *tx)
            .await?;
            if let Some(grant_id) = &t.grant_id {
                // The grant, and its revocation if any, last at least as long as the token.
                for table in ["grants", "revoked_grants"] {
                    sqlx::query(&format!(
                        "UPDATE {table} SET expires_at = GREATEST(expires_at, $2) \
                         WHERE grant_id = $1"
                    ))
                    .bind(grant_id)
                    .bind(t.expires_at)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn opaque_access_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<OpaqueAccessTokenRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM opaque_access_tokens WHERE hash = $1 AND expires_at > $2"
            ))
            .bind(hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
        })
        .await
    }

    async fn revoke_opaque_access_token(&self, hash: &TokenHash) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query("DELETE FROM opaque_access_tokens WHERE hash = $1")
                .bind(hash)
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
        .await
    }
}
