//! Browser sessions (single sign-on) and logout (PostgreSQL). Same rules as
//! `sqlite/sessions`.

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use super::grants::{GrantsOf, revoke_grants_where};
use crate::model::SessionRecord;
use crate::{Result, Sessions, TokenHash, UnixTime};

const COLUMNS: &str = "id_hash, user_id, auth_time, created_at, expires_at, amr, address, \
                        user_agent, last_used_at";

fn record(r: &PgRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id_hash: r.try_get(0)?,
        user_id: r.try_get(1)?,
        auth_time: r.try_get(2)?,
        created_at: r.try_get(3)?,
        expires_at: r.try_get(4)?,
        amr: r
            .try_get::<String, _>(5)?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        address: r.try_get(6)?,
        user_agent: r.try_get(7)?,
        last_used_at: r.try_get(8)?,
    })
}

/// Ends one session in the caller's transaction, as `end_session` does; whether a row went.
async fn end_one(tx: &mut PgConnection, id_hash: &TokenHash, now: UnixTime) -> Result<bool> {
    let ended = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    // Its applications hear of it (Back-Channel Logout), before its grants end.
    super::logout::enqueue(&mut *tx, super::logout::EndedFor::Session(id_hash), now).await?;
    // The session's grants end with it even if the session row already expired and
    // went.
    revoke_grants_where(&mut *tx, GrantsOf::LoggedOutSession(id_hash), now).await?;
    Ok(ended)
}

#[async_trait]
impl Sessions for PostgresStore {
    async fn create_session(&self, s: &SessionRecord, replaces: Option<&TokenHash>) -> Result<()> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            if let Some(old) = replaces {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(&format!(
                "INSERT INTO sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .bind(&s.id_hash)
            .bind(&s.user_id)
            .bind(s.auth_time)
            .bind(s.created_at)
            .bind(s.expires_at)
            .bind(s.amr.join(" "))
            .bind(&s.address)
            .bind(&s.user_agent)
            .bind(s.last_used_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn session(&self, id_hash: &TokenHash, now: UnixTime) -> Result<Option<SessionRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM sessions WHERE id_hash = $1 AND expires_at > $2"
            ))
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(record)
            .transpose()
        })
        .await
    }

    async fn end_session(&self, id_hash: &TokenHash, now: UnixTime) -> Result<bool> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            let ended = end_one(&mut tx, id_hash, now).await?;
            tx.commit().await?;
            Ok(ended)
        })
        .await
    }

    async fn touch_session(
        &self,
        id_hash: &TokenHash,
        now: UnixTime,
        interval: i64,
    ) -> Result<bool> {
        self.timed(async {
            Ok(sqlx::query(
                "UPDATE sessions SET last_used_at = $2 \
                 WHERE id_hash = $1 AND last_used_at <= $2 - $3 AND expires_at > $2",
            )
            .bind(id_hash)
            .bind(now)
            .bind(interval)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1)
        })
        .await
    }

    async fn end_sessions_of_user(
        &self,
        user_id: &str,
        keep: Option<&TokenHash>,
        every_grant: bool,
        now: UnixTime,
    ) -> Result<u64> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            let ended = if every_grant {
                // As in sqlite/sessions: every grant outside `keep` ends, its applications
                // queued once, before the grants are revoked.
                super::logout::enqueue(
                    &mut tx,
                    super::logout::EndedFor::UserOutside(user_id, keep),
                    now,
                )
                .await?;
                let n = sqlx::query(
                    "DELETE FROM sessions WHERE user_id = $1 \
                     AND ($2::BYTEA IS NULL OR id_hash <> $2)",
                )
                .bind(user_id)
                .bind(keep)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                revoke_grants_where(&mut tx, GrantsOf::UserOutside(user_id, keep), now).await?;
                n
            } else {
                let ids: Vec<TokenHash> = sqlx::query_scalar(
                    "SELECT id_hash FROM sessions WHERE user_id = $1 \
                     AND ($2::BYTEA IS NULL OR id_hash <> $2) FOR UPDATE",
                )
                .bind(user_id)
                .bind(keep)
                .fetch_all(&mut *tx)
                .await?;
                for id in &ids {
                    end_one(&mut tx, id, now).await?;
                }
                ids.len() as u64
            };
            tx.commit().await?;
            Ok(ended)
        })
        .await
    }

    async fn sessions_of_user(&self, user_id: &str, now: UnixTime) -> Result<Vec<SessionRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM sessions WHERE user_id = $1 AND expires_at > $2 \
                 ORDER BY created_at DESC"
            ))
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(record)
            .collect()
        })
        .await
    }

    async fn count_sessions(&self, now: UnixTime) -> Result<u64> {
        self.timed(async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE expires_at > $1")
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
            Ok(n as u64)
        })
        .await
    }
}
