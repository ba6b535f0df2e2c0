//! The settings flags every command shares: each is a flag, a `VALET_*` variable and a
//! key of the TOML file.

use clap::Args;
use std::path::PathBuf;
use valet_server::config::Partial;

/// The heading the shared settings go under in every command's `--help`.
pub const HEADING: &str = "Server settings";

/// Settings shared by every command (the admin commands need the same database and keys).
/// Every command's `--help` lists its own options first and these under their own
/// heading, after them.
#[derive(Args, Clone)]
#[command(next_help_heading = HEADING)]
pub struct SettingArgs {
    /// TOML configuration file; flags and VALET_* variables override it
    #[arg(long, env = "VALET_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "VALET_LISTEN", global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Issuer URL, exactly as clients will see it [default: http://localhost:8080]
    #[arg(long, env = "VALET_ISSUER", global = true, value_name = "URL")]
    pub issuer: Option<String>,
    /// Database URL: sqlite://FILE or postgres://USER:PASSWORD@HOST/DB [default: sqlite://valet.db]
    #[arg(long, env = "VALET_DATABASE", global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Master key file, created with a new SQLite database when VALET_MASTER_KEY is not set [default: beside the database]
    #[arg(
        long,
        env = "VALET_MASTER_KEY_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub master_key_file: Option<PathBuf>,
    /// TLS certificate chain (PEM); serve HTTPS with --tls-key
    #[arg(long, env = "VALET_TLS_CERT", global = true, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, env = "VALET_TLS_KEY", global = true, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Access-token lifetime in seconds [default: 600]
    #[arg(
        long,
        env = "VALET_ACCESS_TOKEN_TTL",
        global = true,
        value_name = "SECONDS"
    )]
    pub access_token_ttl: Option<i64>,
    /// Seconds between publishing a rotated key and signing with it [default: 600]
    #[arg(
        long,
        env = "VALET_KEY_ACTIVATION_DELAY",
        global = true,
        value_name = "SECONDS"
    )]
    pub key_activation_delay: Option<i64>,
    /// Seconds between reloads of the signing keys from the database [default: 30]
    #[arg(
        long,
        env = "VALET_KEY_REFRESH_INTERVAL",
        global = true,
        value_name = "SECONDS"
    )]
    pub key_refresh_interval: Option<i64>,
    /// Cache lifetime of the JWKS for clients, in seconds [default: 300]
    #[arg(
        long,
        env = "VALET_JWKS_MAX_AGE",
        global = true,
        value_name = "SECONDS"
    )]
    pub jwks_max_age: Option<i64>,
    /// Seconds a node caches an application or API before re-reading it [default: 5]
    #[arg(long, env = "VALET_CACHE_TTL", global = true, value_name = "SECONDS")]
    pub cache_ttl: Option<i64>,
    /// Seconds requests in flight get to finish after SIGTERM [default: 10]
    #[arg(
        long,
        env = "VALET_SHUTDOWN_GRACE",
        global = true,
        value_name = "SECONDS"
    )]
    pub shutdown_grace: Option<i64>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "VALET_LOG_FORMAT", global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Refresh-token lifetime in seconds [default: 604800, 7 days]
    #[arg(
        long,
        env = "VALET_REFRESH_TOKEN_TTL",
        global = true,
        value_name = "SECONDS"
    )]
    pub refresh_token_ttl: Option<i64>,
    /// Which applications' refresh tokens rotate on use: public or all [default: public]
    #[arg(
        long,
        env = "VALET_REFRESH_TOKEN_ROTATION",
        global = true,
        value_name = "WHICH"
    )]
    pub refresh_token_rotation: Option<String>,
    /// Seconds a retry with a just-rotated refresh token gets the same new pair, 0 to 60 [default: 10]
    #[arg(
        long,
        env = "VALET_REFRESH_RETRY_WINDOW",
        global = true,
        value_name = "SECONDS"
    )]
    pub refresh_retry_window: Option<i64>,
    /// Browser session (single sign-on) lifetime in seconds [default: 86400]
    #[arg(long, env = "VALET_SESSION_TTL", global = true, value_name = "SECONDS")]
    pub session_ttl: Option<i64>,
    /// Seconds audit events are kept in the database [default: 7776000, 90 days]
    #[arg(
        long,
        env = "VALET_AUDIT_RETENTION",
        global = true,
        value_name = "SECONDS"
    )]
    pub audit_retention: Option<i64>,
    /// Mail server for password resets, address verification and sign-up: smtps://USER:PASSWORD@HOST[:PORT] or smtp://… (STARTTLS); prefer the variable, a flag shows in `ps`
    #[arg(
        long,
        env = "VALET_SMTP_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,
    /// Sender of Valet's email, e.g. "Acme <id@acme.example>"
    #[arg(long, env = "VALET_MAIL_FROM", global = true, value_name = "ADDRESS")]
    pub mail_from: Option<String>,
    /// Folder of templates that replace the built-in pages of the same name
    #[arg(long, env = "VALET_TEMPLATES_DIR", global = true, value_name = "DIR")]
    pub templates_dir: Option<PathBuf>,
    /// PostgreSQL: connections this node keeps at most, 1 to 1000 [default: 16]
    #[arg(
        long,
        env = "VALET_DATABASE_MAX_CONNECTIONS",
        global = true,
        value_name = "N"
    )]
    pub database_max_connections: Option<i64>,
    /// PostgreSQL: seconds one database call may take before the request answers 503, 1 to 60 [default: 5]
    #[arg(
        long,
        env = "VALET_DATABASE_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub database_timeout: Option<i64>,
    /// Open client connections accepted at most, 1 to 1000000 [default: 4096]
    #[arg(long, env = "VALET_MAX_CONNECTIONS", global = true, value_name = "N")]
    pub max_connections: Option<i64>,
    /// Open connections per client address (IPv6: per /64); 0 for none, e.g. behind a proxy [default: 256]
    #[arg(
        long,
        env = "VALET_MAX_CONNECTIONS_PER_ADDRESS",
        global = true,
        value_name = "N"
    )]
    pub max_connections_per_address: Option<i64>,
    /// Seconds a client may take to send headers or a body, or keep a connection idle, 1 to 300 [default: 10]
    #[arg(
        long,
        env = "VALET_CLIENT_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub client_timeout: Option<i64>,
    /// Development only: fetch Client ID Metadata Documents from loopback addresses (private ranges stay refused)
    #[arg(
        long,
        env = "VALET_DEV_ALLOW_LOOPBACK_METADATA",
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub dev_allow_loopback_metadata: Option<bool>,
    /// Dynamic client registration: open (public clients need no token), token (every registration needs an initial access token) or off [default: open]
    #[arg(long, env = "VALET_REGISTRATION", global = true, value_name = "MODE")]
    pub registration: Option<String>,
    /// Seconds a self-registered application that never got a token lives [default: 604800, 7 days]
    #[arg(
        long,
        env = "VALET_REGISTRATION_IDLE_TTL",
        global = true,
        value_name = "SECONDS"
    )]
    pub registration_idle_ttl: Option<i64>,
    /// Seconds a self-registered application lives after it last got a token [default: 7776000, 90 days]
    #[arg(
        long,
        env = "VALET_REGISTRATION_UNUSED_TTL",
        global = true,
        value_name = "SECONDS"
    )]
    pub registration_unused_ttl: Option<i64>,
    /// Hosts self-registered applications' http(s) redirect URIs may name (repeatable, or comma-separated) [default: any]
    #[arg(
        long = "registration-redirect-host",
        env = "VALET_REGISTRATION_REDIRECT_HOSTS",
        global = true,
        value_name = "HOST",
        value_delimiter = ','
    )]
    pub registration_redirect_hosts: Vec<String>,
    /// Schemes self-registered applications' redirect URIs may use (repeatable, or comma-separated) [default: any the rules allow]
    #[arg(
        long = "registration-redirect-scheme",
        env = "VALET_REGISTRATION_REDIRECT_SCHEMES",
        global = true,
        value_name = "SCHEME",
        value_delimiter = ','
    )]
    pub registration_redirect_schemes: Vec<String>,
    /// API scopes self-registered applications may ask for, beyond OpenID Connect's (repeatable, or comma-separated) [default: every registered API's; never valet:admin]
    #[arg(
        long = "registration-scope",
        env = "VALET_REGISTRATION_SCOPES",
        global = true,
        value_name = "SCOPE",
        value_delimiter = ','
    )]
    pub registration_scopes: Vec<String>,
    /// Self-registered applications are unusable until an admin runs `valet client approve` [default: false]
    #[arg(
        long,
        env = "VALET_REGISTRATION_QUARANTINE",
        global = true,
        value_name = "BOOL"
    )]
    pub registration_quarantine: Option<bool>,
    /// The name the pages carry instead of Valet's [default: Valet]
    #[arg(long, env = "VALET_BRAND_NAME", global = true, value_name = "NAME")]
    pub brand_name: Option<String>,
    /// Logo file the pages show (PNG, JPEG, GIF, WebP or SVG, at most 256 KB), served by Valet
    #[arg(long, env = "VALET_BRAND_LOGO", global = true, value_name = "FILE")]
    pub brand_logo: Option<PathBuf>,
    /// Accent colour of the pages, as #rrggbb or #rgb [default: #4f46e5]
    #[arg(long, env = "VALET_BRAND_COLOR", global = true, value_name = "COLOR")]
    pub brand_color: Option<String>,
    /// Accent colour in dark mode, as #rrggbb or #rgb [default: brand_color lightened]
    #[arg(
        long,
        env = "VALET_BRAND_COLOR_DARK",
        global = true,
        value_name = "COLOR"
    )]
    pub brand_color_dark: Option<String>,
    /// With a brand name set, a discreet "Powered by Valet" in the pages' footer [default: true]
    #[arg(long, env = "VALET_POWERED_BY", global = true, value_name = "BOOL")]
    pub powered_by: Option<bool>,
    /// Second factors: off, optional (users may enrol an authenticator app) or required (every user must) [default: optional]
    #[arg(long, env = "VALET_MFA", global = true, value_name = "POLICY")]
    pub mfa: Option<String>,
    /// Let people create their own account at /signup, confirmed by an emailed link (needs --smtp-url and --mail-from) [default: false]
    #[arg(
        long,
        env = "VALET_SELF_REGISTRATION",
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub self_registration: Option<bool>,
    /// The FAPI 2.0 Security Profile for every application: pushed requests, DPoP-bound tokens, private_key_jwt assertions addressed to the issuer [default: false]
    #[arg(
        long,
        env = "VALET_FAPI2",
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub fapi2: Option<bool>,
    /// Every authorization request must be pushed first (RFC 9126) [default: false]
    #[arg(
        long,
        env = "VALET_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS",
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub require_pushed_authorization_requests: Option<bool>,
    /// DPoP proofs at the token endpoint must carry a nonce Valet gives in DPoP-Nonce (RFC 9449 §8) [default: false]
    #[arg(
        long,
        env = "VALET_DPOP_NONCE",
        global = true,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub dpop_nonce: Option<bool>,
    /// Serve Prometheus metrics at /metrics on this address, never on the public one [default: off]
    #[arg(long, env = "VALET_METRICS_LISTEN", global = true, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Rotate each algorithm's signing key once it is this old, e.g. 30d or 12h [default: off]
    #[arg(
        long,
        env = "VALET_KEY_ROTATION_INTERVAL",
        global = true,
        value_name = "DURATION"
    )]
    pub key_rotation_interval: Option<String>,
    /// Export each request's trace span to this OTLP/HTTP collector, e.g. http://127.0.0.1:4318 [default: off]
    #[arg(long, env = "VALET_OTLP_ENDPOINT", global = true, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

