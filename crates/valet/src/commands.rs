//! What each command does. Output for people is short and plain; `--json` prints one
//! JSON object (or array for lists) for scripts.

use serde_json::json;
use std::io::IsTerminal;
use std::sync::Arc;
use valet_jose::Algorithm;
use valet_protocol::application::Origin;
use valet_protocol::audience::ApiScope;
use valet_protocol::keys;
// Human output escapes control and bidirectional characters, even in records stored
// before registration refused them (issue 12, item 16); `--json` output is JSON-escaped.
use valet_protocol::text::visible;
use valet_protocol::user::UserClaims;
use valet_server::admin::{Admin, NewClient, NewUser, WithSecret};
use valet_server::config::{LogFormat, Partial, Settings};
use valet_server::crypto::MasterKey;
use valet_server::{Clock, SystemClock, Valet, keyring, master_key, open_store};
use valet_store::Store;

use crate::cli::{
    ApiCommand, Cli, ClientCommand, Command, KeysCommand, RegistrationCommand,
    RegistrationTokenCommand, UserCommand,
};

/// The CLI's time, in Unix seconds: the system clock, as a node's (`valet serve`).
fn now() -> i64 {
    SystemClock.now()
}

fn settings(cli: &Cli) -> Result<Settings, String> {
    let file = match &cli.settings.config {
        Some(path) => Partial::from_file(path)?,
        None => Partial::default(),
    };
    Settings::resolve(file.overlay(cli.settings.partial()))
}

