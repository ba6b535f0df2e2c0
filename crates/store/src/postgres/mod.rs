//! The PostgreSQL backend: several Valet nodes over one database, through sqlx's pool.
//!
//! Rules beyond the trait's:
//! - Every call is bounded by `PostgresOptions::timeout`: a stalled or unreachable
//!   database yields `Unavailable` (HTTP 503) in bounded time, and the server also
//!   cancels the statement (`statement_timeout`). A connection that broke is dropped by
//!   the pool and replaced on the next use, so service resumes by itself.
//! - Single use holds across nodes because the database decides it: a racing
//!   `UPDATE … WHERE consumed_at IS NULL` waits for the winner's row lock, re-reads the
//!   row (READ COMMITTED) and matches nothing.
//! - Migrations run under an advisory lock, so nodes starting together migrate once.
//!
//! This file holds the pool, the migrations and `impl Store`, which hands the pool to the
//! function that holds the SQL, in files named like the SQLite backend's.

mod access_tokens;
mod catalog;
mod device;
mod grants;
mod housekeeping;
mod refresh;
mod sessions;
pub mod testdb;
mod throttle;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Row};
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use crate::model::{
    ApiRecord, ClientRecord, CodeRecord, CodeUse, ConsentRecord, DeviceCodeRecord, DeviceDecision,
    GrantRecord, OpaqueAccessTokenRecord, RefreshTokenRecord, Rotation, SecretHash, SessionRecord,
    SigningKeyRecord, UserRecord,
};
use crate::{Result, Store, StoreError, UnixTime};

/// Migrations in order; the one row of `valet_schema` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_access_tokens.sql"),
    include_str!("../../migrations/postgres/0003_throttle.sql"),
    include_str!("../../migrations/postgres/0004_api_introspectors.sql"),
    include_str!("../../migrations/postgres/0005_used_forms.sql"),
    include_str!("../../migrations/postgres/0006_heartbeat.sql"),
    include_str!("../../migrations/postgres/0007_device_codes.sql"),
];

/// The advisory lock migrations run under ("valetmig").
const MIGRATION_LOCK: i64 = 0x7661_6c65_746d_6967;

/// How to reach the database. `Debug` never prints the URL (it may hold a password).
#[derive(Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/database?sslmode=…` (libpq's URL form).
    pub url: String,
    /// Connections this node keeps at most.
    pub max_connections: u32,
    /// Bound on every call, from waiting for a connection to the last row.
    pub timeout: Duration,
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &"[redacted]")
            .field("max_connections", &self.max_connections)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            timeout: Duration::from_secs(5),
        }
    }
}

pub struct PostgresStore {
    pool: PgPool,
    timeout: Duration,
}

impl PostgresStore {
    /// Connects, and applies pending migrations (once, however many nodes start at once).
    pub async fn connect(opts: &PostgresOptions) -> Result<Self> {
        let millis = opts.timeout.as_millis().to_string();
        let connect = PgConnectOptions::from_str(&opts.url)
            .map_err(|e| StoreError::Unavailable(format!("database URL: {}", redact(&e))))?
            .application_name("valet")
            // The server gives up on a statement the client has stopped waiting for.
            .options([
                ("statement_timeout", millis.as_str()),
                // Notices ("relation … already exists, skipping") are not worth a log line.
                ("client_min_messages", "warning"),
            ])
            // Statements carry no secrets (values are bound), but a log line per query is
            // noise.
            .disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .min_connections(0)
            .acquire_timeout(opts.timeout)
            // A connection that broke fails its next query and is dropped; testing every
            // connection before use would cost each call a round trip.
            .test_before_acquire(false)
            .idle_timeout(Duration::from_secs(300))
            .connect_lazy_with(connect);
        let store = Self {
            pool,
            timeout: opts.timeout,
        };
        store.timed(migrate(&store.pool)).await?;
        Ok(store)
    }

