//! Users of the built-in user store.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::grants::revoke_grants_where;
use super::immediate;
use super::{SqliteStore, all};
use crate::model::{PasswordHash, Role, UserRecord};
use crate::{Result, StoreError, UnixTime, Users};

const USER_COLUMNS: &str =
    "id, username, claims, password_hash, disabled, role, created_at, updated_at, pending_until";

/// A `users` row as read, before the claims JSON is parsed.
type UserRow = (
    String,
    String,
    String,
    Option<String>,
    bool,
    String,
    i64,
    i64,
    Option<i64>,
);

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn user_record(
    (id, username, claims, password_hash, disabled, role, created_at, updated_at, pending_until): UserRow,
) -> Result<UserRecord> {
    Ok(UserRecord {
        id,
        username,
        claims: serde_json::from_str(&claims)?,
        password_hash: password_hash.map(PasswordHash),
        disabled,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
        pending_until,
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
        self.write(move |c| insert_user(c, &user)).await
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

    async fn users_by_email(&self, email: &str) -> Result<Vec<UserRecord>> {
        let email = email.to_owned();
        self.read(move |c| {
            let rows = c
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users \
                     WHERE lower(json_extract(claims, '$.email')) = lower(?1) LIMIT 10"
                ))?
                .query_map([email], user_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(user_record).collect()
        })
        .await
    }

    async fn update_user(&self, user: &UserRecord) -> Result<bool> {
        let user = user.clone();
        self.write(move |c| {
            let claims = serde_json::to_string(&user.claims)?;
            let n = c.execute(
                "UPDATE users SET username = ?2, claims = ?3, password_hash = ?4, disabled = ?5, \
                 role = ?6, updated_at = ?7, pending_until = ?8 WHERE id = ?1",
                params![
                    user.id,
                    user.username,
                    claims,
                    user.password_hash.as_ref().map(|h| &h.0),
                    user.disabled,
                    user.role.as_str(),
                    user.updated_at,
                    user.pending_until
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_user(&self, username: &str, now: UnixTime) -> Result<bool> {
        let name = username.to_owned();
        self.write(move |c| {
            let tx = immediate(c)?;
            let id: Option<String> = tx
                .query_row("SELECT id FROM users WHERE username = ?1", [&name], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(id) = id else { return Ok(false) };
            end_access(&tx, &id, now)?;
            super::second_factors::delete_of_user(&tx, &id)?;
            tx.execute("DELETE FROM users WHERE id = ?1", [&id])?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn end_user_access(&self, user_id: &str, now: UnixTime) -> Result<u64> {
        let id = user_id.to_owned();
        self.write(move |c| {
            let tx = immediate(c)?;
            let n = end_access(&tx, &id, now)?;
            tx.commit()?;
            Ok(n)
        })
        .await
    }
}

/// Sessions deleted, consents forgotten, grants revoked (their refresh and access tokens
/// with them). Returns how many grants were revoked.
fn end_access(c: &Connection, user_id: &str, now: UnixTime) -> Result<u64> {
    super::logout::enqueue_where(c, "g.user_id = ?2", params![now, user_id])?;
    c.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
        .execute([user_id])?;
    c.prepare_cached("DELETE FROM consents WHERE user_id = ?1")?
        .execute([user_id])?;
    revoke_grants_where(c, "user_id = ?2", params![now, user_id])
}

/// One user row (`create_user`, and just-in-time creation with its upstream link).
pub(super) fn insert_user(c: &rusqlite::Connection, user: &UserRecord) -> Result<()> {
    let claims = serde_json::to_string(&user.claims)?;
    c.prepare_cached(&format!(
        "INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))?
    .execute(params![
        user.id,
        user.username,
        claims,
        user.password_hash.as_ref().map(|h| &h.0),
        user.disabled,
        user.role.as_str(),
        user.created_at,
        user.updated_at,
        user.pending_until
    ])?;
    Ok(())
}
