//! The SQLite backend: one file in WAL mode, through rusqlite.
//!
//! Why rusqlite and not sqlx: measured on this project's machines, sqlx's SQLite driver
//! serves 7–15k point reads/s per core and ~5k inserts/s; rusqlite serves ~175k reads/s
//! and ~15k inserts/s. SQLite is a library, not a server, so an async driver only adds a
//! thread hop and a channel per query. Here every call runs on Tokio's blocking pool
//! against one writer connection (SQLite allows one writer at a time anyway) or one of a
//! few reader connections (WAL lets readers run beside the writer).
//!
//! This file holds the connections, the migrations and the helpers every area shares
//! (`read`, `point_read` and `write` pick a connection and run a blocking closure on it;
//! `immediate` begins a write transaction). Each area of the contract is implemented in
//! its own file, SQL included: `applications`, `users`, `apis`, `signing_keys`,
//! `access_tokens` (the JWT revocation list and opaque access tokens), `grants` (codes,
//! grants, their revocation), `consents`, `refresh` (refresh tokens and their rotation),
//! `sessions` (browser sessions), `forms` (spent sealed forms), `replays` (one-time
//! values already seen), `pushed_requests` (RFC 9126, taken once), `throttle`, `device`
//! (device codes), `registrations` (self-registered applications), `housekeeping` (the
//! purge) and `health` (ping, the heartbeat).

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
mod lock;
mod logout;
mod pushed_requests;
mod refresh;
mod registrations;
mod replays;
mod second_factors;
mod sessions;
mod signing_keys;
mod throttle;
mod upstream_providers;
mod users;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::{Result, StoreError, TokenHash};

/// Migrations in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_users.sql"),
    include_str!("../../migrations/sqlite/0003_codes.sql"),
    include_str!("../../migrations/sqlite/0004_grants.sql"),
    include_str!("../../migrations/sqlite/0005_access_tokens.sql"),
    include_str!("../../migrations/sqlite/0006_throttle.sql"),
    include_str!("../../migrations/sqlite/0007_api_introspectors.sql"),
    include_str!("../../migrations/sqlite/0008_used_forms.sql"),
    include_str!("../../migrations/sqlite/0009_heartbeat.sql"),
    include_str!("../../migrations/sqlite/0010_device_codes.sql"),
    include_str!("../../migrations/sqlite/0011_registrations.sql"),
    include_str!("../../migrations/sqlite/0012_admin.sql"),
    include_str!("../../migrations/sqlite/0013_second_factors.sql"),
    include_str!("../../migrations/sqlite/0014_logout_deliveries.sql"),
    include_str!("../../migrations/sqlite/0015_account.sql"),
    include_str!("../../migrations/sqlite/0016_links.sql"),
    include_str!("../../migrations/sqlite/0017_passkeys.sql"),
    include_str!("../../migrations/sqlite/0018_pending_users.sql"),
    include_str!("../../migrations/sqlite/0019_refresh_chains.sql"),
    CLIENT_ORIGINS,
    include_str!("../../migrations/sqlite/0021_full_indexes.sql"),
    include_str!("../../migrations/sqlite/0022_upstream_identities.sql"),
    include_str!("../../migrations/sqlite/0023_upstream_providers.sql"),
    include_str!("../../migrations/sqlite/0024_used_once.sql"),
    include_str!("../../migrations/sqlite/0025_pushed_requests.sql"),
    include_str!("../../migrations/sqlite/0026_api_token_exchange.sql"),
    include_str!("../../migrations/sqlite/0027_audit_request_id.sql"),
];

/// The migration after which `migrate` fills the origin index from the stored
/// registrations (`applications::backfill_origins`): the origins are computed in Rust.
const CLIENT_ORIGINS: &str = include_str!("../../migrations/sqlite/0020_client_origins.sql");

pub use crate::CODE_REPLAY_MEMORY;
pub use lock::lock_path;

const READERS: usize = 4;

pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    /// Held while the store lives (`lock.rs`), released after the connections closed
    /// (fields drop in order); none for `:memory:` and `file:` URIs.
    _lock: Option<lock::FileLock>,
}

