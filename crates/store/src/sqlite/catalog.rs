//! Applications, users, APIs and signing keys: the records administration writes.

use rusqlite::{Connection, OptionalExtension, params};
use valet_protocol::audience::{Api, ApiScope};
use valet_protocol::keys::KeyTimes;

use super::{all, immediate};
use crate::model::{
    ApiRecord, ClientRecord, PasswordHash, SecretHash, SigningKeyRecord, UserRecord,
};
use crate::{Result, StoreError, UnixTime};

const CLIENT_COLUMNS: &str = "registration, secret_hash, previous_secret_hash, \
     previous_secret_expires_at, created_at, updated_at";

/// A `clients` row as read, before the registration JSON is parsed.
type ClientRow = (
    String,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<i64>,
    i64,
    i64,
);

fn client_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClientRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn client_record(
    (reg, secret, prev, prev_until, created_at, updated_at): ClientRow,
) -> Result<ClientRecord> {
    Ok(ClientRecord {
        app: serde_json::from_str(&reg)?,
        secret: secret.map(SecretHash),
        previous_secret: prev.zip(prev_until).map(|(h, t)| (SecretHash(h), t)),
        created_at,
        updated_at,
    })
}

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

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        times: KeyTimes {
            kid: r.get(0)?,
            alg: r.get(1)?,
            created_at: r.get(4)?,
            activates_at: r.get(5)?,
            publish_until: r.get(6)?,
        },
        sealed_private: r.get(2)?,
        public_jwk: r.get(3)?,
    })
}

// ---- applications ----

pub(super) fn create_client(c: &Connection, client: &ClientRecord) -> Result<()> {
    let reg = serde_json::to_string(&client.app)?;
    c.execute(
        &format!(
            "INSERT INTO clients (client_id, {CLIENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ),
        params![
            client.app.client_id,
            reg,
            client.secret.as_ref().map(|s| &s.0),
            client.previous_secret.as_ref().map(|p| &p.0.0),
            client.previous_secret.as_ref().map(|p| p.1),
            client.created_at,
            client.updated_at
        ],
    )?;
    Ok(())
}

pub(super) fn client(c: &Connection, client_id: &str) -> Result<Option<ClientRecord>> {
    let row = c
        .prepare_cached(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = ?1"
        ))?
        .query_row([client_id], client_row)
        .optional()?;
    row.map(client_record).transpose()
}

pub(super) fn clients(c: &Connection) -> Result<Vec<ClientRecord>> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, client_id");
    all(c, &sql, client_row, client_record)
}

pub(super) fn update_client(c: &Connection, client: &ClientRecord) -> Result<bool> {
    let reg = serde_json::to_string(&client.app)?;
    let n = c.execute(
        "UPDATE clients SET registration = ?2, updated_at = ?3 WHERE client_id = ?1",
        params![client.app.client_id, reg, client.updated_at],
    )?;
    Ok(n == 1)
}

pub(super) fn rotate_client_secret(
    c: &Connection,
    client_id: &str,
    secret: &SecretHash,
    previous_until: Option<UnixTime>,
    now: UnixTime,
) -> Result<bool> {
    // One statement: the old hash moves to `previous_*` as the new one lands.
    let n = c.execute(
        "UPDATE clients SET \
           previous_secret_hash = CASE WHEN ?3 IS NULL THEN NULL ELSE secret_hash END, \
           previous_secret_expires_at = ?3, \
           secret_hash = ?2, updated_at = ?4 \
         WHERE client_id = ?1 AND secret_hash IS NOT NULL",
        params![client_id, secret.0, previous_until, now],
    )?;
    Ok(n == 1)
}

pub(super) fn delete_client(c: &Connection, client_id: &str) -> Result<bool> {
    Ok(c.execute("DELETE FROM clients WHERE client_id = ?1", [client_id])? == 1)
}

// ---- users ----

pub(super) fn create_user(c: &Connection, user: &UserRecord) -> Result<()> {
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
}

/// The user whose `column` equals `value` (a column name from this crate, never input).
pub(super) fn one_user(c: &Connection, column: &str, value: String) -> Result<Option<UserRecord>> {
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1"
    ))?
    .query_row([value], user_row)
    .optional()?
    .map(user_record)
    .transpose()
}

