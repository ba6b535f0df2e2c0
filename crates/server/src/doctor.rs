//! `valet doctor` (issue 21): a deployment's checkup, one finding per line, each saying
//! what to do. A weakness makes the command fail, so a pipeline can run it.
//!
//! What it checks: the database answers; the issuer is HTTPS (RFC 6749 §3.1, RFC 9700
//! §2.6: OAuth outside a laptop needs TLS), reachable, and names itself in discovery
//! (RFC 8414 §3.3, OIDC Discovery §4.3); the node's clock against the issuer's `Date`;
//! the master key (a file needs a backup); each algorithm's signing key and its age;
//! settings and applications that weaken security (the password and implicit grants,
//! RFC 9700 §2.4 and §2.1.2; plain PKCE, §2.1.1; second factors off; loopback metadata).

use std::time::Duration;
use valet_jose::Algorithm;
use valet_protocol::application::GrantType;
use valet_protocol::keys;
use valet_store::Store;

use crate::config::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Worth knowing, nothing to fix.
    Note,
    /// Fix this: the command fails.
    Weak,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub text: String,
}

fn ok(text: impl Into<String>) -> Finding {
    Finding {
        level: Level::Ok,
        text: text.into(),
    }
}

fn note(text: impl Into<String>) -> Finding {
    Finding {
        level: Level::Note,
        text: text.into(),
    }
}

fn weak(text: impl Into<String>) -> Finding {
    Finding {
        level: Level::Weak,
        text: text.into(),
    }
}

/// A signing key older than this, with no rotation scheduled, is a weakness.
const OLD_KEY: i64 = 180 * 86_400;
/// Clock skew against the issuer that is a weakness (tokens' `iat`/`exp` go wrong).
const SKEW: i64 = 30;

/// Where the master key came from, as far as the doctor needs to know.
pub enum MasterKeyFrom {
    Env,
    File(std::path::PathBuf),
}

pub async fn check(
    settings: &Settings,
    store: &dyn Store,
    master_key: MasterKeyFrom,
    now: i64,
) -> Vec<Finding> {
    let mut f = Vec::new();
    match store.ping().await {
        Ok(()) => f.push(ok(format!("database: {} answers", store.backend()))),
        Err(e) => f.push(weak(format!(
            "database: does not answer ({e}); check --database and that the server is up"
        ))),
    }
    let issuer = &settings.issuer;
    let local = issuer.starts_with("http://localhost") || issuer.starts_with("http://127.0.0.1");
    if issuer.starts_with("https://") {
        f.push(ok(format!("issuer: {issuer} is HTTPS")));
        if settings.tls.is_none() {
            f.push(note(
                "tls: Valet serves plain HTTP; make sure a TLS-terminating proxy is the only way in",
            ));
        }
    } else if local {
        f.push(note(format!(
            "issuer: {issuer} is for this machine only; set --issuer to an https:// URL before anyone else uses it"
        )));
    } else {
        f.push(weak(format!(
            "issuer: {issuer} is not HTTPS: tokens and passwords would cross the network in clear; serve TLS (--tls-cert/--tls-key or a proxy) and set an https:// issuer"
        )));
    }
    f.extend(reachable(settings, now).await);
    match master_key {
        MasterKeyFrom::Env => f.push(ok("master key: from VALET_MASTER_KEY")),
        MasterKeyFrom::File(path) => f.push(note(format!(
            "master key: {} — back it up with the database (without it the signing keys and secrets cannot be opened); in production prefer VALET_MASTER_KEY from a secret store",
            path.display()
        ))),
    }
    f.extend(key_findings(settings, store, now).await);
    f.extend(setting_findings(settings));
    f.extend(application_findings(store).await);
    f
}

/// The issuer's discovery document, fetched as a client would: does it answer, name
/// itself, and agree on the time?
async fn reachable(settings: &Settings, now: i64) -> Vec<Finding> {
    let issuer = &settings.issuer;
    let url = format!("{issuer}/.well-known/openid-configuration");
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => return vec![weak(format!("issuer: cannot make an HTTP client: {e}"))],
    };
    let r = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) => {
            return vec![weak(format!(
                "issuer: {url} is not reachable from here ({}); is `valet serve` running, and does the issuer name where clients reach it?",
                crate::fault::chain(&e)
            ))];
        }
    };
    let mut out = Vec::new();
    let date = r
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(http_date);
    let status = r.status();
    let doc: Option<serde_json::Value> = r.json().await.ok();
    match doc.as_ref().and_then(|d| d["issuer"].as_str()) {
        Some(i) if i == issuer => out.push(ok(format!("issuer: {url} answers and names {i}"))),
        Some(i) => out.push(weak(format!(
            "issuer: {url} names the issuer {i}, not {issuer}: clients will refuse its tokens (RFC 8414 §3.3); give every node the same --issuer"
        ))),
        None => out.push(weak(format!(
            "issuer: {url} answered {status} without a discovery document; is it Valet?"
        ))),
    }
    match date {
        Some(d) if (d - now).abs() > SKEW => out.push(weak(format!(
            "clock: this machine and the issuer differ by {} s; run NTP on every node (tokens carry times)",
            (d - now).abs()
        ))),
        Some(_) => out.push(ok("clock: agrees with the issuer's")),
        None => {}
    }
    out
}

