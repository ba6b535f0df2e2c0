//! Starting and stopping a Valet node: open the store, load the master key and signing
//! keys, bind the listener, serve until SIGTERM or Ctrl-C, and drain gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use valet_store::Store;
use valet_store::postgres::{PostgresOptions, PostgresStore};
use valet_store::sqlite::SqliteStore;

use crate::catalog::Catalog;
use crate::clock::{Clock, SystemClock};
use crate::config::{Database, Settings};
use crate::crypto::MasterKey;
use crate::keyring::{self, Keyring};
use crate::state::{AppState, Shared};

/// Why a node could not start or stopped serving: each with its cause, for the operator
/// (`fault::chain` prints the whole line; `String::from` does the same for the CLI).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the SQLite database {path}")]
    Sqlite {
        path: std::path::PathBuf,
        #[source]
        source: valet_store::StoreError,
    },
    #[error("cannot open the PostgreSQL database")]
    Postgres(#[source] valet_store::StoreError),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the listening socket")]
    Socket(#[source] std::io::Error),
    #[error("cannot load TLS certificate or key")]
    Tls(#[source] std::io::Error),
    #[error("serving failed")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Keys(#[from] keyring::KeyError),
    #[error(transparent)]
    Fault(#[from] crate::fault::Fault),
    /// A setting that could only be checked at start (templates, user stores, the
    /// metadata fetcher's CAs): the text says which and why.
    #[error("{0}")]
    Setup(String),
}

impl From<String> for StartError {
    fn from(message: String) -> Self {
        Self::Setup(message)
    }
}

impl From<StartError> for String {
    fn from(e: StartError) -> Self {
        crate::fault::chain(&e)
    }
}

/// Rows the janitor deletes per round, small enough to never hold the writer for long.
const PURGE_BATCH: u32 = 500;
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Opens the database that `settings` names.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StartError> {
    match &settings.database {
        Database::Sqlite(path) => {
            let store = SqliteStore::open(path)
                .await
                .map_err(|source| StartError::Sqlite {
                    path: path.clone(),
                    source,
                })?;
            warn_if_readable_by_others(path);
            Ok(Arc::new(store) as Arc<dyn Store>)
        }
        Database::Postgres(url) => {
            let opts = PostgresOptions {
                url: url.0.clone(),
                max_connections: settings.database_max_connections,
                timeout: Duration::from_secs(settings.database_timeout as u64),
            };
            PostgresStore::connect(&opts)
                .await
                .map(|s| Arc::new(s) as Arc<dyn Store>)
                .map_err(StartError::Postgres)
        }
    }
}

/// The outbound fetchers, of Client ID Metadata Documents (`cimd/`) and of applications'
/// logos (`logos.rs`): one TLS configuration, the platform's roots (or `SSL_CERT_FILE`'s)
/// plus a test's CA.
fn fetchers(
    settings: &Settings,
    store: Arc<dyn Store>,
    master_key: &MasterKey,
    clock: Arc<dyn Clock>,
) -> Result<
    (
        crate::cimd::Cimd,
        crate::logos::Logos,
        crate::backchannel::Poster,
        crate::client_keys::ClientKeys,
    ),
    String,
> {
    use crate::cimd::{self, fetch::Fetcher};
    let mut roots = crate::outbound_tls::platform_roots();
    if let Some(path) = &settings.metadata_ca_file {
        crate::outbound_tls::add_pem_file(&mut roots, path)?;
    }
    if settings.dev_allow_loopback_metadata {
        tracing::warn!(
            "DEVELOPMENT ONLY: dev_allow_loopback_metadata is on, so Valet fetches Client ID \
             Metadata Documents and application logos from loopback addresses: any caller \
             can make this node send requests to services on its own host. Never use this \
             in production."
        );
    }
    let tls = crate::outbound_tls::config(roots)?;
    let loopback = settings.dev_allow_loopback_metadata;
    let documents = Fetcher::new(
        tls.clone(),
        loopback,
        cimd::CONNECT_TIMEOUT,
        cimd::TOTAL_TIMEOUT,
    );
    let backchannel = crate::backchannel::Poster {
        tls: tls.clone(),
        allow_loopback: loopback,
        connect_timeout: crate::backchannel::CONNECT_TIMEOUT,
        total_timeout: crate::backchannel::TOTAL_TIMEOUT,
    };
    let keys = Fetcher::new(
        tls.clone(),
        loopback,
        cimd::CONNECT_TIMEOUT,
        cimd::TOTAL_TIMEOUT,
    );
    let logos = Fetcher::new(
        tls,
        loopback,
        crate::logos::CONNECT_TIMEOUT,
        crate::logos::TOTAL_TIMEOUT,
    );
    Ok((
        cimd::Cimd::new(store, documents, master_key.throttle_hasher()),
        crate::logos::Logos::new(logos, clock),
        backchannel,
        crate::client_keys::ClientKeys::new(keys),
    ))
}

/// Valet creates its database 0600 (and SQLite its `-wal` and `-shm` alike); one made by
/// an older version, or by hand, may be readable by others: say so, as for the master key.
fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                "the database file is readable by other users; run chmod 600 on it (and on its -wal and -shm files)"
            );
        }
    }
}