pub(super) fn users(c: &Connection) -> Result<Vec<UserRecord>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username COLLATE NOCASE");
    all(c, &sql, user_row, user_record)
}

pub(super) fn delete_user(c: &Connection, username: &str) -> Result<bool> {
    Ok(c.execute("DELETE FROM users WHERE username = ?1", [username])? == 1)
}

// ---- APIs ----

pub(super) fn create_api(c: &mut Connection, a: &ApiRecord) -> Result<()> {
    let tx = immediate(c)?;
    tx.execute(
        "INSERT INTO apis (audience, name, created_at, access_token_format, introspectors) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            a.api.audience,
            a.name,
            a.created_at,
            a.api.access_token_format.as_str(),
            serde_json::to_string(&a.api.introspectors)?
        ],
    )?;
    for s in &a.api.scopes {
        tx.execute(
            "INSERT INTO api_scopes (name, audience, description) VALUES (?1, ?2, ?3)",
            params![s.name, a.api.audience, s.description],
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn apis(c: &Connection) -> Result<Vec<ApiRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT a.audience, a.name, a.created_at, s.name, s.description, a.access_token_format, \
                a.introspectors \
         FROM apis a LEFT JOIN api_scopes s ON s.audience = a.audience \
         ORDER BY a.created_at, a.audience, s.rowid",
    )?;
    let mut out: Vec<ApiRecord> = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let audience: String = r.get(0)?;
        if out.last().is_none_or(|l| l.api.audience != audience) {
            out.push(ApiRecord {
                name: r.get(1)?,
                api: Api {
                    audience,
                    scopes: vec![],
                    access_token_format: r
                        .get::<_, String>(5)?
                        .parse()
                        .map_err(StoreError::Corrupt)?,
                    introspectors: serde_json::from_str(&r.get::<_, String>(6)?)?,
                },
                created_at: r.get(2)?,
            });
        }
        if let (Some(name), Some(description)) = (
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
        ) {
            if let Some(last) = out.last_mut() {
                last.api.scopes.push(ApiScope { name, description });
            }
        }
    }
    Ok(out)
}

pub(super) fn delete_api(c: &Connection, audience: &str) -> Result<bool> {
    Ok(c.execute("DELETE FROM apis WHERE audience = ?1", [audience])? == 1)
}

// ---- signing keys ----

pub(super) fn signing_keys(c: &Connection) -> Result<Vec<SigningKeyRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT kid, alg, sealed_private, public_jwk, created_at, activates_at, publish_until \
         FROM signing_keys ORDER BY created_at, kid",
    )?;
    let rows = stmt
        .query_map([], key_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn insert_first_signing_key(c: &Connection, k: &SigningKeyRecord) -> Result<bool> {
    let n = c.execute(
        "INSERT INTO signing_keys \
           (kid, alg, sealed_private, public_jwk, created_at, activates_at, publish_until) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 \
         WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE alg = ?2)",
        params![
            k.times.kid,
            k.times.alg,
            k.sealed_private,
            k.public_jwk,
            k.times.created_at,
            k.times.activates_at,
            k.times.publish_until
        ],
    )?;
    Ok(n == 1)
}

pub(super) fn rotate_signing_key(
    c: &mut Connection,
    k: &SigningKeyRecord,
    retire: &[(String, UnixTime)],
) -> Result<()> {
    let tx = immediate(c)?;
    for (kid, until) in retire {
        tx.execute(
            "UPDATE signing_keys SET publish_until = ?2 WHERE kid = ?1 AND publish_until IS NULL",
            params![kid, until],
        )?;
    }
    tx.execute(
        "INSERT INTO signing_keys \
           (kid, alg, sealed_private, public_jwk, created_at, activates_at, publish_until) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            k.times.kid,
            k.times.alg,
            k.sealed_private,
            k.public_jwk,
            k.times.created_at,
            k.times.activates_at,
            k.times.publish_until
        ],
    )?;
    tx.commit()?;
    Ok(())
}
