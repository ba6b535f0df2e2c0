#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The storage contract, checked against every backend. Each backend gets a fresh
//! database; the same suite functions (one module per part of the contract) run on all of
//! them. This file holds the backends, the shared fixtures and the backend-specific tests.

mod access_tokens;
mod account;
mod admin;
mod catalog;
mod codes;
mod consent;
mod device;
mod forms;
mod health;
mod housekeeping;
mod identities;
mod logout;
mod origins;
mod pending_users;
mod pushed_requests;
mod refresh;
mod registrations;
mod replays;
mod second_factors;
mod sessions;
mod throttle;

use std::sync::Arc;
use valet_protocol::application::{Application, AuthMethod, GrantType, Profile};
use valet_store::postgres::testdb::TestDatabase;
use valet_store::postgres::{PostgresOptions, PostgresStore};
use valet_store::prelude::*;
use valet_store::sqlite::SqliteStore;
use valet_store::{
    ClientRecord, CodeRecord, CodeUse, GrantRecord, RefreshTokenRecord, Rotation, SecretHash,
    SessionRecord, Store, StoreError, TokenHash,
};

async fn sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("valet.db"))
        .await
        .unwrap();
    (dir, Arc::new(store))
}

/// A store over a database of its own on the server `VALET_TEST_POSTGRES` names.
async fn postgres() -> (TestDatabase, Arc<dyn Store>) {
    let db = TestDatabase::create().await.unwrap();
    let store = PostgresStore::connect(&PostgresOptions::new(&db.url))
        .await
        .unwrap();
    (db, Arc::new(store))
}

fn client(id: &str) -> ClientRecord {
    ClientRecord {
        app: Application {
            client_id: id.into(),
            name: format!("app {id}"),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile: Profile::Service,
            redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["a".into()],
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            token_endpoint_auth_method_chosen: false,
            trusted: false,
            service_subject: None,
            post_logout_redirect_uris: vec![],
            allow_plain_pkce: false,
            require_pkce: false,
            require_mfa: false,
            id_token_on_refresh: true,
            cors_origins: vec![],
            access_token_format: Default::default(),
            access_token_ttl: None,
            refresh_token_ttl: None,
            backchannel_logout_uri: None,
            assurance: Default::default(),
            backchannel_logout_session_required: false,
            registration: Default::default(),
        },
        secret: Some(SecretHash(vec![1; 32])),
        previous_secret: None,
        created_at: 100,
        updated_at: 100,
    }
}

/// The hash `[n; 32]`, as the store keys codes, tokens, sessions and device codes.
fn token_hash(n: u8) -> TokenHash {
    TokenHash::new([n; 32])
}

fn code(hash: u8, expires_at: i64) -> CodeRecord {
    CodeRecord {
        hash: token_hash(hash),
        client_id: "c1".into(),
        grant_id: format!("g{hash}"),
        details: r#"{"redirect_uri":"https://app.example/cb"}"#.into(),
        expires_at,
    }
}

fn grant(id: &str, user: &str, client: &str, scope: &str, expires_at: i64) -> GrantRecord {
    GrantRecord {
        grant_id: id.into(),
        client_id: client.into(),
        user_id: user.into(),
        scope: scope.into(),
        session: None,
        created_at: 10,
        expires_at,
    }
}

/// A grant made in the browser session `session` (the session's id hash is `[session; 32]`).
fn grant_in(id: &str, user: &str, scope: &str, session: u8, expires_at: i64) -> GrantRecord {
    GrantRecord {
        session: Some(token_hash(session)),
        ..grant(id, user, "c1", scope, expires_at)
    }
}

async fn insert_grants(s: &Arc<dyn Store>, grants: &[GrantRecord]) {
    for g in grants {
        s.insert_grant(g).await.unwrap();
    }
}

async fn revoked(s: &Arc<dyn Store>, ids: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        if s.is_grant_revoked(id).await.unwrap() {
            out.push((*id).to_owned());
        }
    }
    out
}

