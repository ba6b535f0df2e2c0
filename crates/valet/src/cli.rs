//! The command line (the contract in SPEC.md). Every setting is a flag, a `VALET_*`
//! environment variable and a key of the TOML file given with `--config`.

use clap::{Args, CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use valet_protocol::opaque_token::AccessTokenFormat;
use valet_server::config::Partial;

#[derive(Parser)]
#[command(
    name = "valet",
    version,
    about = "An OAuth 2.0 authorization server and OpenID Connect provider"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings shared by every command (the admin commands need the same database and keys).
#[derive(Args, Clone)]
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
    /// Master key file, created on first use when VALET_MASTER_KEY is not set [default: beside the database]
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
}

impl SettingArgs {
    pub fn partial(&self) -> Partial {
        Partial {
            listen: self.listen.clone(),
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
            templates_dir: self.templates_dir.clone(),
            database_max_connections: self.database_max_connections,
            database_timeout: self.database_timeout,
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            client_timeout: self.client_timeout,
            // An ordered list of tables: the TOML file alone sets it.
            user_stores: None,
            dev_allow_loopback_metadata: self.dev_allow_loopback_metadata,
            metadata_ca_file: None,
            registration: self.registration.clone(),
            registration_idle_ttl: self.registration_idle_ttl,
            registration_unused_ttl: self.registration_unused_ttl,
            registration_redirect_hosts: some(&self.registration_redirect_hosts),
            registration_redirect_schemes: some(&self.registration_redirect_schemes),
            registration_scopes: some(&self.registration_scopes),
            registration_quarantine: self.registration_quarantine,
        }
    }
}

