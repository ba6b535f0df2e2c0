//! Users of the built-in user store.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, all};
use crate::model::{PasswordHash, UserRecord};
use crate::{Result, Users};

const USER_COLUMNS: &str = "id, username, claims, password_hash, disabled, created_at, updated_at";

/// A `users` row as read, before the claims JSON is parsed.
type UserRow = (String, String, String, Option<String>, bool, i64, i64);

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn user_record(
    (id, username, claims, password_hash, disabled, created_at, updated_at): UserRow,
) -> Result<UserRecord> {
    Ok(UserRecord {
        id,
        username,
        claims: serde_json::from_str(&claims)?,
        password_hash: password_hash.map(PasswordHash),
        disabled,
        created_at,
        updated_at,
    })
}

/// The user whose `column` equals `value` (a column name from this crate, never input).
fn one_user(c: &Connection, column: &str, value: String) -> Result<Option<UserRecord>> {
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1"
    ))?
    .query_row([value], user_row)
    .optional()?
    .map(user_record)
    .transpose()
}

#[async_trait]
impl Users for SqliteStore {
    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        let user = user.clone();
        self.write(move |c| {
            let claims = serde_json::to_string(&user.claims)?;
            c.execute(
                &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![
                    user.id,
                    user.username,
                    claims,
                    user.password_hash.as_ref().map(|h| &h.0),
                    user.disabled,
                    user.created_at,
                    user.updated_at
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        let name = username.to_owned();
        self.point_read(move |c| one_user(c, "username", name))
            .await
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>> {
        let id = id.to_owned();
        self.point_read(move |c| one_user(c, "id", id)).await
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        self.read(|c| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username COLLATE NOCASE");
            all(c, &sql, user_row, user_record)
        })
        .await
    }

    async fn delete_user(&self, username: &str) -> Result<bool> {
        let name = username.to_owned();
        self.write(move |c| Ok(c.execute("DELETE FROM users WHERE username = ?1", [name])? == 1))
            .await
    }
}