fn refresh(hash: u8, grant_id: &str, expires_at: i64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: token_hash(hash),
        grant_id: grant_id.into(),
        client_id: "c1".into(),
        user_id: "u1".into(),
        details: r#"{"scope":"openid offline_access"}"#.into(),
        issued_at: 100,
        expires_at,
        rotated_at: None,
        chain: None,
        generation: 0,
    }
}

/// A token of the chain "chain-A" at `generation`, hashed `[hash; 32]`.
fn chained(hash: u8, generation: i64, expires_at: i64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        chain: Some("chain-A".into()),
        generation,
        ..refresh(hash, "g1", expires_at)
    }
}

/// What rotating `[hash; 32]` at `at` reports now (for tokens that cannot rotate again).
async fn rotate_again(s: &Arc<dyn Store>, hash: u8, at: i64) -> Rotation {
    let new = refresh(99, "g-none", 9);
    s.rotate_refresh_token(&token_hash(hash), &new, b"", 0, at)
        .await
        .unwrap()
}

fn session(id: u8, user: &str, expires_at: i64) -> SessionRecord {
    SessionRecord {
        id_hash: token_hash(id),
        user_id: user.into(),
        auth_time: 90,
        amr: vec!["pwd".into()],
        created_at: 100,
        expires_at,
        address: Some("192.0.2.1".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into()),
        last_used_at: 100,
    }
}

macro_rules! backend_suite {
    ($backend:ident #[$attr:meta], $($module:ident::{$($name:ident),+ $(,)?}),+ $(,)?) => {
        mod $backend {
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[$attr]
                async fn $name() {
                    let (_guard, store) = super::$backend().await;
                    super::$module::$name(store).await;
                }
            )+)+
        }
    };
}

/// The whole contract, for one backend and the attribute its tests carry.
macro_rules! contract_suite {
    ($backend:ident #[$attr:meta]) => {
        backend_suite!(
            $backend #[$attr],
            catalog::{clients, users, apis, api_introspectors, signing_keys},
            origins::{web_origins, web_origins_of_self_registered},
            admin::{
                user_updates,
                ending_a_user,
                live_grants,
                api_updates,
                key_revocation,
                audit_trail
            },
            codes::{
                codes,
                racing_redemptions,
                grants,
                revocations,
                codes_start_grants,
                redemption_reads_the_grants_standing
            },
            refresh::{
                refresh_tokens,
                rotation,
                racing_rotations,
                revocation_outlives_late_tokens,
                chains_keep_two_tokens
            },
            consent::{consents, revoke_consent, revoke_client_grants},
            sessions::{browser_sessions, logout, debug_redacts_hashes},
            account::{
                session_details_and_last_use,
                signing_out_everywhere,
                a_new_password_ends_the_rest,
                withdrawing_a_scope
            },
            forms::{sealed_forms, racing_sealed_forms},
            replays::{
                one_time_values,
                racing_one_time_values,
                purge_one_time_values,
                odd_one_time_values
            },
            pushed_requests::{
                pushed_requests,
                racing_pushed_requests,
                purge_pushed_requests,
                pushed_request_debug_redacts
            },
            second_factors::{
                authenticator_apps,
                recovery_codes,
                racing_second_factors,
                second_factors_go_with_the_user,
                sessions_keep_their_factors,
                passkeys,
                racing_passkeys
            },
            device::{device_codes, racing_device_redemptions, racing_device_answers},
            housekeeping::{purge},
            pending_users::{pending_users},
            identities::{upstream_identities, racing_first_sign_ins, stored_upstream_providers},
            logout::{
                logout_deliveries,
                logout_deliveries_for_a_whole_user,
                expired_sessions_are_logged_out_too,
                one_time_links
            },
            throttle::{throttle_counts, racing_throttle, throttle_marks},
            health::{writable},
            registrations::{
                registrations,
                initial_access_tokens,
                racing_registrations,
                last_use_and_expiry
            },
            access_tokens::{
                opaque_access_tokens,
                opaque_tokens_keep_their_grant_alive,
                purge_opaque_access_tokens,
                api_access_token_format,
                access_token_standing
            },
        );
    };
}

