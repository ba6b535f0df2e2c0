//! Opaque access tokens (PostgreSQL). Same rules as `sqlite/access_tokens`.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::model::OpaqueAccessTokenRecord;
use crate::{Result, UnixTime};

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

pub(super) async fn insert(db: &PgPool, t: &OpaqueAccessTokenRecord) -> Result<()> {
    let mut tx = db.begin().await?;
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
                "UPDATE {table} SET expires_at = GREATEST(expires_at, $2) WHERE grant_id = $1"
            ))
            .bind(grant_id)
            .bind(t.expires_at)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn get(
    db: &PgPool,
    hash: &[u8],
    now: UnixTime,
) -> Result<Option<OpaqueAccessTokenRecord>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM opaque_access_tokens WHERE hash = $1 AND expires_at > $2"
    ))
    .bind(hash)
    .bind(now)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(record)
    .transpose()
}

pub(super) async fn revoke(db: &PgPool, hash: &[u8]) -> Result<bool> {
    let n = sqlx::query("DELETE FROM opaque_access_tokens WHERE hash = $1")
        .bind(hash)
        .execute(db)
        .await?
        .rows_affected();
    Ok(n == 1)
}
