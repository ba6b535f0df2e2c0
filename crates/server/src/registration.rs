//! The registration firewall's settings and the helpers the endpoints share (issue 14):
//! who may register (`registration = open | token | off`), how long an unused
//! self-registered application lives, what it may ask for, quarantine, and recording its
//! last use from the token path (at most once per `TOUCH_INTERVAL`).

use valet_protocol::application::Application;
use valet_protocol::audience::Api;
use valet_protocol::registration::Policy;
use valet_protocol::scope::ADMIN_SCOPE;
use valet_store::{Store, StoreError, TOUCH_INTERVAL};

use crate::config::Partial;

/// Who may register at `POST /oauth2/register` (RFC 7591 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Public clients register with no token (MCP clients work out of the box);
    /// confidential ones need an initial access token.
    Open,
    /// Every registration needs an initial access token.
    Token,
    /// No registration endpoint (and none advertised).
    Off,
}

#[derive(Debug, Clone)]
pub struct RegistrationSettings {
    pub mode: Mode,
    /// Seconds a self-registered application never used lives (default 7 days).
    pub idle_ttl: i64,
    /// Seconds a self-registered application lives after its last use (default 90 days).
    pub unused_ttl: i64,
    /// Seconds within which an identical registration from the same address returns the
    /// existing application (24 h).
    pub dedupe_window: i64,
    /// Allowed hosts of http(s) redirect URIs; empty: any.
    pub redirect_hosts: Vec<String>,
    /// Allowed redirect URI schemes; empty: any the registration rules allow.
    pub redirect_schemes: Vec<String>,
    /// Scopes beyond OpenID Connect's a self-registered application may ask for; `None`:
    /// those of every registered API. Never `valet:admin`.
    pub scopes: Option<Vec<String>>,
    /// Register quarantined: authorize and token refuse until an admin approves.
    pub quarantine: bool,
}

/// Reads the `registration*` settings of `p` (defaults: open, 7 days, 90 days).
pub fn resolve(p: &Partial) -> Result<RegistrationSettings, String> {
    let mode = match p.registration.as_deref().unwrap_or("open") {
        "open" => Mode::Open,
        "token" => Mode::Token,
        "off" => Mode::Off,
        other => {
            return Err(format!(
                "registration must be `open`, `token` or `off`, not `{other}`"
            ));
        }
    };
    let secs = |name: &str, v: Option<i64>, default: i64| match v.unwrap_or(default) {
        n @ 3600..=31_536_000 => Ok(n),
        n => Err(format!(
            "{name} must be between 3600 and 31536000 seconds, not {n}"
        )),
    };
    let idle_ttl = secs("registration_idle_ttl", p.registration_idle_ttl, 7 * 86_400)?;
    let unused_ttl = secs(
        "registration_unused_ttl",
        p.registration_unused_ttl,
        90 * 86_400,
    )?;
    let lower = |v: &Option<Vec<String>>| -> Vec<String> {
        v.iter()
            .flatten()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let scopes = p.registration_scopes.as_ref().map(|list| {
        list.iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && s != ADMIN_SCOPE)
            .collect()
    });
    Ok(RegistrationSettings {
        mode,
        idle_ttl,
        unused_ttl,
        dedupe_window: 86_400,
        redirect_hosts: lower(&p.registration_redirect_hosts),
        redirect_schemes: lower(&p.registration_redirect_schemes),
        scopes,
        quarantine: p.registration_quarantine.unwrap_or(false),
    })
}

impl RegistrationSettings {
    /// The protocol's policy, given the registered APIs: their scopes (never
    /// `valet:admin`), narrowed to the configured list if there is one.
    pub fn policy(&self, apis: &[Api]) -> Policy {
        let scopes = apis
            .iter()
            .flat_map(|a| a.scopes.iter().map(|s| s.name.clone()))
            .filter(|s| s != ADMIN_SCOPE)
            .filter(|s| {
                self.scopes
                    .as_ref()
                    .is_none_or(|allowed| allowed.contains(s))
            })
            .collect();
        Policy {
            redirect_hosts: self.redirect_hosts.clone(),
            redirect_schemes: self.redirect_schemes.clone(),
            scopes,
            quarantine: self.quarantine,
        }
    }
}

/// Records that a self-registered application got tokens at `now`: its registration
/// lives `unused_ttl` from here. Written at most once per `TOUCH_INTERVAL` (a recent use
/// costs one read); admin-registered applications cost nothing.
pub async fn record_use(
    store: &dyn Store,
    settings: &RegistrationSettings,
    app: &Application,
    now: i64,
) -> Result<(), StoreError> {
    if app.registration.is_self_registered() {
        store
            .touch_registration(
                &app.client_id,
                now,
                now + settings.unused_ttl,
                TOUCH_INTERVAL,
            )
            .await?;
    }
    Ok(())
}

/// The error authorize and token give an application still in quarantine.
pub const QUARANTINED: &str =
    "this application registered itself and awaits an administrator's approval";