    /// Runs one call within the timeout.
    async fn timed<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Unavailable(format!(
                "the database did not answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    /// The pool, for tools that copy data in (`valet migrate`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// An error about the URL, without the URL (it may hold a password).
fn redact(e: &sqlx::Error) -> String {
    let text = e.to_string();
    if text.contains("://") || text.contains('@') {
        "it is not a valid postgres:// URL".to_owned()
    } else {
        text
    }
}

async fn migrate(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS valet_schema (version INTEGER NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let done: i32 = match sqlx::query("SELECT version FROM valet_schema")
        .fetch_optional(&mut *tx)
        .await?
    {
        Some(r) => r.try_get(0)?,
        None => {
            sqlx::query("INSERT INTO valet_schema (version) VALUES (0)")
                .execute(&mut *tx)
                .await?;
            0
        }
    };
    let done = usize::try_from(done).unwrap_or(usize::MAX);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {done}, newer than this Valet knows ({}); \
             upgrade Valet",
            MIGRATIONS.len()
        )));
    }
    for sql in &MIGRATIONS[done..] {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
    }
    sqlx::query("UPDATE valet_schema SET version = $1")
        .bind(i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        self.timed(async {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
        .await
    }

    async fn check_writable(&self, now: UnixTime) -> Result<()> {
        self.timed(housekeeping::heartbeat(&self.pool, now)).await
    }

    // ---- applications ----

    async fn create_client(&self, client: &ClientRecord) -> Result<()> {
        self.timed(catalog::create_client(&self.pool, client)).await
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        self.timed(catalog::client(&self.pool, client_id)).await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        self.timed(catalog::clients(&self.pool)).await
    }

    async fn update_client(&self, client: &ClientRecord) -> Result<bool> {
        self.timed(catalog::update_client(&self.pool, client)).await
    }

    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret: &SecretHash,
        previous_until: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<bool> {
        self.timed(catalog::rotate_client_secret(
            &self.pool,
            client_id,
            secret,
            previous_until,
            now,
        ))
        .await
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool> {
        self.timed(catalog::delete_client(&self.pool, client_id))
            .await
    }

    // ---- users ----

    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        self.timed(catalog::create_user(&self.pool, user)).await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        self.timed(catalog::user_by_username(&self.pool, username))
            .await
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>> {
        self.timed(catalog::user(&self.pool, id)).await
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        self.timed(catalog::users(&self.pool)).await
    }

    async fn delete_user(&self, username: &str) -> Result<bool> {
        self.timed(catalog::delete_user(&self.pool, username)).await
    }

    // ---- APIs ----

    async fn create_api(&self, api: &ApiRecord) -> Result<()> {
        self.timed(catalog::create_api(&self.pool, api)).await
    }

    async fn apis(&self) -> Result<Vec<ApiRecord>> {
        self.timed(catalog::apis(&self.pool)).await
    }

    async fn delete_api(&self, audience: &str) -> Result<bool> {
        self.timed(catalog::delete_api(&self.pool, audience)).await
    }

    // ---- signing keys ----

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        self.timed(catalog::signing_keys(&self.pool)).await
    }

    async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> Result<bool> {
        self.timed(catalog::insert_first_signing_key(&self.pool, key))
            .await
    }

    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire: &[(String, UnixTime)],
    ) -> Result<()> {
        self.timed(catalog::rotate_signing_key(&self.pool, key, retire))
            .await
    }

    // ---- revocation of JWT access tokens ----

    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> Result<()> {
        self.timed(grants::revoke_access_token(&self.pool, jti, expires_at))
            .await
    }

    async fn is_access_token_revoked(&self, jti: &str) -> Result<bool> {
        self.timed(grants::is_access_token_revoked(&self.pool, jti))
            .await
    }

    // ---- authorization codes and grants ----

    async fn insert_code(&self, code: &CodeRecord, grant: Option<&GrantRecord>) -> Result<()> {
        self.timed(grants::insert_code(&self.pool, code, grant))
            .await
    }

    async fn insert_grant(&self, grant: &GrantRecord) -> Result<()> {
        self.timed(async {
            let mut c = self.pool.acquire().await?;
            grants::insert_grant(&mut c, grant).await
        })
        .await
    }

    async fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>> {
        self.timed(grants::grant(&self.pool, grant_id)).await
    }

    async fn consume_code(&self, hash: &[u8], now: UnixTime) -> Result<CodeUse> {
        self.timed(grants::consume_code(&self.pool, hash, now))
            .await
    }

    async fn revoke_grant(&self, grant_id: &str, until: UnixTime) -> Result<()> {
        self.timed(grants::revoke_grant(&self.pool, grant_id, until))
            .await
    }

    async fn is_grant_revoked(&self, grant_id: &str) -> Result<bool> {
        self.timed(grants::is_grant_revoked(&self.pool, grant_id))
            .await
    }

    // ---- refresh tokens ----

    async fn insert_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        grant_until: UnixTime,
    ) -> Result<()> {
        self.timed(refresh::insert(&self.pool, token, grant_until))
            .await
    }

