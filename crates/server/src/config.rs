//! Configuration: defaults that work, a TOML file, `VALET_*` environment variables and
//! command-line flags, in rising order of precedence. Every setting has one flat name used
//! in all four places (`access_token_ttl` / `VALET_ACCESS_TOKEN_TTL` /
//! `--access-token-ttl`). Unknown keys are refused by name.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use valet_protocol::refresh::RotationPolicy;

pub mod operations;

/// One layer of settings; `None` means "not set here".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partial {
    pub listen: Option<String>,
    pub issuer: Option<String>,
    pub database: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub access_token_ttl: Option<i64>,
    pub key_activation_delay: Option<i64>,
    pub key_refresh_interval: Option<i64>,
    pub jwks_max_age: Option<i64>,
    pub cache_ttl: Option<i64>,
    pub shutdown_grace: Option<i64>,
    pub log_format: Option<String>,
    pub refresh_token_ttl: Option<i64>,
    pub refresh_token_rotation: Option<String>,
    pub refresh_retry_window: Option<i64>,
    pub session_ttl: Option<i64>,
    /// How long audit events are kept, in seconds (issue 15).
    pub audit_retention: Option<i64>,
    /// The mail server (issue 16): `smtps://user:pass@host[:port]` or `smtp://…`
    /// (STARTTLS); its `Debug` hides the password.
    pub smtp_url: Option<crate::mail::SmtpUrl>,
    /// The sender of Valet's messages: `Name <address>` or an address.
    pub mail_from: Option<String>,
    pub templates_dir: Option<PathBuf>,
    pub database_max_connections: Option<i64>,
    pub database_timeout: Option<i64>,
    pub max_connections: Option<i64>,
    pub max_connections_per_address: Option<i64>,
    pub client_timeout: Option<i64>,
    /// `[[user_stores]]` tables (file only): the order users are looked up in.
    pub user_stores: Option<Vec<crate::users::config::UserStoreConfig>>,
    /// `[[upstreams]]` tables (file only): identity providers people sign in with.
    pub upstreams: Option<Vec<crate::upstream::config::UpstreamConfig>>,
    /// `[[trusted_issuers]]` tables (file only): whose JWT bearer assertions are taken.
    pub trusted_issuers: Option<Vec<crate::trusted_issuers::TrustedIssuerConfig>>,
    /// Development only: fetch Client ID Metadata Documents from loopback addresses.
    pub dev_allow_loopback_metadata: Option<bool>,
    /// Tests only (no flag, no TOML key): CAs the metadata fetcher trusts besides the
    /// platform's, as `SSL_CERT_FILE` would give in a deployment.
    #[serde(skip)]
    pub metadata_ca_file: Option<PathBuf>,
    // Dynamic client registration (issue 14; `registration.rs`).
    pub registration: Option<String>,
    pub registration_idle_ttl: Option<i64>,
    pub registration_unused_ttl: Option<i64>,
    pub registration_redirect_hosts: Option<Vec<String>>,
    pub registration_redirect_schemes: Option<Vec<String>>,
    pub registration_scopes: Option<Vec<String>>,
    pub registration_quarantine: Option<bool>,
    // Branding (issue 15; `brand/`).
    pub brand_name: Option<String>,
    pub brand_logo: Option<PathBuf>,
    pub brand_color: Option<String>,
    pub brand_color_dark: Option<String>,
    pub powered_by: Option<bool>,
    /// Second factors: `off`, `optional` (the default) or `required` (issue 16).
    pub mfa: Option<String>,
    /// Self-service sign-up at `/signup` (issue 16; `routes/signup/`): off by default.
    pub self_registration: Option<bool>,
    /// The FAPI 2.0 Security Profile for every application (issue 19).
    pub fapi2: Option<bool>,
    /// RFC 9126 §5: every authorization request must be pushed.
    pub require_pushed_authorization_requests: Option<bool>,
    /// RFC 9449 §8: DPoP proofs must carry a nonce this server gave.
    pub dpop_nonce: Option<bool>,
    // Operations (issue 21; `config/operations.rs`).
    pub metrics_listen: Option<String>,
    pub key_rotation_interval: Option<String>,
    pub otlp_endpoint: Option<String>,
}

impl Partial {
    /// Reads a TOML file; unknown keys fail with their name.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }

