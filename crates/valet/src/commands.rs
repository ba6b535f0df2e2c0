//! What each command does. Output for people is short and plain; `--json` prints one
//! JSON object (or array for lists) for scripts.

use std::io::IsTerminal;
use valet_server::admin::{Actor, Admin};
use valet_server::config::{Database, LogFormat, Partial, Settings};
use valet_server::crypto::MasterKey;
use valet_server::fault::Fault;
use valet_server::keyring::{self, KeyError};
use valet_server::{Clock, StartError, SystemClock, Valet, master_key, open_store};

use crate::cli::{Cli, Command, RegistrationCommand, RegistrationTokenCommand};

pub use config_file::DRIFT;

mod api;
mod client;
mod config_file;
mod explain;
mod grants;
mod keys;
mod seed;
mod upstream;
mod user;

/// The CLI's time, in Unix seconds: the system clock, as a node's (`valet serve`).
fn now() -> i64 {
    SystemClock.now()
}

/// The settings, and whether the issuer was set (by a flag, variable or the file).
fn settings(cli: &Cli) -> Result<(Settings, bool), String> {
    let file = match &cli.settings.config {
        Some(path) => Partial::from_file(path)?,
        None => Partial::default(),
    };
    let merged = file.overlay(cli.settings.partial());
    let issuer_set = merged.issuer.is_some();
    Ok((Settings::resolve(merged)?, issuer_set))
}

/// Logs go to standard error through `logs::Stderr`: a line that cannot be written is
/// dropped, never a panic or a wait (issue 12, item 7); tracing-subscriber's own report of
/// a failed write (an `eprintln!`, which panics on a broken stderr) is off.
fn init_logs(format: LogFormat, default: &str, otlp: Option<&str>) -> Result<(), String> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("VALET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false)
        .with_writer(crate::logs::Stderr);
    let fmt = match format {
        LogFormat::Json => fmt.json().boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    // Traces (issue 21): the request spans, exported when `otlp_endpoint` is set.
    let otlp = otlp.map(crate::telemetry::layer).transpose()?;
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otlp)
        .init();
    Ok(())
}

/// The master key, and where it came from. A new key file is made only for a new
/// database (`master_key::load_or_create`).
fn master_key(settings: &Settings) -> Result<(MasterKey, master_key::Source), String> {
    let from_env = std::env::var("VALET_MASTER_KEY").ok();
    let (key, source) = master_key::load_or_create(
        from_env.as_deref(),
        &settings.master_key_file,
        &settings.database,
    )?;
    if matches!(source, master_key::Source::File { created: true, .. }) {
        crate::logs::print(&master_key::backup_note(&settings.master_key_file));
    }
    Ok((key, source))
}

/// Refuses a master key that does not open the signing keys the database holds, before
/// anything is written with it; on a database that has none yet, makes them (sealed under
/// this key, so the next command with another key is refused).
async fn check_master_key(
    store: &dyn valet_store::Store,
    key: &MasterKey,
    source: &master_key::Source,
    settings: &Settings,
) -> Result<(), String> {
    let sealer = key.sealer().map_err(|e| e.to_string())?;
    match keyring::load_or_generate(store, &sealer, now()).await {
        Ok(_) => Ok(()),
        Err(e) => Err(key_error(e, source, &settings.database)),
    }
}

fn key_error(e: KeyError, source: &master_key::Source, database: &Database) -> String {
    match e {
        KeyError::Sealed(Fault::Unseal) => master_key::mismatch(source, database),
        e => e.to_string(),
    }
}

/// `--listen` on another address than the default while the issuer is still the default
/// one: the issuer names where clients reach Valet, so it is almost certainly wrong.
fn warn_of_default_issuer(settings: &Settings, issuer_set: bool) {
    let default_listen: std::net::SocketAddr = ([127, 0, 0, 1], 8080).into();
    if !issuer_set && settings.listen != default_listen {
        tracing::warn!(
            "listening on {} but the issuer is still {} (the default), and tokens, discovery and redirects name it; set --issuer (VALET_ISSUER) to the URL clients reach this server at",
            settings.listen,
            settings.issuer
        );
    }
}

