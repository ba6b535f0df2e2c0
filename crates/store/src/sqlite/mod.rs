//! The SQLite backend: one file in WAL mode, through rusqlite.
//!
//! Why rusqlite and not sqlx: measured on this project's machines, sqlx's SQLite driver
//! serves 7–15k point reads/s per core and ~5k inserts/s; rusqlite serves ~175k reads/s
//! and ~15k inserts/s. SQLite is a library, not a server, so an async driver only adds a
//! thread hop and a channel per query. Here every call runs on Tokio's blocking pool
//! against one writer connection (SQLite allows one writer at a time anyway) or one of a
//! few reader connections (WAL lets readers run beside the writer).
//!
//! This file holds the connections, the migrations and `impl Store`, which only picks a
//! connection and hands it to the blocking function that holds the SQL: `catalog`
//! (applications, users, APIs, signing keys), `grants` (codes, grants, revocations,
//! consents), `refresh` (refresh tokens and their rotation), `access_tokens` (opaque
//! access tokens), `sessions` (browser sessions) and `housekeeping` (the purge).

mod access_tokens;
mod catalog;
mod device;
mod grants;
mod housekeeping;
mod refresh;
mod sessions;
mod throttle;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::{
    ApiRecord, ClientRecord, CodeRecord, CodeUse, ConsentRecord, DeviceCodeRecord, DeviceDecision,
    GrantRecord, OpaqueAccessTokenRecord, RefreshTokenRecord, Rotation, SecretHash, SessionRecord,
    SigningKeyRecord, UserRecord,
};
use crate::{Result, Store, StoreError, UnixTime};

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
];

pub use crate::CODE_REPLAY_MEMORY;

const READERS: usize = 4;

pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
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
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(path))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    fn open_blocking(path: PathBuf) -> Result<Self> {
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
    let name = path.as_os_str();
    if name == ":memory:" || path.to_str().is_some_and(|p| p.starts_with("file:")) {
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

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| {
            Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(|_| ())?)
        })
        .await
    }

    async fn check_writable(&self, now: UnixTime) -> Result<()> {
        self.write(move |c| housekeeping::heartbeat(c, now)).await
    }

    // ---- applications ----

    async fn create_client(&self, client: &ClientRecord) -> Result<()> {
        let client = client.clone();
        self.write(move |c| catalog::create_client(c, &client))
            .await
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        let id = client_id.to_owned();
        self.point_read(move |c| catalog::client(c, &id)).await
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        self.read(catalog::clients).await
    }

    async fn update_client(&self, client: &ClientRecord) -> Result<bool> {
        let client = client.clone();
        self.write(move |c| catalog::update_client(c, &client))
            .await
    }

    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret: &SecretHash,
        previous_until: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<bool> {
        let id = client_id.to_owned();
        let new = secret.clone();
        self.write(move |c| catalog::rotate_client_secret(c, &id, &new, previous_until, now))
            .await
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool> {
        let id = client_id.to_owned();
        self.write(move |c| catalog::delete_client(c, &id)).await
    }

    // ---- users ----

    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        let user = user.clone();
        self.write(move |c| catalog::create_user(c, &user)).await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        let name = username.to_owned();
        self.point_read(move |c| catalog::one_user(c, "username", name))
            .await
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>> {
        let id = id.to_owned();
        self.point_read(move |c| catalog::one_user(c, "id", id))
            .await
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        self.read(catalog::users).await
    }

    async fn delete_user(&self, username: &str) -> Result<bool> {
        let name = username.to_owned();
        self.write(move |c| catalog::delete_user(c, &name)).await
    }

    // ---- APIs ----

    async fn create_api(&self, api: &ApiRecord) -> Result<()> {
        let api = api.clone();
        self.write(move |c| catalog::create_api(c, &api)).await
    }

    async fn apis(&self) -> Result<Vec<ApiRecord>> {
        self.read(catalog::apis).await
    }

    async fn delete_api(&self, audience: &str) -> Result<bool> {
        let aud = audience.to_owned();
        self.write(move |c| catalog::delete_api(c, &aud)).await
    }

    // ---- signing keys ----

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        self.read(catalog::signing_keys).await
    }

    async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> Result<bool> {
        let key = key.clone();
        self.write(move |c| catalog::insert_first_signing_key(c, &key))
            .await
    }

    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire: &[(String, UnixTime)],
    ) -> Result<()> {
        let key = key.clone();
        let retire = retire.to_vec();
        self.write(move |c| catalog::rotate_signing_key(c, &key, &retire))
            .await
    }

    // ---- revocation of JWT access tokens ----

    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> Result<()> {
        let jti = jti.to_owned();
        self.write(move |c| grants::revoke_access_token(c, &jti, expires_at))
            .await
    }

    async fn is_access_token_revoked(&self, jti: &str) -> Result<bool> {
        let jti = jti.to_owned();
        self.point_read(move |c| grants::is_access_token_revoked(c, &jti))
            .await
    }

    // ---- authorization codes and grants ----

    async fn insert_code(&self, code: &CodeRecord, grant: Option<&GrantRecord>) -> Result<()> {
        let code = code.clone();
        let grant = grant.cloned();
        self.write(move |c| grants::insert_code(c, &code, grant.as_ref()))
            .await
    }

    async fn insert_grant(&self, grant: &GrantRecord) -> Result<()> {
        let grant = grant.clone();
        self.write(move |c| grants::insert_grant(c, &grant)).await
    }

    async fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>> {
        let id = grant_id.to_owned();
        self.point_read(move |c| grants::grant(c, &id)).await
    }

    async fn consume_code(&self, hash: &[u8], now: UnixTime) -> Result<CodeUse> {
        let hash = hash.to_vec();
        self.write(move |c| grants::consume_code(c, &hash, now))
            .await
    }

    async fn revoke_grant(&self, grant_id: &str, until: UnixTime) -> Result<()> {
        let id = grant_id.to_owned();
        self.write(move |c| grants::revoke_grant(c, &id, until))
            .await
    }

    async fn is_grant_revoked(&self, grant_id: &str) -> Result<bool> {
        let id = grant_id.to_owned();
        self.point_read(move |c| grants::is_grant_revoked(c, &id))
            .await
    }

    // ---- refresh tokens ----

    async fn insert_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        grant_until: UnixTime,
    ) -> Result<()> {
        let token = token.clone();
        self.write(move |c| refresh::insert(c, &token, grant_until))
            .await
    }

    async fn refresh_token(
        &self,
        hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<RefreshTokenRecord>> {
        let hash = hash.to_vec();
        self.point_read(move |c| refresh::get(c, &hash, now)).await
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new: &RefreshTokenRecord,
        successor: &[u8],
        grant_until: UnixTime,
        now: UnixTime,
    ) -> Result<Rotation> {
        let old = old_hash.to_vec();
        let new = new.clone();
        let successor = successor.to_vec();
        self.write(move |c| refresh::rotate(c, &old, &new, &successor, grant_until, now))
            .await
    }

    // ---- opaque access tokens ----

    async fn insert_opaque_access_token(&self, token: &OpaqueAccessTokenRecord) -> Result<()> {
        let token = token.clone();
        self.write(move |c| access_tokens::insert(c, &token)).await
    }

    async fn opaque_access_token(
        &self,
        hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<OpaqueAccessTokenRecord>> {
        let hash = hash.to_vec();
        self.point_read(move |c| access_tokens::get(c, &hash, now))
            .await
    }

    async fn revoke_opaque_access_token(&self, hash: &[u8]) -> Result<bool> {
        let hash = hash.to_vec();
        self.write(move |c| access_tokens::revoke(c, &hash)).await
    }

    // ---- consent ----

    async fn consent(&self, user_id: &str, client_id: &str) -> Result<Option<ConsentRecord>> {
        let (user, client) = (user_id.to_owned(), client_id.to_owned());
        self.point_read(move |c| grants::consent(c, &user, &client))
            .await
    }

    async fn save_consent(&self, consent: &ConsentRecord) -> Result<()> {
        let consent = consent.clone();
        self.write(move |c| grants::save_consent(c, &consent)).await
    }

    async fn consents_of_user(&self, user_id: &str) -> Result<Vec<ConsentRecord>> {
        let user = user_id.to_owned();
        self.read(move |c| grants::consents_of_user(c, &user)).await
    }

    async fn revoke_consent(&self, user_id: &str, client_id: &str, now: UnixTime) -> Result<u64> {
        let (user, client) = (user_id.to_owned(), client_id.to_owned());
        self.write(move |c| grants::revoke_consent(c, &user, &client, now))
            .await
    }

    async fn revoke_client_grants(&self, client_id: &str, now: UnixTime) -> Result<u64> {
        let client = client_id.to_owned();
        self.write(move |c| grants::revoke_client_grants(c, &client, now))
            .await
    }

    // ---- browser sessions ----

    async fn create_session(&self, session: &SessionRecord, replaces: Option<&[u8]>) -> Result<()> {
        let session = session.clone();
        let replaces = replaces.map(<[u8]>::to_vec);
        self.write(move |c| sessions::create(c, &session, replaces.as_deref()))
            .await
    }

    async fn session(&self, id_hash: &[u8], now: UnixTime) -> Result<Option<SessionRecord>> {
        let id = id_hash.to_vec();
        self.point_read(move |c| sessions::get(c, &id, now)).await
    }

    async fn end_session(&self, id_hash: &[u8], now: UnixTime) -> Result<bool> {
        let id = id_hash.to_vec();
        self.write(move |c| sessions::end(c, &id, now)).await
    }

    // ---- throttling ----

    async fn throttle_attempt(
        &self,
        rules: &[crate::ThrottleRule],
        now: UnixTime,
    ) -> Result<crate::ThrottleDecision> {
        let rules = rules.to_vec();
        self.write(move |c| throttle::attempt(c, &rules, now)).await
    }

    async fn throttle_refund(&self, keys: &[String]) -> Result<()> {
        let keys = keys.to_vec();
        self.write(move |c| throttle::refund(c, &keys)).await
    }

    async fn throttle_mark(&self, key: &str, now: UnixTime, until: UnixTime) -> Result<()> {
        let key = key.to_owned();
        self.write(move |c| throttle::mark(c, &key, now, until))
            .await
    }

    async fn throttle_marked(&self, key: &str, now: UnixTime) -> Result<bool> {
        let key = key.to_owned();
        self.point_read(move |c| throttle::marked(c, &key, now))
            .await
    }

    // ---- sealed forms ----

    async fn consume_sealed_form(&self, id: &str, expires_at: UnixTime) -> Result<bool> {
        let id = id.to_owned();
        self.write(move |c| sessions::consume_sealed_form(c, &id, expires_at))
            .await
    }

    // ---- device codes ----

    async fn insert_device_code(&self, code: &DeviceCodeRecord) -> Result<()> {
        let code = code.clone();
        self.write(move |c| device::insert(c, &code)).await
    }

    async fn device_code(&self, device_hash: &[u8]) -> Result<Option<DeviceCodeRecord>> {
        let hash = device_hash.to_vec();
        self.point_read(move |c| device::get(c, &hash)).await
    }

    async fn pending_device_code(
        &self,
        user_code_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<DeviceCodeRecord>> {
        let hash = user_code_hash.to_vec();
        self.point_read(move |c| device::pending(c, &hash, now))
            .await
    }

    async fn decide_device_code(
        &self,
        user_code_hash: &[u8],
        client_id: &str,
        decision: &DeviceDecision,
        now: UnixTime,
    ) -> Result<bool> {
        let hash = user_code_hash.to_vec();
        let client = client_id.to_owned();
        let decision = decision.clone();
        self.write(move |c| device::decide(c, &hash, &client, &decision, now))
            .await
    }

    async fn record_device_poll(
        &self,
        device_hash: &[u8],
        seen: UnixTime,
        interval: i64,
        now: UnixTime,
    ) -> Result<bool> {
        let hash = device_hash.to_vec();
        self.write(move |c| device::record_poll(c, &hash, seen, interval, now))
            .await
    }

    async fn redeem_device_code(
        &self,
        device_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<DeviceCodeRecord>> {
        let hash = device_hash.to_vec();
        self.write(move |c| device::redeem(c, &hash, now)).await
    }

    // ---- housekeeping ----

    async fn purge_expired(&self, now: UnixTime, batch: u32) -> Result<u64> {
        self.write(move |c| housekeeping::purge_expired(c, now, batch))
            .await
    }
}