/// RFC 9110 §5.6.7 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as Unix seconds.
fn http_date(s: &str) -> Option<i64> {
    let mut p = s.split_whitespace().skip(1);
    let day: i64 = p.next()?.parse().ok()?;
    let month = match p.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = p.next()?.parse().ok()?;
    let mut hms = p.next()?.split(':').map(|x| x.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if !(0..60).contains(&sec) {
        return None;
    }
    // The console's calendar arithmetic, to the minute.
    let minute = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}");
    Some(crate::routes::console::audit::parse_time(&minute)? + sec)
}

async fn key_findings(settings: &Settings, store: &dyn Store, now: i64) -> Vec<Finding> {
    let times: Vec<keys::KeyTimes> = match store.signing_keys().await {
        Ok(k) => k.into_iter().map(|r| r.times).collect(),
        Err(e) => return vec![weak(format!("keys: cannot be read ({e})"))],
    };
    let mut out = Vec::new();
    let rotation = settings.operations.key_rotation_interval;
    for alg in Algorithm::ALL {
        match keys::signing_key(&times, alg.as_str(), now) {
            None => out.push(weak(format!(
                "keys: no {} key signs now; run `valet keys rotate --alg {}`",
                alg.as_str(),
                alg.as_str()
            ))),
            Some(k) => {
                let days = (now - k.created_at) / 86_400;
                if rotation.is_none() && now - k.created_at > OLD_KEY {
                    out.push(weak(format!(
                        "keys: the {} key {} is {days} days old; rotate it (`valet keys rotate`) or set --key-rotation-interval 90d",
                        alg.as_str(),
                        k.kid
                    )));
                } else {
                    out.push(ok(format!(
                        "keys: {} signs with {} ({days} days old)",
                        alg.as_str(),
                        k.kid
                    )));
                }
            }
        }
    }
    if rotation.is_none() {
        out.push(note(
            "keys: no rotation scheduled; --key-rotation-interval 90d rotates them with no one to remember",
        ));
    }
    out
}

fn setting_findings(settings: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    if settings.mfa == valet_protocol::mfa::Policy::Off {
        out.push(weak(
            "mfa: second factors are off; set mfa = \"optional\" (the default) or \"required\"",
        ));
    }
    if settings.dev_allow_loopback_metadata {
        out.push(weak(
            "dev_allow_loopback_metadata: on; it lets metadata documents point at this machine's own services — for development only",
        ));
    }
    if settings.registration.mode == crate::registration::Mode::Open {
        out.push(note(
            "registration: open to public clients without a token (MCP agents work out of the box); set registration = \"token\" to ask for an initial access token",
        ));
    }
    out
}

async fn application_findings(store: &dyn Store) -> Vec<Finding> {
    let clients = match store.clients().await {
        Ok(c) => c,
        Err(e) => return vec![weak(format!("applications: cannot be read ({e})"))],
    };
    let mut out = Vec::new();
    for c in &clients {
        let a = &c.app;
        let who = format!("application {} ({})", a.name, a.client_id);
        if a.allows_grant(GrantType::Password) {
            out.push(weak(format!(
                "{who}: uses the password grant, which hands users' passwords to the application (RFC 9700 §2.4); move it to the authorization code flow and remove the grant"
            )));
        }
        if a.allows_grant(GrantType::Implicit) {
            out.push(weak(format!(
                "{who}: uses the implicit grant, whose tokens travel in URLs (RFC 9700 §2.1.2); use the code flow with PKCE"
            )));
        }
        if a.allow_plain_pkce {
            out.push(weak(format!(
                "{who}: accepts plain PKCE, which a leaked authorization request defeats (RFC 9700 §2.1.1); remove --allow-plain-pkce"
            )));
        }
    }
    if out.is_empty() {
        out.push(ok(format!(
            "applications: none of {} uses the password or implicit grant or plain PKCE",
            clients.len()
        )));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates_read_as_unix_seconds() {
        assert_eq!(
            super::http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            super::http_date("Tue, 01 Dec 2026 00:00:00 GMT"),
            Some(1_796_083_200)
        );
        assert_eq!(super::http_date("yesterday"), None);
    }
}