/// A list flag given at least once, else not set (so a file's list is not emptied).
fn some(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server
    Serve,
    /// Manage applications (OAuth clients)
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage users of the built-in user store
    #[command(subcommand)]
    User(UserCommand),
    /// Manage APIs (resource servers) and their scopes
    #[command(subcommand)]
    Api(ApiCommand),
    /// Manage signing keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Dynamic client registration (RFC 7591): initial access tokens
    #[command(subcommand)]
    Registration(RegistrationCommand),
    /// Copy this SQLite deployment (--database) into an empty PostgreSQL database
    Migrate {
        /// The PostgreSQL database to copy into: postgres://USER:PASSWORD@HOST/DB
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

// `Create` carries many options and runs once per process: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register an application; prints its client_id and, for confidential ones, its secret (shown once)
    Create {
        #[arg(long)]
        name: String,
        /// web, spa, native, service or device
        #[arg(long)]
        profile: String,
        /// Allowed redirect URI (repeatable); matched byte for byte
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Scope the application may request (repeatable); web, spa and native applications may always request the OpenID Connect scopes
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Grant type to add to the profile's (repeatable), e.g. password or urn:ietf:params:oauth:grant-type:device_code
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// First-party application: skips the consent page
        #[arg(long)]
        trusted: bool,
        /// client_secret_basic or client_secret_post: only that one is accepted [default: none chosen: client_secret_basic, and client_secret_post accepted too]
        #[arg(long, value_name = "METHOD")]
        auth_method: Option<String>,
        /// For a service: the user its tokens act as (their `sub`) [default: the client_id]
        #[arg(long, value_name = "SUB")]
        service_user: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// https URL
        #[arg(long)]
        website: Option<String>,
        /// https URL
        #[arg(long)]
        logo_uri: Option<String>,
        /// https URL
        #[arg(long)]
        policy_uri: Option<String>,
        /// Where RP-initiated logout may send users afterwards (repeatable); matched byte for byte
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// Allow PKCE `plain` (legacy; S256 is always accepted)
        #[arg(long)]
        allow_plain_pkce: bool,
        /// Require PKCE from this confidential application (public ones always must)
        #[arg(long)]
        require_pkce: bool,
        /// Browser origin allowed to call the token, revocation and UserInfo endpoints, beyond those of the redirect URIs (repeatable)
        #[arg(long = "cors-origin", value_name = "ORIGIN")]
        cors_origins: Vec<String>,
        /// jwt (checked locally by APIs) or opaque (every check is an introspection; revocation is immediate); a token is opaque if its application or any API of its audience says so
        #[arg(long, value_name = "FORMAT", default_value = "jwt")]
        access_token_format: AccessTokenFormat,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
    /// List applications
    List {
        /// Only those registered by: admin, dynamic (RFC 7591) or cimd (a metadata document)
        #[arg(long, value_name = "ORIGIN")]
        origin: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Vouch for a self-registered application: the consent page stops saying it is not verified
    Verify { client_id: String },
    /// Let a quarantined self-registered application be used
    Approve { client_id: String },
    /// Show one application
    Show {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete an application; its tokens stop working within the cache lifetime
    Delete { client_id: String },
    /// Revoke every user's grant of an application: refresh tokens stop working, access tokens read inactive, consents are forgotten
    RevokeGrants { client_id: String },
    /// Issue a new client secret (shown once)
    RotateSecret {
        client_id: String,
        /// Seconds the old secret keeps working [default: 0]
        #[arg(long, value_name = "SECONDS")]
        grace: Option<i64>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum RegistrationCommand {
    /// Manage initial access tokens, presented as `Authorization: Bearer` at POST /oauth2/register
    #[command(subcommand)]
    Token(RegistrationTokenCommand),
}

#[derive(Subcommand)]
pub enum RegistrationTokenCommand {
    /// Print a new initial access token (shown once; Valet keeps only its hash)
    Create {
        /// Seconds it stays valid [default: 86400]
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<i64>,
        /// Registrations it allows [default: any number until it expires]
        #[arg(long, value_name = "N")]
        uses: Option<u32>,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input (one line)
    Create {
        /// The login name (unique, case-insensitive)
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// Mark the e-mail address as verified
        #[arg(long)]
        email_verified: bool,
        /// Full name
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        family_name: Option<String>,
        /// Read the password from standard input (required: passwords never go in arguments)
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List users
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a user
    Delete { username: String },
}

#[derive(Subcommand)]
pub enum ApiCommand {
    /// Register an API and the scopes it defines
    Create {
        /// The API's identifier; tokens for it carry it as `aud`
        #[arg(long, value_name = "URI")]
        audience: String,
        /// A scope and its description for the consent page, e.g. contacts.read="Read your contacts" (repeatable)
        #[arg(long = "scope", value_name = "NAME=DESCRIPTION", required = true)]
        scopes: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        /// jwt, or opaque: every token whose audience includes this API is opaque (the API must check tokens by introspection)
        #[arg(long, value_name = "FORMAT", default_value = "jwt")]
        access_token_format: AccessTokenFormat,
        /// A confidential application (the API's own, registered first) that may introspect tokens for this API (repeatable); no other application but a token's own learns anything about it at introspection
        #[arg(long = "introspector", value_name = "CLIENT_ID")]
        introspectors: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List APIs and their scopes
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete an API and its scopes
    Delete { audience: String },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their state
    List {
        #[arg(long)]
        json: bool,
    },
    /// Publish a new key now; it signs after key_activation_delay, the old one stays published until its tokens expired
    Rotate {
        /// ES256 (access tokens) or RS256 (ID tokens) [default: both]
        #[arg(long)]
        alg: Option<String>,
    },
}

/// Refuses `VALET_*` variables that name no setting, so a typo never silently does nothing.
/// Kubernetes service links (`is_service_link`) are not settings and are not refused:
/// their names are returned, for one note in the log once logging is up.
pub fn check_environment() -> Result<Vec<String>, String> {
    let mut known: Vec<String> = Cli::command()
        .get_arguments()
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect();
    known.extend(["VALET_MASTER_KEY".to_string(), "VALET_LOG".to_string()]);
    let mut links = Vec::new();
    let mut unknown = Vec::new();
    for (k, v) in std::env::vars_os() {
        let Ok(k) = k.into_string() else { continue };
        // A real setting always wins, whatever its name looks like.
        if !k.starts_with("VALET_") || known.contains(&k) {
            continue;
        }
        if v.to_str().is_some_and(|v| is_service_link(&k, v)) {
            links.push(k);
        } else {
            unknown.push(k);
        }
    }
    if unknown.is_empty() {
        links.sort();
        return Ok(links);
    }
    unknown.sort();
    let hint = if unknown.iter().any(|k| k.contains("PORT")) {
        " (the address and port to listen on are VALET_LISTEN, e.g. VALET_LISTEN=0.0.0.0:8080)"
    } else {
        ""
    };
    Err(format!(
        "unknown environment variable(s): {}{hint}. Known: {}",
        unknown.join(", "),
        known.join(", ")
    ))
}

/// Whether `name=value` is a variable Kubernetes injects for a Service whose name starts
/// with `valet` (https://kubernetes.io/docs/concepts/services-networking/service/#environment-variables).
/// For `Service valet-db` with port 5432/TCP, named `pg`:
/// `VALET_DB_SERVICE_HOST=10.0.0.5`, `VALET_DB_SERVICE_PORT=5432`,
/// `VALET_DB_SERVICE_PORT_PG=5432`, and the Docker-links style `VALET_DB_PORT=tcp://10.0.0.5:5432`,
/// `VALET_DB_PORT_5432_TCP=tcp://10.0.0.5:5432`, `…_TCP_PROTO=tcp`, `…_TCP_PORT=5432`,
/// `…_TCP_ADDR=10.0.0.5`. Both the name and the value must have that shape, so a setting
/// someone guessed (`VALET_PORT=8080`, `VALET_LISTEN_PORT=9000`) is still refused.
pub fn is_service_link(name: &str, value: &str) -> bool {
    // The service name, upper-cased with `-` as `_` (a DNS label starting `valet`).
    let service = |svc: &str| {
        svc == "VALET"
            || svc.strip_prefix("VALET_").is_some_and(|rest| {
                !rest.is_empty()
                    && !rest.starts_with('_')
                    && !rest.ends_with('_')
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
    };
    let port = |v: &str| {
        !v.is_empty()
            && !v.starts_with('0')
            && v.bytes().all(|b| b.is_ascii_digit())
            && v.parse::<u16>().is_ok()
    };
    let ip = |v: &str| v.parse::<std::net::IpAddr>().is_ok();
    let proto = |p: &str| matches!(p, "TCP" | "UDP" | "SCTP");
    // `tcp://10.0.0.5:5432`, `tcp://[fd00::5]:5432`.
    let url = |v: &str, want_proto: Option<&str>, want_port: Option<&str>| {
        v.split_once("://").is_some_and(|(p, addr)| {
            matches!(p, "tcp" | "udp" | "sctp")
                && want_proto.is_none_or(|w| w.eq_ignore_ascii_case(p))
                && addr
                    .parse::<std::net::SocketAddr>()
                    .is_ok_and(|a| want_port.is_none_or(|w| a.port().to_string() == w))
        })
    };
    let port_name = |n: &str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    };

    let service_host = name
        .strip_suffix("_SERVICE_HOST")
        .is_some_and(|svc| service(svc) && ip(value));
    let service_port = name
        .strip_suffix("_SERVICE_PORT")
        .is_some_and(|svc| service(svc) && port(value));
    let named_port = name
        .match_indices("_SERVICE_PORT_")
        .any(|(i, m)| service(&name[..i]) && port_name(&name[i + m.len()..]) && port(value));
    let link = name
        .strip_suffix("_PORT")
        .is_some_and(|svc| service(svc) && url(value, None, None));
    let link_parts = name.match_indices("_PORT_").any(|(i, m)| {
        if !service(&name[..i]) {
            return false;
        }
        match name[i + m.len()..]
            .split('_')
            .collect::<Vec<_>>()
            .as_slice()
        {
            [n, p] => port(n) && proto(p) && url(value, Some(p), Some(n)),
            [n, p, "PROTO"] => port(n) && proto(p) && value == p.to_ascii_lowercase(),
            [n, p, "PORT"] => port(n) && proto(p) && value == *n,
            [n, p, "ADDR"] => port(n) && proto(p) && ip(value),
            _ => false,
        }
    });
    service_host || service_port || named_port || link || link_parts
}

#[cfg(test)]
mod tests {
    use super::is_service_link;

    #[test]
    fn kubernetes_service_links_by_name_and_value() {
        for (k, v) in [
            ("VALET_SERVICE_HOST", "10.96.0.12"),
            ("VALET_SERVICE_PORT", "8080"),
            ("VALET_SERVICE_PORT_HTTP_ALT", "8081"),
            ("VALET_PORT", "tcp://10.96.0.12:8080"),
            ("VALET_PORT_8080_TCP", "tcp://10.96.0.12:8080"),
            ("VALET_PORT_8080_TCP_PROTO", "tcp"),
            ("VALET_PORT_8080_TCP_PORT", "8080"),
            ("VALET_PORT_8080_TCP_ADDR", "10.96.0.12"),
            ("VALET_PORT_53_UDP", "udp://10.96.0.12:53"),
            ("VALET_PORT_9_SCTP_PROTO", "sctp"),
            ("VALET_DB_SERVICE_HOST", "fd00::5"),
            ("VALET_DB_PORT", "tcp://[fd00::5]:5432"),
            ("VALET_DB_PORT_5432_TCP_ADDR", "fd00::5"),
            // A Service named `valet-service`: its link is VALET_SERVICE_PORT.
            ("VALET_SERVICE_PORT", "tcp://10.96.0.13:80"),
            ("VALET_SERVICE_SERVICE_HOST", "10.96.0.13"),
        ] {
            assert!(is_service_link(k, v), "{k}={v}");
        }
        for (k, v) in [
            ("VALET_ISSUR", "https://id.example"),
            ("VALET_PORT", "8080"),
            ("VALET_LISTEN_PORT", "9000"),
            ("VALET_SERVICE_HOST", "valet.example"),
            ("VALET_SERVICE_PORT", "0"),
            ("VALET_SERVICE_PORT", "08080"),
            ("VALET_PORT_8080_TCP", "tcp://10.96.0.12:9090"),
            ("VALET_PORT_8080_TCP", "http://10.96.0.12:8080"),
            ("VALET_PORT_8080_TCP_PROTO", "udp"),
            ("VALET_PORT_8080_TCP_PROTO", "TCP"),
            ("VALET_PORT_8080_TCP_PORT", "9090"),
            ("VALET_PORT_8080_HTTP", "tcp://10.96.0.12:8080"),
            ("VALET_PORT_8080_TCP_HOST", "10.96.0.12"),
            ("VALET__SERVICE_HOST", "10.96.0.12"),
            ("VALET_db_SERVICE_HOST", "10.96.0.12"),
            ("VALETX_SERVICE_HOST", "10.96.0.12"),
            ("VALET_SERVICE_PORT_", "8080"),
        ] {
            assert!(!is_service_link(k, v), "{k}={v}");
        }
    }
}