    /// `self` with every setting of `over` laid on top.
    pub fn overlay(self, over: Partial) -> Partial {
        macro_rules! pick {
            ($($f:ident),+) => { Partial { $($f: over.$f.or(self.$f)),+ } };
        }
        pick!(
            listen,
            issuer,
            database,
            master_key_file,
            tls_cert,
            tls_key,
            access_token_ttl,
            key_activation_delay,
            key_refresh_interval,
            jwks_max_age,
            cache_ttl,
            shutdown_grace,
            log_format,
            refresh_token_ttl,
            refresh_token_rotation,
            refresh_retry_window,
            session_ttl,
            audit_retention,
            smtp_url,
            mail_from,
            templates_dir,
            database_max_connections,
            database_timeout,
            max_connections,
            max_connections_per_address,
            client_timeout,
            user_stores,
            upstreams,
            trusted_issuers,
            dev_allow_loopback_metadata,
            metadata_ca_file,
            registration,
            registration_idle_ttl,
            registration_unused_ttl,
            registration_redirect_hosts,
            registration_redirect_schemes,
            registration_scopes,
            registration_quarantine,
            brand_name,
            brand_logo,
            brand_color,
            brand_color_dark,
            powered_by,
            mfa,
            self_registration,
            fapi2,
            require_pushed_authorization_requests,
            dpop_nonce,
            metrics_listen,
            key_rotation_interval,
            otlp_endpoint
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(PostgresUrl),
}

/// A `postgres://` URL. `Debug` hides it: it may carry a password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(pub String);

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresUrl([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Resolved, validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// The issuer identifier, without a trailing slash. Configured, never derived from
    /// a request's `Host` (RFC 9700 §4.13).
    pub issuer: String,
    pub database: Database,
    pub master_key_file: PathBuf,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub access_token_ttl: i64,
    pub key_activation_delay: i64,
    pub key_refresh_interval: i64,
    pub jwks_max_age: i64,
    pub cache_ttl: i64,
    pub shutdown_grace: i64,
    pub log_format: LogFormat,
    pub refresh_token_ttl: i64,
    pub refresh_token_rotation: RotationPolicy,
    /// Seconds during which a retry with a just-rotated refresh token gets the same
    /// successor pair instead of revoking the family; 0 turns retries off.
    pub refresh_retry_window: i64,
    /// Lifetime of a browser session (single sign-on).
    pub session_ttl: i64,
    /// Audit events older than this go (housekeeping).
    pub audit_retention: i64,
    /// Email (`mail/`), when configured.
    pub mail: Option<crate::mail::MailSettings>,
    /// A folder whose templates replace the built-in pages of the same name.
    pub templates_dir: Option<PathBuf>,
    /// PostgreSQL: connections this node keeps at most.
    pub database_max_connections: u32,
    /// PostgreSQL: seconds any one database call may take before the request gets 503.
    pub database_timeout: i64,
    /// Open client connections this node accepts at most (issue 12.3).
    pub max_connections: u32,
    /// Open connections per client address (an IPv6 /64 counts as one); 0: no such cap
    /// (behind a reverse proxy every connection comes from the proxy).
    pub max_connections_per_address: u32,
    /// Seconds a client may take to send a request's headers, or its body, and may keep
    /// a connection idle between requests.
    pub client_timeout: i64,
    /// The user stores, in the order a login name is offered to them.
    pub user_stores: Vec<crate::users::config::StoreSettings>,
    /// Upstream identity providers (issue 18), in the order the login page offers them.
    pub upstreams: Vec<crate::upstream::config::UpstreamSettings>,
    /// Issuers whose assertions the JWT bearer grant takes (issue 20).
    pub trusted_issuers: Vec<crate::trusted_issuers::TrustedIssuer>,
    /// Lifts the loopback ban of the outbound fetcher (metadata documents and application
    /// logos), and nothing else (`cimd/addr.rs`); logged loudly at startup.
    pub dev_allow_loopback_metadata: bool,
    /// `Partial::metadata_ca_file`.
    pub metadata_ca_file: Option<PathBuf>,
    /// Dynamic client registration and its firewall (issue 14).
    pub registration: crate::registration::RegistrationSettings,
    /// The name, logo and colours the pages carry (issue 15).
    pub brand: crate::brand::BrandSettings,
    /// Second factors (issue 16): whether users may, or must, have one.
    pub mfa: valet_protocol::mfa::Policy,
    /// Whether people may create their own account at `/signup` (confirmed by email).
    pub self_registration: bool,
    /// Server-wide FAPI 2.0 mode: every authorization request pushed, every token
    /// DPoP-bound, client assertions addressed to the issuer alone, PKCE S256 (issue 19).
    pub fapi2: bool,
    /// RFC 9126 §5 `require_pushed_authorization_requests` (implied by `fapi2`).
    pub require_par: bool,
    /// RFC 9449 §8: proofs at the token endpoint carry a `DPoP-Nonce` this server gave.
    pub dpop_nonce: bool,
    /// Metrics, scheduled key rotation (issue 21).
    pub operations: operations::Operations,
}

impl Settings {
    pub fn resolve(p: Partial) -> Result<Self, String> {
        let registration = crate::registration::resolve(&p)?;
        let brand = crate::brand::resolve(&p)?;
        let operations = operations::resolve(&p)?;
        let listen_text = p.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen_text.parse().map_err(|_| {
            format!("listen: `{listen_text}` is not an address like 127.0.0.1:8080")
        })?;
        let issuer = parse_issuer(p.issuer.as_deref().unwrap_or("http://localhost:8080"))?;
        let database = parse_database(p.database.as_deref().unwrap_or("sqlite://valet.db"))?;
        let master_key_file = p.master_key_file.unwrap_or_else(|| match &database {
            Database::Sqlite(path) => default_key_file(path),
            // Every node must use the same key: in production set VALET_MASTER_KEY or
            // point every node at the same file. A node whose key differs refuses to start
            // (it cannot unseal the signing keys).
            Database::Postgres(_) => PathBuf::from("valet.master-key"),
        });
        let tls = match (p.tls_cert, p.tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err("tls_cert and tls_key go together: set both or neither".into()),
        };
        let secs = |name: &str, v: Option<i64>, default: i64, min: i64, max: i64| {
            let v = v.unwrap_or(default);
            if v < min || v > max {
                return Err(format!(
                    "{name} must be between {min} and {max} seconds, not {v}"
                ));
            }
            Ok(v)
        };
        let access_token_ttl = secs("access_token_ttl", p.access_token_ttl, 600, 10, 86_400)?;
        let key_refresh_interval =
            secs("key_refresh_interval", p.key_refresh_interval, 30, 1, 3600)?;
        let jwks_max_age = secs("jwks_max_age", p.jwks_max_age, 300, 0, 86_400)?;
        let key_activation_delay = secs(
            "key_activation_delay",
            p.key_activation_delay,
            600,
            0,
            30 * 86_400,
        )?;
        // A node must have published a key, and relying parties must have had the chance to
        // refetch the JWKS, before any node signs with it (checklist K9).
        if key_activation_delay < key_refresh_interval + jwks_max_age {
            return Err(format!(
                "key_activation_delay ({key_activation_delay}s) must be at least \
                 key_refresh_interval + jwks_max_age ({}s)",
                key_refresh_interval + jwks_max_age
            ));
        }
        let cache_ttl = secs("cache_ttl", p.cache_ttl, 5, 0, 300)?;
        let shutdown_grace = secs("shutdown_grace", p.shutdown_grace, 10, 0, 600)?;
        let log_format = match p.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(format!(
                    "log_format must be `text` or `json`, not `{other}`"
                ));
            }
        };
        let refresh_token_ttl = secs(
            "refresh_token_ttl",
            p.refresh_token_ttl,
            7 * 86_400,
            60,
            365 * 86_400,
        )?;
        let refresh_token_rotation = match p.refresh_token_rotation.as_deref().unwrap_or("public") {
            "public" => RotationPolicy::Public,
            "all" => RotationPolicy::All,
            other => {
                return Err(format!(
                    "refresh_token_rotation must be `public` or `all`, not `{other}`"
                ));
            }
        };
        let refresh_retry_window = secs(
            "refresh_retry_window",
            p.refresh_retry_window,
            10,
            0,
            valet_store::REFRESH_SUCCESSOR_MEMORY,
        )?;
        let session_ttl = secs("session_ttl", p.session_ttl, 86_400, 60, 90 * 86_400)?;
        let mail = crate::mail::resolve(p.smtp_url.as_ref(), p.mail_from.as_deref())?;
        let audit_retention = secs(
            "audit_retention",
            p.audit_retention,
            90 * 86_400,
            86_400,
            10 * 366 * 86_400,
        )?;
        let database_timeout = secs("database_timeout", p.database_timeout, 5, 1, 60)?;
        let database_max_connections = match p.database_max_connections.unwrap_or(16) {
            n @ 1..=1000 => n as u32,
            n => {
                return Err(format!(
                    "database_max_connections must be between 1 and 1000, not {n}"
                ));
            }
        };
        let count = |name: &str, v: Option<i64>, default: i64, min: i64, max: i64| match v
            .unwrap_or(default)
        {
            n if (min..=max).contains(&n) => Ok(n as u32),
            n => Err(format!("{name} must be between {min} and {max}, not {n}")),
        };
        let max_connections = count("max_connections", p.max_connections, 4096, 1, 1_000_000)?;
        let max_connections_per_address = count(
            "max_connections_per_address",
            p.max_connections_per_address,
            256,
            0,
            1_000_000,
        )?;
        let client_timeout = secs("client_timeout", p.client_timeout, 10, 1, 300)?;
        let user_stores = crate::users::config::resolve(p.user_stores)?;
        let upstreams = crate::upstream::config::resolve(p.upstreams)?;
        let trusted_issuers = crate::trusted_issuers::resolve(p.trusted_issuers)?;
        let mfa = match p.mfa.as_deref() {
            None => valet_protocol::mfa::Policy::default(),
            Some(v) => valet_protocol::mfa::Policy::parse(v)
                .ok_or_else(|| format!("mfa must be `off`, `optional` or `required`, not `{v}`"))?,
        };
        let self_registration = p.self_registration.unwrap_or(false);
        // A new account is confirmed by an emailed link: without mail it never could be.
        if self_registration && mail.is_none() {
            return Err(
                "self_registration needs smtp_url and mail_from: a new account \
                        is confirmed by a link emailed to its address"
                    .into(),
            );
        }
        // Accounts people create live in the database store, and only there.
        let database_store = user_stores
            .iter()
            .any(|s| matches!(s.kind, crate::users::config::StoreKind::Database));
        if self_registration && !database_store {
            return Err("self_registration needs a user store of type database: \
                        accounts people create live in Valet's database"
                .into());
        }
        let fapi2 = p.fapi2.unwrap_or(false);
        Ok(Self {
            operations,
            fapi2,
            require_par: fapi2 || p.require_pushed_authorization_requests.unwrap_or(false),
            dpop_nonce: p.dpop_nonce.unwrap_or(false),
            mfa,
            self_registration,
            dev_allow_loopback_metadata: p.dev_allow_loopback_metadata.unwrap_or(false),
            metadata_ca_file: p.metadata_ca_file,
            registration,
            brand,
            max_connections,
            max_connections_per_address,
            client_timeout,
            database_max_connections,
            database_timeout,
            user_stores,
            upstreams,
            trusted_issuers,
            refresh_token_ttl,
            refresh_token_rotation,
            refresh_retry_window,
            session_ttl,
            audit_retention,
            mail,
            templates_dir: p.templates_dir,
            listen,
            issuer,
            database,
            master_key_file,
            tls,
            access_token_ttl,
            key_activation_delay,
            key_refresh_interval,
            jwks_max_age,
            cache_ttl,
            shutdown_grace,
            log_format,
        })
    }

    /// How long after a key stops signing it must stay published: the longest token
    /// lifetime, plus the time nodes may take to notice the switch, plus clock leeway.
    pub fn key_retention(&self) -> i64 {
        self.access_token_ttl + self.key_refresh_interval + valet_protocol::access_token::LEEWAY
    }

    /// Whether the issuer is served over TLS: then cookies are `__Host-` and `Secure`.
    pub fn https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// The audience of Valet's own admin API.
    pub fn admin_audience(&self) -> String {
        format!("{}/admin/api", self.issuer)
    }
}

fn parse_issuer(raw: &str) -> Result<String, String> {
    let issuer = raw.strip_suffix('/').unwrap_or(raw);
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .ok_or_else(|| format!("issuer `{raw}` must be an http(s) URL"))?;
    if rest.is_empty()
        || rest.starts_with('/')
        || issuer.contains(['?', '#'])
        || issuer.contains(char::is_whitespace)
    {
        return Err(format!(
            "issuer `{raw}` must be a URL with a host and no query or fragment (RFC 8414 §2)"
        ));
    }
    Ok(issuer.to_owned())
}

/// A database URL fit for an error message: whatever stands between `://` and `@` (a user
/// and perhaps a password) is left out.
fn without_credentials(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(i), Some(j)) if j > i => format!("{}://…@{}", &raw[..i], &raw[j + 1..]),
        _ => raw.to_owned(),
    }
}

fn parse_database(raw: &str) -> Result<Database, String> {
    if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
        return Ok(Database::Postgres(PostgresUrl(raw.to_owned())));
    }
    let path = raw
        .strip_prefix("sqlite://")
        .or_else(|| raw.strip_prefix("sqlite:"))
        .ok_or_else(|| {
            format!(
                "database `{}` must look like sqlite://valet.db or postgres://user@host/db",
                without_credentials(raw)
            )
        })?;
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() {
        return Err(format!("database `{raw}` names no file"));
    }
    Ok(Database::Sqlite(PathBuf::from(path)))
}

/// `valet.db` → `valet.master-key`, in the same folder.
fn default_key_file(db: &Path) -> PathBuf {
    let stem = db.file_stem().and_then(|s| s.to_str()).unwrap_or("valet");
    db.with_file_name(format!("{stem}.master-key"))
}

#[cfg(test)]
mod tests;
