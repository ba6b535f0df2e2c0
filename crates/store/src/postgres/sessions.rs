//! Browser sessions (single sign-on), logout, and the sealed forms they submit
//! (PostgreSQL).

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::grants::{GrantsOf, revoke_grants_where};
use crate::model::SessionRecord;
use crate::{Result, UnixTime};

const COLUMNS: &str = "id_hash, user_id, auth_time, created_at, expires_at";

fn record(r: &PgRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id_hash: r.try_get(0)?,
        user_id: r.try_get(1)?,
        auth_time: r.try_get(2)?,
        created_at: r.try_get(3)?,
        expires_at: r.try_get(4)?,
    })
}

pub(super) async fn create(db: &PgPool, s: &SessionRecord, replaces: Option<&[u8]>) -> Result<()> {
    let mut tx = db.begin().await?;
    if let Some(old) = replaces {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(old)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(&format!(
        "INSERT INTO sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
    ))
    .bind(&s.id_hash)
    .bind(&s.user_id)
    .bind(s.auth_time)
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn get(
    db: &PgPool,
    id_hash: &[u8],
    now: UnixTime,
) -> Result<Option<SessionRecord>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE id_hash = $1 AND expires_at > $2"
    ))
    .bind(id_hash)
    .bind(now)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(record)
    .transpose()
}

pub(super) async fn end(db: &PgPool, id_hash: &[u8], now: UnixTime) -> Result<bool> {
    let mut tx = db.begin().await?;
    let ended = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    // The session's grants end with it even if the session row already expired and went.
    revoke_grants_where(&mut tx, GrantsOf::LoggedOutSession(id_hash), now).await?;
    tx.commit().await?;
    Ok(ended)
}

/// The single statement that decides which submit of a sealed form counts: a racing
/// insert of the same id waits for the first one's unique-index entry and then does
/// nothing.
pub(super) async fn consume_sealed_form(
    db: &PgPool,
    id: &str,
    expires_at: UnixTime,
) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO used_forms (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(expires_at)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n == 1)
}
