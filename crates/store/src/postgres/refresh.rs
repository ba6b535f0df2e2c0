//! Refresh tokens and their rotation (PostgreSQL). Same rules as `sqlite/refresh`.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::PostgresStore;
use crate::model::{RefreshTokenRecord, Rotation};
use crate::{RefreshTokens, Result, TokenHash, UnixTime};

const COLUMNS: &str = "hash, grant_id, client_id, user_id, details, issued_at, expires_at, \
     rotated_at";

fn record(r: &PgRow) -> Result<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        hash: r.try_get(0)?,
        grant_id: r.try_get(1)?,
        client_id: r.try_get(2)?,
        user_id: r.try_get(3)?,
        details: r.try_get(4)?,
        issued_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        rotated_at: r.try_get(7)?,
    })
}

/// Inserts the row and raises its grant (and the grant's revocation, if any) to
/// `grant_until`; the caller commits.
async fn insert_in(
    c: &mut PgConnection,
    t: &RefreshTokenRecord,
    grant_until: UnixTime,
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO refresh_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&t.hash)
    .bind(&t.grant_id)
    .bind(&t.client_id)
    .bind(&t.user_id)
    .bind(&t.details)
    .bind(t.issued_at)
    .bind(t.expires_at)
    .bind(t.rotated_at)
    .execute(&mut *c)
    .await?;
    sqlx::query("UPDATE grants SET expires_at = GREATEST(expires_at, $2) WHERE grant_id = $1")
        .bind(&t.grant_id)
        .bind(grant_until)
        .execute(&mut *c)
        .await?;
    // See `sqlite/refresh`: a revocation lasts as long as the grant's tokens.
    sqlx::query(
        "UPDATE revoked_grants SET expires_at = GREATEST(expires_at, $2) WHERE grant_id = $1",
    )
    .bind(&t.grant_id)
    .bind(grant_until)
    .execute(&mut *c)
    .await?;
    Ok(())
}

#[async_trait]
impl RefreshTokens for PostgresStore {
    async fn insert_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        grant_until: UnixTime,
    ) -> Result<()> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            insert_in(&mut tx, token, grant_until).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<RefreshTokenRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM refresh_tokens WHERE hash = $1 AND expires_at > $2"
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

    async fn rotate_refresh_token(
        &self,
        old_hash: &TokenHash,
        new: &RefreshTokenRecord,
        successor: &[u8],
        grant_until: UnixTime,
        now: UnixTime,
    ) -> Result<Rotation> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            // The single statement that decides who rotates the token: a racer waits for
            // the winner's row lock, then finds `rotated_at` set and matches nothing.
            let won = sqlx::query(
                "UPDATE refresh_tokens SET rotated_at = $2, successor = $3 \
                 WHERE hash = $1 AND rotated_at IS NULL AND expires_at > $2",
            )
            .bind(old_hash)
            .bind(now)
            .bind(successor)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if won {
                insert_in(&mut tx, new, grant_until).await?;
                tx.commit().await?;
                return Ok(Rotation::Rotated);
            }
            // Lost, or nothing to rotate; nothing was written. Read outside the (empty)
            // transaction so that a winner that committed meanwhile is seen.
            drop(tx);
            let found =
                sqlx::query("SELECT rotated_at, successor FROM refresh_tokens WHERE hash = $1")
                    .bind(old_hash)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(match found {
                Some(r) => match r.try_get::<Option<i64>, _>(0)? {
                    Some(at) => Rotation::AlreadyRotated {
                        at,
                        successor: r.try_get(1)?,
                    },
                    None => Rotation::Unknown,
                },
                None => Rotation::Unknown,
            })
        })
        .await
    }
}
