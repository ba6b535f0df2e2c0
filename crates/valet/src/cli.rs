//! The command line (the contract in SPEC.md). Every setting is a flag, a `VALET_*`
//! environment variable and a key of the TOML file given with `--config`.

use clap::{CommandFactory, Parser, Subcommand};

mod admin;
mod client;
mod settings;
mod upstream;

pub use admin::{
    ApiCommand, ApiScopeCommand, AuditArgs, GrantsCommand, KeysCommand, MfaCommand, UserCommand,
};
pub use client::{ClientCommand, RegistrationCommand, RegistrationTokenCommand};
pub use settings::SettingArgs;
pub use upstream::UpstreamCommand;

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
// `Client` carries `create`'s many options and runs once per process: its size does not matter.
#[allow(clippy::large_enum_variant)]
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
    /// Manage identity providers people sign in with (OpenID Connect, OAuth 2.0)
    #[command(subcommand)]
    Upstream(UpstreamCommand),
    /// Manage signing keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Grants (what users allowed applications), by user or application
    #[command(subcommand)]
    Grants(GrantsCommand),
    /// The audit trail: administrative changes and security events, newest first
    Audit(AuditArgs),
    /// Why a token is or is not live, or why a request was refused
    Explain(ExplainArgs),
    /// Write the applications and APIs as TOML, for `plan` and `apply` (no secrets)
    Export,
    /// Show, as a diff, what `apply -f FILE` would change; exits 2 when something would
    Plan {
        /// The file (as `valet export` writes it)
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: std::path::PathBuf,
        /// Also delete applications and APIs the file does not name
        #[arg(long)]
        prune: bool,
    },
    /// Make the database say what FILE says: applications matched by name, APIs by
    /// audience; every change audited; a new application's secret shown once
    Apply {
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: std::path::PathBuf,
        /// Also delete applications and APIs the file does not name
        #[arg(long)]
        prune: bool,
    },
    /// Check this deployment: database, issuer, TLS, clock, keys, settings and
    /// applications that weaken security; fails when it finds a weakness
    Doctor,
    /// Dynamic client registration (RFC 7591): initial access tokens
    #[command(subcommand)]
    Registration(RegistrationCommand),
    /// Fill the database with synthetic applications, users, grants and tokens, for
    /// bench/scale.sh (never a database anyone signs in to)
    #[command(hide = true)]
    Seed(SeedArgs),
    /// Copy this SQLite deployment (--database) into an empty PostgreSQL database
    Migrate {
        /// The PostgreSQL database to copy into: postgres://USER:PASSWORD@HOST/DB
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

/// `valet explain TOKEN` or `valet explain --request ID`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["token", "request"])))]
pub struct ExplainArgs {
    /// The token: a JWT, an opaque access token or a refresh token; `-` reads it from
    /// standard input (keeps it out of the shell's history)
    pub token: Option<String>,
    /// The X-Request-Id of a refused request (an error page, a 400 or 401)
    #[arg(long, value_name = "ID")]
    pub request: Option<String>,
    /// One JSON object: `state`, `reason` and what the token or request was
    #[arg(long)]
    pub json: bool,
}

/// `valet seed`: how many of each.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    #[arg(long, default_value_t = 0)]
    pub apps: u64,
    #[arg(long, default_value_t = 0)]
    pub users: u64,
    #[arg(long, default_value_t = 0)]
    pub grants: u64,
    #[arg(long, default_value_t = 0)]
    pub refresh_tokens: u64,
    #[arg(long, default_value_t = 0)]
    pub revoked: u64,
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