impl SettingArgs {
    pub fn partial(&self) -> Partial {
        Partial {
            listen: self.listen.clone(),
            metrics_listen: self.metrics_listen.clone(),
            key_rotation_interval: self.key_rotation_interval.clone(),
            otlp_endpoint: self.otlp_endpoint.clone(),
            issuer: self.issuer.clone(),
            database: self.database.clone(),
            master_key_file: self.master_key_file.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            access_token_ttl: self.access_token_ttl,
            key_activation_delay: self.key_activation_delay,
            key_refresh_interval: self.key_refresh_interval,
            jwks_max_age: self.jwks_max_age,
            cache_ttl: self.cache_ttl,
            shutdown_grace: self.shutdown_grace,
            log_format: self.log_format.clone(),
            refresh_token_ttl: self.refresh_token_ttl,
            refresh_token_rotation: self.refresh_token_rotation.clone(),
            refresh_retry_window: self.refresh_retry_window,
            session_ttl: self.session_ttl,
            audit_retention: self.audit_retention,
            smtp_url: self.smtp_url.clone().map(valet_server::mail::SmtpUrl),
            mail_from: self.mail_from.clone(),
            templates_dir: self.templates_dir.clone(),
            database_max_connections: self.database_max_connections,
            database_timeout: self.database_timeout,
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            client_timeout: self.client_timeout,
            // An ordered list of tables: the TOML file alone sets it.
            user_stores: None,
            upstreams: None,
            trusted_issuers: None,
            dev_allow_loopback_metadata: self.dev_allow_loopback_metadata,
            metadata_ca_file: None,
            registration: self.registration.clone(),
            registration_idle_ttl: self.registration_idle_ttl,
            registration_unused_ttl: self.registration_unused_ttl,
            registration_redirect_hosts: some(&self.registration_redirect_hosts),
            registration_redirect_schemes: some(&self.registration_redirect_schemes),
            registration_scopes: some(&self.registration_scopes),
            registration_quarantine: self.registration_quarantine,
            brand_name: self.brand_name.clone(),
            brand_logo: self.brand_logo.clone(),
            brand_color: self.brand_color.clone(),
            brand_color_dark: self.brand_color_dark.clone(),
            powered_by: self.powered_by,
            mfa: self.mfa.clone(),
            self_registration: self.self_registration,
            fapi2: self.fapi2,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            dpop_nonce: self.dpop_nonce,
        }
    }
}

/// A list flag given at least once, else not set (so a file's list is not emptied).
fn some(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}