    async fn refresh_token(
        &self,
        hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<RefreshTokenRecord>> {
        self.timed(refresh::get(&self.pool, hash, now)).await
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new: &RefreshTokenRecord,
        successor: &[u8],
        grant_until: UnixTime,
        now: UnixTime,
    ) -> Result<Rotation> {
        self.timed(refresh::rotate(
            &self.pool,
            old_hash,
            new,
            successor,
            grant_until,
            now,
        ))
        .await
    }

    // ---- consent ----

    async fn consent(&self, user_id: &str, client_id: &str) -> Result<Option<ConsentRecord>> {
        self.timed(grants::consent(&self.pool, user_id, client_id))
            .await
    }

    async fn save_consent(&self, consent: &ConsentRecord) -> Result<()> {
        self.timed(grants::save_consent(&self.pool, consent)).await
    }

    async fn consents_of_user(&self, user_id: &str) -> Result<Vec<ConsentRecord>> {
        self.timed(grants::consents_of_user(&self.pool, user_id))
            .await
    }

    async fn revoke_consent(&self, user_id: &str, client_id: &str, now: UnixTime) -> Result<u64> {
        self.timed(grants::revoke_consent(&self.pool, user_id, client_id, now))
            .await
    }

    async fn revoke_client_grants(&self, client_id: &str, now: UnixTime) -> Result<u64> {
        self.timed(grants::revoke_client_grants(&self.pool, client_id, now))
            .await
    }

    // ---- browser sessions ----

    async fn create_session(&self, session: &SessionRecord, replaces: Option<&[u8]>) -> Result<()> {
        self.timed(sessions::create(&self.pool, session, replaces))
            .await
    }

    async fn session(&self, id_hash: &[u8], now: UnixTime) -> Result<Option<SessionRecord>> {
        self.timed(sessions::get(&self.pool, id_hash, now)).await
    }

    async fn end_session(&self, id_hash: &[u8], now: UnixTime) -> Result<bool> {
        self.timed(sessions::end(&self.pool, id_hash, now)).await
    }

    // ---- opaque access tokens ----

    async fn insert_opaque_access_token(&self, token: &OpaqueAccessTokenRecord) -> Result<()> {
        self.timed(access_tokens::insert(&self.pool, token)).await
    }

    async fn opaque_access_token(
        &self,
        hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<OpaqueAccessTokenRecord>> {
        self.timed(access_tokens::get(&self.pool, hash, now)).await
    }

    async fn revoke_opaque_access_token(&self, hash: &[u8]) -> Result<bool> {
        self.timed(access_tokens::revoke(&self.pool, hash)).await
    }

    // ---- throttling ----

    async fn throttle_attempt(
        &self,
        rules: &[crate::ThrottleRule],
        now: UnixTime,
    ) -> Result<crate::ThrottleDecision> {
        self.timed(throttle::attempt(&self.pool, rules, now)).await
    }

    async fn throttle_refund(&self, keys: &[String]) -> Result<()> {
        self.timed(throttle::refund(&self.pool, keys)).await
    }

    async fn throttle_mark(&self, key: &str, now: UnixTime, until: UnixTime) -> Result<()> {
        self.timed(throttle::mark(&self.pool, key, now, until))
            .await
    }

    async fn throttle_marked(&self, key: &str, now: UnixTime) -> Result<bool> {
        self.timed(throttle::marked(&self.pool, key, now)).await
    }

    // ---- sealed forms ----

    async fn consume_sealed_form(&self, id: &str, expires_at: UnixTime) -> Result<bool> {
        self.timed(sessions::consume_sealed_form(&self.pool, id, expires_at))
            .await
    }

    // ---- device codes ----

    async fn insert_device_code(&self, code: &DeviceCodeRecord) -> Result<()> {
        self.timed(device::insert(&self.pool, code)).await
    }

    async fn device_code(&self, device_hash: &[u8]) -> Result<Option<DeviceCodeRecord>> {
        self.timed(device::get(&self.pool, device_hash)).await
    }

    async fn pending_device_code(
        &self,
        user_code_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<DeviceCodeRecord>> {
        self.timed(device::pending(&self.pool, user_code_hash, now))
            .await
    }

    async fn decide_device_code(
        &self,
        user_code_hash: &[u8],
        client_id: &str,
        decision: &DeviceDecision,
        now: UnixTime,
    ) -> Result<bool> {
        self.timed(device::decide(
            &self.pool,
            user_code_hash,
            client_id,
            decision,
            now,
        ))
        .await
    }

    async fn record_device_poll(
        &self,
        device_hash: &[u8],
        seen: UnixTime,
        interval: i64,
        now: UnixTime,
    ) -> Result<bool> {
        self.timed(device::record_poll(
            &self.pool,
            device_hash,
            seen,
            interval,
            now,
        ))
        .await
    }

    async fn redeem_device_code(
        &self,
        device_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<DeviceCodeRecord>> {
        self.timed(device::redeem(&self.pool, device_hash, now))
            .await
    }

    // ---- housekeeping ----

    async fn purge_expired(&self, now: UnixTime, batch: u32) -> Result<u64> {
        self.timed(housekeeping::purge_expired(&self.pool, now, batch))
            .await
    }
}