/// Logs go to standard error through `logs::Stderr`: a line that cannot be written is
/// dropped, never a panic or a wait (issue 12, item 7); tracing-subscriber's own report of
/// a failed write (an `eprintln!`, which panics on a broken stderr) is off.
fn init_logs(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VALET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false)
        .with_writer(crate::logs::Stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn master_key(settings: &Settings) -> Result<MasterKey, String> {
    let from_env = std::env::var("VALET_MASTER_KEY").ok();
    let (key, created) =
        master_key::load_or_create(from_env.as_deref(), &settings.master_key_file)?;
    if created {
        crate::logs::print(&master_key::backup_note(&settings.master_key_file));
    }
    Ok(key)
}

/// Runs `cli`; `service_links` are the Kubernetes service-link variables
/// `check_environment` set aside, noted once in the log.
pub async fn run(cli: Cli, service_links: Vec<String>) -> Result<(), String> {
    let settings = settings(&cli)?;
    let serving = matches!(cli.command, Command::Serve);
    init_logs(settings.log_format, if serving { "info" } else { "warn" });
    if !service_links.is_empty() {
        tracing::info!(
            variables = %service_links.join(" "),
            "ignoring {} Kubernetes service-link variable(s) (a Service named valet or valet-…; not settings)",
            service_links.len()
        );
    }
    let key = master_key(&settings)?;
    if serving {
        if settings.tls.is_none()
            && !settings.issuer.starts_with("http://localhost")
            && !settings.issuer.starts_with("http://127.0.0.1")
        {
            tracing::warn!(
                "serving without TLS: OAuth requires TLS on every endpoint (RFC 6749 §3.1); use --tls-cert/--tls-key or a TLS-terminating proxy"
            );
        }
        return Ok(Valet::build(settings, key).await?.run().await?);
    }
    if let Command::Migrate { to } = &cli.command {
        return crate::migrate::to_postgres(&settings, to).await;
    }
    let store = open_store(&settings).await?;
    let admin = Admin {
        store: store.clone(),
        hasher: key.secret_hasher(),
    };
    match cli.command {
        Command::Serve => Ok(()),
        Command::Client(c) => client(c, &admin, &settings).await,
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
        Command::User(c) => user(c, &admin).await,
        Command::Api(c) => api(c, &admin, store.as_ref()).await,
        Command::Keys(c) => keys_cmd(c, &settings, &key, store).await,
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

fn parse_list<T: std::str::FromStr<Err = String>>(
    items: &[String],
) -> Result<Option<Vec<T>>, String> {
    if items.is_empty() {
        return Ok(None);
    }
    items
        .iter()
        .map(|s| s.parse())
        .collect::<Result<Vec<T>, String>>()
        .map(Some)
}

async fn client(cmd: ClientCommand, admin: &Admin, settings: &Settings) -> Result<(), String> {
    match cmd {
        ClientCommand::Create {
            name,
            profile,
            redirect_uris,
            scopes,
            grants,
            trusted,
            auth_method,
            service_user,
            description,
            website,
            logo_uri,
            policy_uri,
            post_logout_redirect_uris,
            allow_plain_pkce,
            require_pkce,
            cors_origins,
            access_token_format,
            json,
        } => {
            let profile: valet_protocol::application::Profile = profile.parse()?;
            // `--grant` adds to the profile's grants (the contract of issue 13).
            let grant_types = parse_list(&grants)?.map(|added| {
                let mut all = profile.default_grant_types();
                for g in added {
                    if !all.contains(&g) {
                        all.push(g);
                    }
                }
                all
            });
            let new = NewClient {
                access_token_format,
                post_logout_redirect_uris,
                allow_plain_pkce,
                require_pkce,
                cors_origins,
                name,
                profile: Some(profile),
                redirect_uris,
                scopes: if scopes.is_empty() {
                    None
                } else {
                    Some(
                        scopes
                            .iter()
                            .flat_map(|s| s.split(' '))
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    )
                },
                grant_types,
                token_endpoint_auth_method: auth_method.map(|m| m.parse()).transpose()?,
                trusted,
                description,
                website,
                logo_uri,
                policy_uri,
                service_subject: service_user,
            };
            let created = admin
                .create_client(new, now())
                .await
                .map_err(|e| e.to_string())?;
            show_created(&created, json, "Created")
        }
        ClientCommand::List { origin, json } => {
            let origin = match origin.as_deref() {
                None => None,
                Some(o) => Some(Origin::parse(o).ok_or("--origin must be admin, dynamic or cimd")?),
            };
            let apps = admin
                .list_by_origin(origin)
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&apps);
            }
            if apps.is_empty() {
                out!(
                    "No applications yet. Create one with: valet client create --name NAME --profile service"
                );
            }
            for a in apps {
                out!("{:<24} {:<8} {}", a.client_id, a.profile, visible(&a.name));
            }
            Ok(())
        }
        ClientCommand::Show { client_id, json } => {
            let c = admin.get(&client_id).await.map_err(|e| e.to_string())?;
            if json {
                return print_json(&c.app);
            }
            let a = &c.app;
            out!("client_id:     {}", a.client_id);
            out!("name:          {}", visible(&a.name));
            if let Some(d) = &a.description {
                out!("description:   {}", visible(d));
            }
            out!("profile:       {}", a.profile);
            let methods: Vec<&str> = a
                .accepted_auth_methods()
                .iter()
                .map(|m| m.as_str())
                .collect();
            out!(
                "auth method:   {}{}",
                methods.join(" or "),
                match (a.is_confidential(), a.token_endpoint_auth_method_chosen) {
                    (false, _) => "",
                    (true, true) => " (chosen at registration)",
                    (true, false) => " (none chosen at registration)",
                }
            );
            out!(
                "grant types:   {}",
                a.grant_types
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            out!("scopes:        {}", a.scopes.join(" "));
            out!("redirect URIs: {}", visible(&a.redirect_uris.join(" ")));
            if !a.post_logout_redirect_uris.is_empty() {
                out!(
                    "after logout:  {}",
                    visible(&a.post_logout_redirect_uris.join(" "))
                );
            }
            out!("trusted:       {}", a.trusted);
            out!("access tokens: {}", a.access_token_format);
            if let Some(s) = &a.service_subject {
                out!("acts as user:  {}", visible(s));
            }
            Ok(())
        }
        ClientCommand::Verify { client_id } => {
            admin
                .verify_client(&client_id, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("{client_id} is verified: its consent page no longer warns about it.");
            Ok(())
        }
        ClientCommand::Approve { client_id } => {
            let keep = settings.registration.unused_ttl;
            admin
                .approve_client(&client_id, keep, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("{client_id} is approved: it may sign users in and get tokens.");
            Ok(())
        }
        ClientCommand::RevokeGrants { client_id } => {
            let n = admin
                .revoke_grants(&client_id, now())
                .await
                .map_err(|e| e.to_string())?;
            out!("Revoked {n} grant(s) of {client_id}; its users will be asked to consent again.");
            Ok(())
        }
        ClientCommand::Delete { client_id } => {
            admin
                .delete_client(&client_id)
                .await
                .map_err(|e| e.to_string())?;
            out!("Deleted {client_id}.");
            Ok(())
        }
        ClientCommand::RotateSecret {
            client_id,
            grace,
            json,
        } => {
            let rotated = admin
                .rotate_secret(&client_id, grace, now())
                .await
                .map_err(|e| e.to_string())?;
            show_created(&rotated, json, "New secret for")
        }
    }
}

fn show_created(c: &WithSecret, json: bool, verb: &str) -> Result<(), String> {
    if json {
        return print_json(c);
    }
    out!("{verb} \"{}\" ({})", visible(&c.app.name), c.app.profile);
    out!("  client_id:     {}", c.app.client_id);
    if let Some(secret) = &c.client_secret {
        out!("  client_secret: {}", secret.expose());
        out!("Store the secret now: Valet keeps only a keyed hash and cannot show it again.");
    }
    Ok(())
}

fn api_json(r: &valet_store::ApiRecord) -> serde_json::Value {
    json!({
        "name": r.name,
        "audience": r.api.audience,
        "scopes": r.api.scopes,
        "access_token_format": r.api.access_token_format,
        "introspectors": r.api.introspectors,
    })
}

async fn api(cmd: ApiCommand, admin: &Admin, store: &dyn Store) -> Result<(), String> {
    match cmd {
        ApiCommand::Create {
            audience,
            scopes,
            name,
            access_token_format,
            introspectors,
            json,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| {
                    let (n, d) = s
                        .split_once('=')
                        .ok_or_else(|| format!("--scope `{s}` must look like NAME=DESCRIPTION"))?;
                    Ok(ApiScope {
                        name: n.trim().to_owned(),
                        description: d.trim().to_owned(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let r = admin
                .create_api(
                    name,
                    audience,
                    scopes,
                    access_token_format,
                    introspectors,
                    now(),
                )
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&api_json(&r));
            }
            out!(
                "Created API {} ({} access tokens) with scopes: {}",
                r.api.audience,
                r.api.access_token_format,
                r.api
                    .scopes
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            if !r.api.introspectors.is_empty() {
                out!("Introspected by: {}", r.api.introspectors.join(" "));
            }
            Ok(())
        }
        ApiCommand::List { json } => {
            let apis = store.apis().await.map_err(|e| e.to_string())?;
            if json {
                let v: Vec<_> = apis.iter().map(api_json).collect();
                return print_json(&v);
            }
            for r in apis {
                out!(
                    "{} ({} access tokens)",
                    visible(&r.api.audience),
                    r.api.access_token_format
                );
                for s in r.api.scopes {
                    out!("  {:<24} {}", s.name, visible(&s.description));
                }
                if !r.api.introspectors.is_empty() {
                    out!("  introspected by: {}", r.api.introspectors.join(" "));
                }
            }
            Ok(())
        }
        ApiCommand::Delete { audience } => {
            if !store
                .delete_api(&audience)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no API with audience {audience}"));
            }
            out!("Deleted API {audience}.");
            Ok(())
        }
    }
}

async fn keys_cmd(
    cmd: KeysCommand,
    settings: &Settings,
    key: &MasterKey,
    store: Arc<dyn Store>,
) -> Result<(), String> {
    let sealer = key.sealer().map_err(|e| e.to_string())?;
    // Creates the first keys if the server never ran, and checks the master key opens them.
    let snapshot = keyring::load_or_generate(store.as_ref(), &sealer, now())
        .await
        .map_err(|e| e.to_string())?;
    match cmd {
        KeysCommand::List { json } => {
            let now = now();
            let times = snapshot.times();
            let state = |t: &keys::KeyTimes| {
                if !t.is_published(now) {
                    "retired"
                } else if keys::signing_key(times, &t.alg, now).is_some_and(|s| s.kid == t.kid) {
                    "signing"
                } else if t.activates_at > now {
                    "published, signs later"
                } else {
                    "published, verify only"
                }
            };
            if json {
                let v: Vec<_> = times
                    .iter()
                    .map(|t| json!({ "kid": t.kid, "alg": t.alg, "state": state(t), "created_at": t.created_at, "activates_at": t.activates_at, "publish_until": t.publish_until }))
                    .collect();
                return print_json(&v);
            }
            for t in times {
                let until = t.publish_until.map_or(String::new(), |u| {
                    format!(", published until {}", fmt_time(u, now))
                });
                out!("{:<6} {}  {}{}", t.alg, t.kid, state(t), until);
            }
            Ok(())
        }
        KeysCommand::Rotate { alg } => {
            let algs = match alg.as_deref() {
                None => vec![Algorithm::ES256, Algorithm::RS256],
                Some(a) => vec![
                    Algorithm::parse(a)
                        .ok_or_else(|| format!("--alg must be ES256 or RS256, not {a}"))?,
                ],
            };
            for alg in algs {
                let t = keyring::rotate(
                    store.as_ref(),
                    &sealer,
                    alg,
                    now(),
                    settings.key_activation_delay,
                    settings.key_retention(),
                )
                .await
                .map_err(|e| e.to_string())?;
                // "in 10m" or "now": "it starts signing in 10m".
                out!(
                    "{alg}: published {} now; it starts signing {}.",
                    t.kid,
                    fmt_time(t.activates_at, now())
                );
            }
            Ok(())
        }
    }
}

/// A time relative to now, which is what an operator wants to know.
fn fmt_time(t: i64, now: i64) -> String {
    let d = t - now;
    match d {
        0 => "now".into(),
        d if d > 0 => format!("in {}", human(d)),
        d => format!("{} ago", human(-d)),
    }
}

fn human(s: i64) -> String {
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

fn user_json(u: &valet_store::UserRecord) -> serde_json::Value {
    let mut v = json!({ "sub": u.id, "username": u.username, "disabled": u.disabled });
    if let (Some(obj), Ok(serde_json::Value::Object(claims))) =
        (v.as_object_mut(), serde_json::to_value(&u.claims))
    {
        obj.extend(claims);
    }
    v
}

async fn user(cmd: UserCommand, admin: &Admin) -> Result<(), String> {
    match cmd {
        UserCommand::Create {
            username,
            email,
            email_verified,
            name,
            given_name,
            family_name,
            password_stdin: _,
            json,
        } => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
            let password = line.trim_end_matches(['\r', '\n']).to_owned();
            let claims = UserClaims {
                name,
                given_name,
                family_name,
                email,
                email_verified,
                ..Default::default()
            };
            let u = admin
                .create_user(
                    NewUser {
                        username,
                        password,
                        claims,
                    },
                    now(),
                )
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&user_json(&u));
            }
            out!("Created user {} (sub {})", visible(&u.username), u.id);
            Ok(())
        }
        UserCommand::List { json } => {
            let users = admin.users().await.map_err(|e| e.to_string())?;
            if json {
                return print_json(&users.iter().map(user_json).collect::<Vec<_>>());
            }
            if users.is_empty() {
                out!(
                    "No users yet. Add one with: valet user create --username NAME --password-stdin"
                );
            }
            for u in users {
                out!(
                    "{:<24} {:<24} {}",
                    u.id,
                    visible(&u.username),
                    visible(u.claims.email.as_deref().unwrap_or(""))
                );
            }
            Ok(())
        }
        UserCommand::Delete { username } => {
            admin
                .delete_user(&username)
                .await
                .map_err(|e| e.to_string())?;
            out!("Deleted user {username}.");
            Ok(())
        }
    }
}