/// Runs `cli`; `service_links` are the Kubernetes service-link variables
/// `check_environment` set aside, noted once in the log.
pub async fn run(cli: Cli, service_links: Vec<String>) -> Result<(), String> {
    let (settings, issuer_set) = settings(&cli)?;
    let serving = matches!(cli.command, Command::Serve);
    let otlp = if serving {
        settings.operations.otlp_endpoint.as_deref()
    } else {
        None
    };
    init_logs(
        settings.log_format,
        if serving { "info" } else { "warn" },
        otlp,
    )?;
    if !service_links.is_empty() {
        tracing::info!(
            variables = %service_links.join(" "),
            "ignoring {} Kubernetes service-link variable(s) (a Service named valet or valet-…; not settings)",
            service_links.len()
        );
    }
    if let Command::Migrate { to } = &cli.command {
        // A copy needs no master key, and must not make one.
        return crate::migrate::to_postgres(&settings, to).await;
    }
    let (key, source) = master_key(&settings)?;
    if serving {
        warn_of_default_issuer(&settings, issuer_set);
        if settings.tls.is_none()
            && !settings.issuer.starts_with("http://localhost")
            && !settings.issuer.starts_with("http://127.0.0.1")
        {
            tracing::warn!(
                "serving without TLS: OAuth requires TLS on every endpoint (RFC 6749 §3.1); use --tls-cert/--tls-key or a TLS-terminating proxy"
            );
        }
        let database = settings.database.clone();
        let valet = match Valet::build(settings, key).await {
            Ok(v) => v,
            Err(StartError::Keys(e)) => return Err(key_error(e, &source, &database)),
            Err(e) => return Err(e.into()),
        };
        return Ok(valet.run().await?);
    }
    let store = open_store(&settings).await?;
    check_master_key(store.as_ref(), &key, &source, &settings).await?;
    let admin = Admin::new(store.clone(), key.secret_hasher(), Actor::cli())
        .with_upstream_context(key.sealer().map_err(|e| e.to_string())?, &settings);
    match cli.command {
        Command::Serve => Ok(()),
        Command::Client(c) => client::client(c, &admin, &settings).await,
        Command::Registration(RegistrationCommand::Token(RegistrationTokenCommand::Create {
            expires_in,
            uses,
        })) => {
            let token = admin
                .create_initial_access_token(expires_in, uses, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("{}", token.expose());
            Ok(())
        }
        Command::User(c) => user::user(c, &admin).await,
        Command::Api(c) => api::api(c, &admin).await,
        Command::Upstream(c) => upstream::upstream(c, &admin, &settings.issuer).await,
        Command::Keys(c) => keys::keys_cmd(c, &settings, &key, &admin).await,
        Command::Grants(c) => grants::grants(c, &admin).await,
        Command::Audit(a) => grants::audit(a, &admin).await,
        Command::Explain(a) => explain::explain(a, &admin, &settings.issuer).await,
        Command::Doctor => doctor(&settings, store.as_ref(), source).await,
        Command::Export => config_file::export(&admin).await,
        Command::Plan { file, prune } => config_file::plan(&admin, &file, prune).await,
        Command::Apply { file, prune } => config_file::apply(&admin, &file, prune).await,
        Command::Seed(args) => seed::seed(args, &admin, store, now()).await,
        Command::Migrate { .. } => Ok(()),
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<(), String> {
    out!(
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// `valet doctor`: one line per finding; a weakness fails the command.
async fn doctor(
    settings: &Settings,
    store: &dyn valet_store::Store,
    source: master_key::Source,
) -> Result<(), String> {
    use valet_server::doctor::{self, Level, MasterKeyFrom};
    let from = match source {
        master_key::Source::Env => MasterKeyFrom::Env,
        master_key::Source::File { path, .. } => MasterKeyFrom::File(path),
    };
    let findings = doctor::check(settings, store, from, now()).await;
    let mut weak = 0;
    for f in &findings {
        let tag = match f.level {
            Level::Ok => "ok  ",
            Level::Note => "note",
            Level::Weak => {
                weak += 1;
                "WEAK"
            }
        };
        out!("{tag}  {}", f.text);
    }
    if weak > 0 {
        return Err(format!(
            "{weak} weakness(es) found; each WEAK line says what to do"
        ));
    }
    Ok(())
}
