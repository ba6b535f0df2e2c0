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
//! This file holds the pool, the migrations and `timed` (the bound on every call). Each
//! area of the contract is implemented in its own file, SQL included, named like the
//! SQLite backend's.

mod access_tokens;
mod apis;
mod applications;
mod audit;
mod consents;
mod device;
mod forms;
mod grants;
mod health;
mod housekeeping;
mod identities;
mod links;
mod logout;
mod pushed_requests;
mod refresh;
mod registrations;
mod replays;
mod second_factors;
mod sessions;
mod signing_keys;
pub mod testdb;
mod throttle;
mod upstream_providers;
mod users;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Row};
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use crate::{Result, StoreError, TokenHash};

/// Migrations in order; the one row of `valet_schema` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_access_tokens.sql"),
    include_str!("../../migrations/postgres/0003_throttle.sql"),
    include_str!("../../migrations/postgres/0004_api_introspectors.sql"),
    include_str!("../../migrations/postgres/0005_used_forms.sql"),
    include_str!("../../migrations/postgres/0006_heartbeat.sql"),
    include_str!("../../migrations/postgres/0007_device_codes.sql"),
    include_str!("../../migrations/postgres/0008_registrations.sql"),
    include_str!("../../migrations/postgres/0009_admin.sql"),
    include_str!("../../migrations/postgres/0010_second_factors.sql"),
    include_str!("../../migrations/postgres/0011_logout_deliveries.sql"),
    include_str!("../../migrations/postgres/0012_account.sql"),
    include_str!("../../migrations/postgres/0013_links.sql"),
    include_str!("../../migrations/postgres/0014_passkeys.sql"),
    include_str!("../../migrations/postgres/0015_pending_users.sql"),
    include_str!("../../migrations/postgres/0016_refresh_chains.sql"),
    CLIENT_ORIGINS,
    include_str!("../../migrations/postgres/0018_upstream_identities.sql"),
    include_str!("../../migrations/postgres/0019_upstream_providers.sql"),
    include_str!("../../migrations/postgres/0020_used_once.sql"),
    include_str!("../../migrations/postgres/0021_pushed_requests.sql"),
    include_str!("../../migrations/postgres/0022_api_token_exchange.sql"),
    include_str!("../../migrations/postgres/0023_audit_request_id.sql"),
];

/// The migration after which `migrate` fills the origin index from the stored
/// registrations (`applications::backfill_origins`): the origins are computed in Rust.
const CLIENT_ORIGINS: &str = include_str!("../../migrations/postgres/0017_client_origins.sql");

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
                // sqlx prepares every statement once per pooled connection. After five
                // executions PostgreSQL may switch a prepared statement to a generic plan,
                // made once and kept for the connection's life: on a database that started
                // empty, that plan was made for one-page tables (a sequential scan of
                // `refresh_tokens`), and it stays as the table grows to millions of rows
                // (36,637 such scans in one benchmark run, issue 17). Valet's statements
                // are short lookups and writes by key (the purge's in bounded batches), so
                // planning each with its parameters costs little and always sees the
                // tables' current size. (PostgreSQL 12 or later, as `plan_cache_mode` is.)
                ("plan_cache_mode", "force_custom_plan"),
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
        if *sql == CLIENT_ORIGINS {
            applications::backfill_origins(&mut tx).await?;
        }
    }
    sqlx::query("UPDATE valet_schema SET version = $1")
        .bind(i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Token hashes are stored as BYTEA.
impl sqlx::Type<sqlx::Postgres> for TokenHash {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <Vec<u8> as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <Vec<u8> as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Postgres> for TokenHash {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&[u8] as sqlx::Encode<'q, sqlx::Postgres>>::encode(self.as_bytes(), buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for TokenHash {
    fn decode(
        value: sqlx::postgres::PgValueRef<'r>,
    ) -> std::result::Result<Self, sqlx::error::BoxDynError> {
        <Vec<u8> as sqlx::Decode<'r, sqlx::Postgres>>::decode(value).map(TokenHash::new)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::testdb::TestDatabase;
    use super::{PostgresOptions, PostgresStore};

    #[tokio::test]
    #[cfg_attr(
        not(postgres_tests),
        ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
    )]
    async fn every_pooled_connection_plans_with_its_parameters() {
        let db = TestDatabase::create().await.unwrap();
        let s = PostgresStore::connect(&PostgresOptions::new(&db.url))
            .await
            .unwrap();
        // Several connections at once, so that more than one is checked.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut c = s.pool().acquire().await.unwrap();
            let mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
                .fetch_one(&mut *c)
                .await
                .unwrap();
            assert_eq!(mode, "force_custom_plan");
            held.push(c);
        }
    }
}