/// How long a write waits for another connection's write lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // WAL: readers never block the writer. synchronous=NORMAL in WAL mode keeps every
    // committed transaction across a process crash (an OS crash may lose the last few).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Room for every statement this backend prepares (the default keeps 16).
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn lock(m: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A panic while holding a connection cannot leave a half-written transaction (SQLite
    // rolls back an open transaction on the next statement), so a poisoned lock is usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A write transaction that takes the write lock when it begins (`BEGIN IMMEDIATE`), so
/// waiting for another process's writer is covered by the busy timeout. A deferred
/// transaction that read first would instead fail with SQLITE_BUSY when it tried to write
/// after another connection committed.
fn immediate(c: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    c.transaction_with_behavior(TransactionBehavior::Immediate)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    /// Refuses while `valet migrate` copies the file (`lock.rs`).
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(path, lock::Mode::Shared))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    /// As `open`, but as the only process with the file open, for as long as the store
    /// lives: refused while a server or another command has it open, and none can open
    /// it meanwhile (`valet migrate` copies under it).
    pub async fn open_exclusive(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(path, lock::Mode::Exclusive))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    fn open_blocking(path: PathBuf, mode: lock::Mode) -> Result<Self> {
        let held = if is_special(&path) {
            None
        } else {
            Some(lock::lock(&path, mode)?)
        };
        create_private(&path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let mut writer = Connection::open_with_flags(&path, flags)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
        configure(&writer)?;
        migrate(&mut writer)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(&path, flags)?;
            configure(&r)?;
            readers.push(Mutex::new(r));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers,
                next: AtomicUsize::new(0),
                _lock: held,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let start = inner.next.fetch_add(1, Ordering::Relaxed);
            for i in 0..READERS {
                if let Ok(conn) = inner.readers[(start + i) % READERS].try_lock() {
                    return f(&conn);
                }
            }
            f(&lock(&inner.readers[start % READERS]))
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    /// A primary-key lookup takes microseconds, less than a hop to the blocking pool and
    /// back, so it runs inline when a reader connection is free (WAL readers never wait
    /// for the writer). Everything else goes through `read`.
    async fn point_read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..READERS {
            if let Ok(conn) = self.inner.readers[(start + i) % READERS].try_lock() {
                return f(&conn);
            }
        }
        self.read(f).await
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&inner.writer)))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }
}

/// Creates the database file, empty, with mode 0600 if it does not exist yet, so that it
/// is private to the user Valet runs as whatever the umask (issue 12, item 13). SQLite
/// gives the `-wal` and `-shm` files it creates later the main file's permissions, so
/// they are 0600 too. An existing file keeps its mode (the server warns if others can
/// read it). `:memory:` and `file:` URIs are SQLite's to open.
fn create_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if is_special(path) {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// `:memory:` and `file:` URIs: names for SQLite, not files of ours.
fn is_special(path: &Path) -> bool {
    path.as_os_str() == ":memory:" || path.to_str().is_some_and(|p| p.starts_with("file:"))
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = immediate(conn)?;
    let done: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let done = usize::try_from(done).unwrap_or(usize::MAX);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {done}, newer than this Valet knows ({}); \
             upgrade Valet",
            MIGRATIONS.len()
        )));
    }
    for sql in &MIGRATIONS[done..] {
        tx.execute_batch(sql)?;
        if *sql == CLIENT_ORIGINS {
            applications::backfill_origins(&tx)?;
        }
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    tx.commit()?;
    Ok(())
}

/// Every row of `sql` (no parameters), read with `row` and converted with `convert`.
fn all<R, T>(
    c: &Connection,
    sql: &str,
    row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
    convert: fn(R) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt
        .query_map([], row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(convert).collect()
}

/// Token hashes are stored as BLOBs.
impl rusqlite::ToSql for TokenHash {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_bytes().into())
    }
}

impl rusqlite::types::FromSql for TokenHash {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        Vec::<u8>::column_result(value).map(TokenHash::new)
    }
}
