//! Applications, users, APIs and signing keys (PostgreSQL). Same rules as `sqlite/catalog`.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use valet_protocol::audience::{Api, ApiScope};
use valet_protocol::keys::KeyTimes;

use crate::model::{
    ApiRecord, ClientRecord, PasswordHash, SecretHash, SigningKeyRecord, UserRecord,
};
use crate::{Result, StoreError, UnixTime};

const CLIENT_COLUMNS: &str = "registration, secret_hash, previous_secret_hash, \
     previous_secret_expires_at, created_at, updated_at";

fn client_record(r: &PgRow) -> Result<ClientRecord> {
    let reg: String = r.try_get(0)?;
    let prev: Option<Vec<u8>> = r.try_get(2)?;
    let prev_until: Option<i64> = r.try_get(3)?;
    Ok(ClientRecord {
        app: serde_json::from_str(&reg)?,
        secret: r.try_get::<Option<Vec<u8>>, _>(1)?.map(SecretHash),
        previous_secret: prev.zip(prev_until).map(|(h, t)| (SecretHash(h), t)),
        created_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
    })
}

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

const KEY_COLUMNS: &str =
    "kid, alg, sealed_private, public_jwk, created_at, activates_at, publish_until";

fn key_record(r: &PgRow) -> Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        times: KeyTimes {
            kid: r.try_get(0)?,
            alg: r.try_get(1)?,
            created_at: r.try_get(4)?,
            activates_at: r.try_get(5)?,
            publish_until: r.try_get(6)?,
        },
        sealed_private: r.try_get(2)?,
        public_jwk: r.try_get(3)?,
    })
}

// ---- applications ----

pub(super) async fn create_client(db: &PgPool, client: &ClientRecord) -> Result<()> {
    let reg = serde_json::to_string(&client.app)?;
    sqlx::query(&format!(
        "INSERT INTO clients (client_id, {CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&client.app.client_id)
    .bind(reg)
    .bind(client.secret.as_ref().map(|s| &s.0))
    .bind(client.previous_secret.as_ref().map(|p| &p.0.0))
    .bind(client.previous_secret.as_ref().map(|p| p.1))
    .bind(client.created_at)
    .bind(client.updated_at)
    .execute(db)
    .await?;
    Ok(())
}

pub(super) async fn client(db: &PgPool, client_id: &str) -> Result<Option<ClientRecord>> {
    sqlx::query(&format!(
        "SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1"
    ))
    .bind(client_id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(client_record)
    .transpose()
}

pub(super) async fn clients(db: &PgPool) -> Result<Vec<ClientRecord>> {
    sqlx::query(&format!(
        "SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, client_id"
    ))
    .fetch_all(db)
    .await?
    .iter()
    .map(client_record)
    .collect()
}

pub(super) async fn update_client(db: &PgPool, client: &ClientRecord) -> Result<bool> {
    let reg = serde_json::to_string(&client.app)?;
    let n =
        sqlx::query("UPDATE clients SET registration = $2, updated_at = $3 WHERE client_id = $1")
            .bind(&client.app.client_id)
            .bind(reg)
            .bind(client.updated_at)
            .execute(db)
            .await?
            .rows_affected();
    Ok(n == 1)
}

pub(super) async fn rotate_client_secret(
    db: &PgPool,
    client_id: &str,
    secret: &SecretHash,
    previous_until: Option<UnixTime>,
    now: UnixTime,
) -> Result<bool> {
    // One statement: the old hash moves to `previous_*` as the new one lands.
    let n = sqlx::query(
        "UPDATE clients SET \
           previous_secret_hash = CASE WHEN $3::BIGINT IS NULL THEN NULL ELSE secret_hash END, \
           previous_secret_expires_at = $3, \
           secret_hash = $2, updated_at = $4 \
         WHERE client_id = $1 AND secret_hash IS NOT NULL",
    )
    .bind(client_id)
    .bind(&secret.0)
    .bind(previous_until)
    .bind(now)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub(super) async fn delete_client(db: &PgPool, client_id: &str) -> Result<bool> {
    let n = sqlx::query("DELETE FROM clients WHERE client_id = $1")
        .bind(client_id)
        .execute(db)
        .await?
        .rows_affected();
    Ok(n == 1)
}

// ---- users ----

pub(super) async fn create_user(db: &PgPool, user: &UserRecord) -> Result<()> {
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
    .execute(db)
    .await?;
    Ok(())
}

pub(super) async fn user_by_username(db: &PgPool, username: &str) -> Result<Option<UserRecord>> {
    sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1)"
    ))
    .bind(username)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(user_record)
    .transpose()
}

pub(super) async fn user(db: &PgPool, id: &str) -> Result<Option<UserRecord>> {
    sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(user_record)
        .transpose()
}

pub(super) async fn users(db: &PgPool) -> Result<Vec<UserRecord>> {
    sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY lower(username)"
    ))
    .fetch_all(db)
    .await?
    .iter()
    .map(user_record)
    .collect()
}

