//! Users of the built-in user store (PostgreSQL). Same rules as `sqlite/users`; login
//! names compare in lower case.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use super::grants::{GrantsOf, revoke_grants_where};
use crate::model::{PasswordHash, Role, UserRecord};
use crate::{Result, StoreError, UnixTime, Users};

const USER_COLUMNS: &str =
    "id, username, claims, password_hash, disabled, role, created_at, updated_at, pending_until";

fn user_record(r: &PgRow) -> Result<UserRecord> {
    let claims: String = r.try_get(2)?;
    Ok(UserRecord {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        claims: serde_json::from_str(&claims)?,
        password_hash: r.try_get::<Option<String>, _>(3)?.map(PasswordHash),
        disabled: r.try_get(4)?,
        role: {
            let role: String = r.try_get(5)?;
            Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?
        },
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
        pending_until: r.try_get(8)?,
    })
}

#[async_trait]
impl Users for PostgresStore {
    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        self.timed(async {
            let mut c = self.pool.acquire().await?;
            insert_user(&mut c, user).await
        })
        .await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1)"
            ))
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_record)
            .transpose()
        })
        .await
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>> {
        self.timed(async {
            sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(user_record)
                .transpose()
        })
        .await
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {USER_COLUMNS} FROM users ORDER BY lower(username)"
            ))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_record)
            .collect()
        })
        .await
    }

    async fn users_by_email(&self, email: &str) -> Result<Vec<UserRecord>> {
        self.timed(async {
            sqlx::query(&format!(
                "SELECT {USER_COLUMNS} FROM users \
                 WHERE lower(claims::json ->> 'email') = lower($1) LIMIT 10"
            ))
            .bind(email)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_record)
            .collect()
        })
        .await
    }

    async fn update_user(&self, user: &UserRecord) -> Result<bool> {
        self.timed(async {
            let claims = serde_json::to_string(&user.claims)?;
            let n = sqlx::query(
                "UPDATE users SET username = $2, claims = $3, password_hash = $4, disabled = $5, \
                 role = $6, updated_at = $7, pending_until = $8 WHERE id = $1",
            )
            .bind(&user.id)
            .bind(&user.username)
            .bind(claims)
            .bind(user.password_hash.as_ref().map(|h| &h.0))
            .bind(user.disabled)
            .bind(user.role.as_str())
            .bind(user.updated_at)
            .bind(user.pending_until)
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
        .await
    }

    async fn delete_user(&self, username: &str, now: UnixTime) -> Result<bool> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            let id: Option<String> = sqlx::query_scalar(
                "SELECT id FROM users WHERE lower(username) = lower($1) FOR UPDATE",
            )
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else { return Ok(false) };
            end_access(&mut tx, &id, now).await?;
            super::second_factors::delete_of_user(&mut tx, &id).await?;
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn end_user_access(&self, user_id: &str, now: UnixTime) -> Result<u64> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            let n = end_access(&mut tx, user_id, now).await?;
            tx.commit().await?;
            Ok(n)
        })
        .await
    }
}

/// As `sqlite/users`: sessions deleted, consents forgotten, grants revoked.
async fn end_access(c: &mut sqlx::PgConnection, user_id: &str, now: UnixTime) -> Result<u64> {
    super::logout::enqueue(&mut *c, super::logout::EndedFor::User(user_id), now).await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM consents WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *c)
        .await?;
    revoke_grants_where(c, GrantsOf::User(user_id), now).await
}

/// One user row (`create_user`, and just-in-time creation with its upstream link).
pub(super) async fn insert_user(c: &mut sqlx::PgConnection, user: &UserRecord) -> Result<()> {
    let claims = serde_json::to_string(&user.claims)?;
    sqlx::query(&format!(
        "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&user.id)
    .bind(&user.username)
    .bind(claims)
    .bind(user.password_hash.as_ref().map(|h| &h.0))
    .bind(user.disabled)
    .bind(user.role.as_str())
    .bind(user.created_at)
    .bind(user.updated_at)
    .bind(user.pending_until)
    .execute(&mut *c)
    .await?;
    Ok(())
}