// `cfg_attr(any(), …)` is no attribute at all: SQLite needs nothing outside the process.
contract_suite!(sqlite #[cfg_attr(any(), ignore)]);
contract_suite!(postgres #[cfg_attr(not(postgres_tests), ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES")]);

#[tokio::test]
async fn sqlite_migrations_are_idempotent_and_refuse_newer_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    drop(SqliteStore::open(&path).await.unwrap());
    let s = SqliteStore::open(&path).await.unwrap();
    s.create_client(&client("x")).await.unwrap();
    drop(s);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match SqliteStore::open(&path).await {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("upgrade Valet")),
        other => panic!("expected a schema error, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn sqlite_has_no_partial_indexes() {
    // A partial index makes SQLite re-prepare every statement on its table with a bound
    // parameter on every execution (migration 0021): a third of a refresh's CPU.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("indexes.db");
    drop(SqliteStore::open(&path).await.unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let partial: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(partial, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_stores_on_one_file_still_redeem_once() {
    // Two processes (or nodes) over one file: the database, not a lock in Valet, decides.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    a.insert_code(&code(3, i64::MAX), None).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.consume_code(&token_hash(3), 10).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        fresh += usize::from(matches!(t.await.unwrap(), CodeUse::Fresh(..)));
    }
    assert_eq!(fresh, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_stores_on_one_file_still_rotate_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    refresh::race_rotations(a, b).await;
}

#[tokio::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn postgres_migrations_are_idempotent_and_refuse_newer_schemas() {
    let db = TestDatabase::create().await.unwrap();
    let opts = PostgresOptions::new(&db.url);
    // Nodes starting together: one migrates, the others find the schema done.
    let (a, b, c) = tokio::join!(
        PostgresStore::connect(&opts),
        PostgresStore::connect(&opts),
        PostgresStore::connect(&opts)
    );
    let (a, _b, _c) = (a.unwrap(), b.unwrap(), c.unwrap());
    a.create_client(&client("x")).await.unwrap();
    sqlx::query("UPDATE valet_schema SET version = 99")
        .execute(a.pool())
        .await
        .unwrap();
    match PostgresStore::connect(&opts).await {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("upgrade Valet")),
        other => panic!("expected a schema error, got {:?}", other.err()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn postgres_two_nodes_still_redeem_and_rotate_once() {
    let db = TestDatabase::create().await.unwrap();
    let opts = PostgresOptions::new(&db.url);
    let a: Arc<dyn Store> = Arc::new(PostgresStore::connect(&opts).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(PostgresStore::connect(&opts).await.unwrap());
    a.insert_code(&code(3, i64::MAX), None).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.consume_code(&token_hash(3), 10).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        fresh += usize::from(matches!(t.await.unwrap(), CodeUse::Fresh(..)));
    }
    assert_eq!(fresh, 1);
    refresh::race_rotations(a, b).await;
}

#[tokio::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn postgres_unreachable_is_unavailable_in_bounded_time() {
    // A port nothing listens on: the call fails as `Unavailable` within the timeout.
    let mut opts = PostgresOptions::new("postgres://postgres@127.0.0.1:1/none");
    opts.timeout = std::time::Duration::from_millis(500);
    let started = std::time::Instant::now();
    match PostgresStore::connect(&opts).await {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {:?}", other.err()),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[test]
fn postgres_options_never_print_the_url() {
    let opts = PostgresOptions::new("postgres://valet:hunter2@db/valet");
    assert!(!format!("{opts:?}").contains("hunter2"));
}

/// Issue 12, item 13: the database and its `-wal` and `-shm` files are private to the
/// user Valet runs as, like the master key, however permissive the umask.
#[tokio::test]
async fn sqlite_files_are_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("valet.db");
    let mode = |name: &str| {
        let p = dir.path().join(name);
        std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    for round in 0..2 {
        let s = SqliteStore::open(&path).await.unwrap();
        s.create_client(&client(&format!("c{round}")))
            .await
            .unwrap();
        for f in ["valet.db", "valet.db-wal", "valet.db-shm"] {
            assert_eq!(mode(f), 0o600, "{f}, round {round}: {:o}", mode(f));
        }
        // Closing the last connection checkpoints and removes -wal and -shm; the next
        // open creates them again, private too.
        drop(s);
    }
}

/// Issue 12, item 14: with another connection holding SQLite's write lock (a stuck admin
/// command, another process), reads still answer but writes cannot: not writable, within
/// the short wait readiness allows; writable again once the lock goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_held_write_lock_is_not_writable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("valet.db");
    let s = SqliteStore::open(&path).await.unwrap();
    s.check_writable(1).await.unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(
        s.check_writable(2).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "readiness waits briefly for the lock: {:?}",
        started.elapsed()
    );
    s.ping().await.unwrap();
    other.execute_batch("ROLLBACK").unwrap();
    s.check_writable(3).await.unwrap();
}

/// Issue 12, item 14: a PostgreSQL database that turned read-only (a failover to a
/// standby, `default_transaction_read_only`) answers reads and refuses writes: not
/// writable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn postgres_a_read_only_database_is_not_writable() {
    let db = TestDatabase::create().await.unwrap();
    let s = PostgresStore::connect(&PostgresOptions::new(&db.url))
        .await
        .unwrap();
    s.check_writable(1).await.unwrap();
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(s.pool())
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = on"
    ))
    .execute(s.pool())
    .await
    .unwrap();
    // New sessions are read-only; end the store's current ones so that it reconnects.
    {
        use sqlx::Connection;
        let mut other = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&name)
        .execute(&mut other)
        .await
        .unwrap();
        other.close().await.unwrap();
    }
    // A broken connection fails once and is replaced: reads answer again…
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.ping().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "reads never came back"
        );
    }
    // …but writes do not.
    for _ in 0..3 {
        assert!(matches!(
            s.check_writable(2).await,
            Err(StoreError::Unavailable(_))
        ));
    }
    s.ping().await.unwrap();
}

