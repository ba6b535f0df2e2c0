//! `valet keys`: signing keys, listed and rotated.

use serde_json::json;
use valet_jose::Algorithm;
use valet_protocol::keys;
use valet_server::admin::Admin;
use valet_server::config::Settings;
use valet_server::crypto::MasterKey;
use valet_server::keyring;

use super::{now, print_json};
use crate::cli::KeysCommand;

pub(super) async fn keys_cmd(
    cmd: KeysCommand,
    settings: &Settings,
    key: &MasterKey,
    admin: &Admin,
) -> Result<(), String> {
    let store = admin.store.clone();
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
                None => Algorithm::ALL.to_vec(),
                Some(a) => vec![Algorithm::parse(a).ok_or_else(|| {
                    format!("--alg must be ES256, RS256, PS256 or EdDSA, not {a}")
                })?],
            };
            for alg in algs {
                let t = admin
                    .rotate_key(
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
        KeysCommand::Revoke { kid } => {
            let replacement = admin
                .revoke_key(&sealer, &kid, now())
                .await
                .map_err(|e| e.to_string())?;
            out!(
                "Revoked {kid}: it is no longer published nor used to sign; tokens it signed no longer verify."
            );
            if let Some(r) = replacement {
                out!("{}: {} signs from now on.", r.alg, r.kid);
            }
            out!("Running servers drop it at their next key reload (key_refresh_interval).");
            Ok(())
        }
    }
}

/// A time relative to now, which is what an operator wants to know.
pub(super) fn fmt_time(t: i64, now: i64) -> String {
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