pub(super) async fn delete_user(db: &PgPool, username: &str) -> Result<bool> {
    let n = sqlx::query("DELETE FROM users WHERE lower(username) = lower($1)")
        .bind(username)
        .execute(db)
        .await?
        .rows_affected();
    Ok(n == 1)
}

// ---- APIs ----

pub(super) async fn create_api(db: &PgPool, a: &ApiRecord) -> Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO apis (audience, name, created_at, access_token_format, introspectors) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&a.api.audience)
    .bind(&a.name)
    .bind(a.created_at)
    .bind(a.api.access_token_format.as_str())
    .bind(serde_json::to_string(&a.api.introspectors)?)
    .execute(&mut *tx)
    .await?;
    for (position, s) in a.api.scopes.iter().enumerate() {
        sqlx::query(
            "INSERT INTO api_scopes (name, audience, description, position) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&s.name)
        .bind(&a.api.audience)
        .bind(&s.description)
        .bind(i32::try_from(position).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn apis(db: &PgPool) -> Result<Vec<ApiRecord>> {
    let rows = sqlx::query(
        "SELECT a.audience, a.name, a.created_at, s.name, s.description, a.access_token_format, \
                a.introspectors \
         FROM apis a LEFT JOIN api_scopes s ON s.audience = a.audience \
         ORDER BY a.created_at, a.audience, s.position",
    )
    .fetch_all(db)
    .await?;
    let mut out: Vec<ApiRecord> = Vec::new();
    for r in &rows {
        let audience: String = r.try_get(0)?;
        if out.last().is_none_or(|l| l.api.audience != audience) {
            out.push(ApiRecord {
                name: r.try_get(1)?,
                api: Api {
                    audience,
                    scopes: vec![],
                    access_token_format: r
                        .try_get::<String, _>(5)?
                        .parse()
                        .map_err(StoreError::Corrupt)?,
                    introspectors: serde_json::from_str(&r.try_get::<String, _>(6)?)?,
                },
                created_at: r.try_get(2)?,
            });
        }
        let scope: (Option<String>, Option<String>) = (r.try_get(3)?, r.try_get(4)?);
        if let ((Some(name), Some(description)), Some(last)) = (scope, out.last_mut()) {
            last.api.scopes.push(ApiScope { name, description });
        }
    }
    Ok(out)
}

pub(super) async fn delete_api(db: &PgPool, audience: &str) -> Result<bool> {
    let n = sqlx::query("DELETE FROM apis WHERE audience = $1")
        .bind(audience)
        .execute(db)
        .await?
        .rows_affected();
    Ok(n == 1)
}

// ---- signing keys ----

pub(super) async fn signing_keys(db: &PgPool) -> Result<Vec<SigningKeyRecord>> {
    sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid"
    ))
    .fetch_all(db)
    .await?
    .iter()
    .map(key_record)
    .collect()
}

async fn insert_key(c: &mut PgConnection, k: &SigningKeyRecord) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&k.times.kid)
    .bind(&k.times.alg)
    .bind(&k.sealed_private)
    .bind(&k.public_jwk)
    .bind(k.times.created_at)
    .bind(k.times.activates_at)
    .bind(k.times.publish_until)
    .execute(c)
    .await?;
    Ok(())
}

/// The advisory lock that serialises "insert the first key of an algorithm": under READ
/// COMMITTED an `INSERT … WHERE NOT EXISTS` alone lets two nodes starting together both
/// insert, so the check and the insert run under this transaction-scoped lock.
const FIRST_KEY_LOCK: i64 = 0x7661_6c65_746b_6579; // "valetkey"

pub(super) async fn insert_first_signing_key(db: &PgPool, k: &SigningKeyRecord) -> Result<bool> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(FIRST_KEY_LOCK)
        .execute(&mut *tx)
        .await?;
    let exists = sqlx::query("SELECT 1 FROM signing_keys WHERE alg = $1 LIMIT 1")
        .bind(&k.times.alg)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    insert_key(&mut tx, k).await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn rotate_signing_key(
    db: &PgPool,
    k: &SigningKeyRecord,
    retire: &[(String, UnixTime)],
) -> Result<()> {
    let mut tx = db.begin().await?;
    for (kid, until) in retire {
        sqlx::query(
            "UPDATE signing_keys SET publish_until = $2 WHERE kid = $1 AND publish_until IS NULL",
        )
        .bind(kid)
        .bind(until)
        .execute(&mut *tx)
        .await?;
    }
    insert_key(&mut tx, k).await?;
    tx.commit().await?;
    Ok(())
}