/// `valet migrate` carries the one-time values and the pushed requests over: a value seen
/// on SQLite is not a first use on PostgreSQL, and a pushed request is taken there once.
#[tokio::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn postgres_copy_carries_replays_and_pushed_requests() {
    use valet_store::PushedRequestRecord;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("valet.db");
    let request = PushedRequestRecord {
        hash: token_hash(7),
        client_id: "c1".into(),
        params: r#"{"scope":"openid"}"#.into(),
        expires_at: 1000,
    };
    {
        let s = SqliteStore::open(&path).await.unwrap();
        assert!(s.first_use("dpop", "ünï-j1", 1000).await.unwrap());
        s.push_request(&request).await.unwrap();
    }
    let db = TestDatabase::create().await.unwrap();
    let pg = PostgresStore::connect(&PostgresOptions::new(&db.url))
        .await
        .unwrap();
    let copied = valet_store::copy::sqlite_to_postgres(&path, &pg)
        .await
        .unwrap();
    for table in ["used_once", "pushed_requests"] {
        assert!(copied.contains(&(table, 1)), "{table}: {copied:?}");
    }
    assert!(!pg.first_use("dpop", "ünï-j1", 1000).await.unwrap());
    assert_eq!(
        pg.take_pushed_request(&token_hash(7), 10).await.unwrap(),
        Some(request)
    );
    assert_eq!(
        pg.take_pushed_request(&token_hash(7), 10).await.unwrap(),
        None
    );
}