pub struct Valet {
    state: Shared,
    listener: std::net::TcpListener,
    addr: SocketAddr,
    /// `metrics_listen`, bound (issue 21).
    metrics: Option<std::net::TcpListener>,
}

impl Valet {
    /// Builds a node ready to serve. Binding happens here, so `port()` is known before
    /// `run` (port 0 picks a free one, as tests do).
    pub async fn build(settings: Settings, master_key: MasterKey) -> Result<Self, StartError> {
        let listener =
            std::net::TcpListener::bind(settings.listen).map_err(|source| StartError::Listen {
                addr: settings.listen,
                source,
            })?;
        Self::build_on(settings, master_key, listener).await
    }

    /// As `build`, on a listener the caller bound (so it can know the port first).
    pub async fn build_on(
        settings: Settings,
        master_key: MasterKey,
        listener: std::net::TcpListener,
    ) -> Result<Self, StartError> {
        Self::build_with_clock(settings, master_key, listener, Arc::new(SystemClock)).await
    }

    /// As `build_on`, reading time from `clock` instead of the system's (tests pass a
    /// `ManualClock` and advance it).
    pub async fn build_with_clock(
        settings: Settings,
        master_key: MasterKey,
        listener: std::net::TcpListener,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let store = open_store(&settings).await?;
        let sealer = master_key.sealer()?;
        let snapshot = keyring::load_or_generate(store.as_ref(), &sealer, clock.now()).await?;
        listener.set_nonblocking(true).map_err(StartError::Socket)?;
        let addr = listener.local_addr().map_err(StartError::Socket)?;
        let metrics = match settings.operations.metrics_listen {
            Some(at) => Some(
                crate::metrics::bind(at)
                    .map_err(|source| StartError::Listen { addr: at, source })?,
            ),
            None => None,
        };
        let (documents, logos, backchannel, client_keys) =
            fetchers(&settings, store.clone(), &master_key, clock.clone())?;
        let catalog = Catalog::new(
            store.clone(),
            Duration::from_secs(settings.cache_ttl as u64),
            settings.admin_audience(),
            documents,
            clock.clone(),
        );
        let pages = crate::pages::Pages::new(
            settings.templates_dir.as_deref(),
            &settings.issuer,
            crate::brand::Brand::load(&settings.brand)?,
        )?
        .offer_signup(settings.self_registration);
        let passkeys = crate::passkeys::Passkeys::new(&settings.issuer, pages.brand_name());
        let passwords = Arc::new(crate::passwords::Passwords::new()?);
        let users = crate::users::Users::new(
            &settings.user_stores,
            &settings.upstreams,
            store.clone(),
            passwords,
        )?;
        let upstreams = crate::upstream::Upstreams::new(
            &settings.upstreams,
            settings
                .user_stores
                .iter()
                .map(|s| s.name.clone())
                .collect(),
        )?;
        upstreams.check_at_start(clock.now()).await?;
        let (audit, audit_writer) = crate::audit::AuditLog::new(store.clone());
        tokio::spawn(audit_writer);
        let mailer = match &settings.mail {
            Some(m) => {
                let (mailer, sender) = crate::mail::Mailer::new(m)?;
                tokio::spawn(sender);
                Some(mailer)
            }
            None => None,
        };
        let state = Arc::new(AppState {
            upstreams,
            mailer,
            audit,
            backchannel,
            client_keys,
            dpop_nonces: master_key.dpop_nonce_hasher(),
            pairwise: master_key.pairwise_hasher(),
            refusals: Default::default(),
            metrics: Default::default(),
            hasher: master_key.secret_hasher(),
            sealer,
            throttle: Default::default(),
            sign_ins: crate::users::signin::SignIns::new(
                store.clone(),
                master_key.throttle_hasher(),
            ),
            users,
            csrf: master_key.csrf_hasher(),
            user_codes: master_key.device_hasher(),
            interactions: master_key.interaction_sealer()?,
            mfa: crate::mfa::Mfa::new(
                master_key.totp_sealer()?,
                master_key.recovery_hasher(),
                master_key.throttle_hasher(),
            ),
            passkeys,
            pages,
            logos: Arc::new(logos),
            readiness: Default::default(),
            keys: Keyring::new(snapshot),
            catalog,
            store,
            settings,
            clock,
        });
        // Providers added through the administration, as the store has them now.
        state
            .upstreams
            .reload(state.store.as_ref(), &state.sealer)
            .await;
        Ok(Self {
            state,
            listener,
            addr,
            metrics,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until SIGTERM or Ctrl-C, then stops accepting and lets requests in flight
    /// finish for up to `shutdown_grace` seconds.
    pub async fn run(self) -> Result<(), StartError> {
        let handle = axum_server::Handle::new();
        let grace = Duration::from_secs(self.state.settings.shutdown_grace as u64);
        tokio::spawn(shutdown_on_signal(handle.clone(), grace));
        tokio::spawn(refresh_keys(self.state.clone()));
        tokio::spawn(purge(self.state.clone()));
        tokio::spawn(crate::backchannel::run(self.state.clone()));
        tokio::spawn(reload_upstreams(self.state.clone()));
        if let Some(listener) = self.metrics {
            tokio::spawn(crate::metrics::serve(listener, self.state.clone()));
        }

        let app = crate::routes::router(self.state.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        let scheme = if self.state.settings.tls.is_some() {
            "https"
        } else {
            "http"
        };
        tracing::info!(
            listen = %self.addr,
            issuer = %self.state.settings.issuer,
            store = self.state.store.backend(),
            "Valet is serving on {scheme}://{}", self.addr
        );
        let settings = &self.state.settings;
        let client_timeout = Duration::from_secs(settings.client_timeout as u64);
        let capped = crate::connections::Capped {
            limits: crate::connections::Limits::new(
                crate::connections::fitted_to_file_limit(settings.max_connections),
                settings.max_connections_per_address,
            ),
        };
        match &settings.tls {
            Some((cert, key)) => {
                // One TLS stack for the process: aws-lc-rs, as for signing. Err means a
                // provider is already installed, which is as good.
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(StartError::Tls)?;
                let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
                    .handshake_timeout(client_timeout)
                    .acceptor(capped);
                let mut server = axum_server::from_tcp(self.listener)
                    .map_err(StartError::Socket)?
                    .acceptor(acceptor);
                bound(server.http_builder(), client_timeout);
                server
                    .first_request_timeout(client_timeout)
                    .handle(handle)
                    .serve(app)
                    .await
            }
            None => {
                let mut server = axum_server::from_tcp(self.listener)
                    .map_err(StartError::Socket)?
                    .acceptor(capped);
                bound(server.http_builder(), client_timeout);
                server
                    .first_request_timeout(client_timeout)
                    .handle(handle)
                    .serve(app)
                    .await
            }
        }
        .map_err(StartError::Serve)?;
        tracing::info!("Valet stopped");
        Ok(())
    }
}

/// What a client may take of a connection (issue 12.3): HTTP/1 headers within `timeout`,
/// counted from the moment the connection is ready or the previous response went out, so
/// a connection idle between requests closes after `timeout` too; HTTP/2 peers are pinged
/// and dropped when they stop answering, and keep at most 100 streams open.
pub(crate) fn bound(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    timeout: Duration,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Some(timeout))
        .keep_alive_timeout(timeout)
        .max_concurrent_streams(100)
        .max_header_list_size(64 * 1024);
}

async fn shutdown_on_signal(handle: axum_server::Handle<SocketAddr>, grace: Duration) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        () = term => {},
    }
    tracing::info!(grace_seconds = grace.as_secs(), "shutting down");
    handle.graceful_shutdown(Some(grace));
}

/// Keeps the node's keys in step with the store: a key rotated through any node (or the
/// CLI) is published here within `key_refresh_interval`.
async fn refresh_keys(state: Shared) {
    let every = Duration::from_secs(state.settings.key_refresh_interval as u64);
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = state
            .keys
            .refresh(state.store.as_ref(), &state.sealer, state.clock.now())
            .await
        {
            tracing::warn!(error = %e, "could not refresh signing keys; keeping the current ones");
        }
        if let Some(interval) = state.settings.operations.key_rotation_interval {
            crate::key_schedule::run_once(&state, interval).await;
        }
    }
}

/// Valet's own janitor: expired revocations and retired keys go in small batches, and
/// audit events older than `audit_retention`.
async fn purge(state: Shared) {
    loop {
        tokio::time::sleep(PURGE_EVERY).await;
        let before = state.clock.now() - state.settings.audit_retention;
        loop {
            match state.store.purge_audit(before, PURGE_BATCH).await {
                Ok(n) if n >= u64::from(PURGE_BATCH) => tokio::task::yield_now().await,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "audit purge failed; will retry");
                    break;
                }
            }
        }
        loop {
            match state
                .store
                .purge_expired(state.clock.now(), PURGE_BATCH)
                .await
            {
                Ok(n) if n >= u64::from(PURGE_BATCH) => tokio::task::yield_now().await,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "purge failed; will retry");
                    break;
                }
            }
        }
    }
}

/// Upstream providers changed through another node or the CLI reach this one within
/// `cache_ttl` (at least every 5 seconds).
async fn reload_upstreams(state: Shared) {
    let every = Duration::from_secs((state.settings.cache_ttl as u64).max(5));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        state
            .upstreams
            .reload(state.store.as_ref(), &state.sealer)
            .await;
    }
}
