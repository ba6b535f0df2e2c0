//! Users of the built-in user store (PostgreSQL). Same rules as `sqlite/users`; login
//! names compare in lower case.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use crate::model::{PasswordHash, UserRecord};
use crate::{Result, Users};

const USER_COLUMNS: &str = "id, username, claims, password_hash, disabled, created_at, updated_at";

fn user_record(r: &PgRow) -> Result<UserRecord> {
    let claims: String = r.try_get(2)?;
    Ok(UserRecord {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        claims: serde_json::from_str(&claims)?,
        password_hash: r.try_get::<Option<String>, _>(3)?.map(PasswordHash),
        disabled: r.try_get(4)?,
        created_at: r.try_get(5)?,
        updated_at: r.try_get(6)?,
    })
}

#[async_trait]
impl Users for PostgresStore {
    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        self.timed(async {
            let claims = serde_json::to_string(&user.claims)?;
            sqlx::query(&format!(
                "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(&user.id)
            .bind(&user.username)
            .bind(claims)
            .bind(user.password_hash.as_ref().map(|h| &h.0))
            .bind(user.disabled)
            .bind(user.created_at)
            .bind(user.updated_at)
            .execute(&self.pool)
            .await?;
            Ok(())
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

    async fn delete_user(&self, username: &str) -> Result<bool> {
        self.timed(async {
            let n = sqlx::query("DELETE FROM users WHERE lower(username) = lower($1)")
                .bind(username)
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok(n == 1)
        })
        .await
    }
}
