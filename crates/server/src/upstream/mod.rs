//! Upstream identity providers (issue 18): OpenID Connect providers found by discovery and
//! plain OAuth 2.0 providers with a user API (GitHub), each a third kind of user store
//! beside the database and LDAP (`users/`). Valet is a strict relying party: the
//! authorization code flow with PKCE S256, `state` (the sealed interaction,
//! `routes/upstream.rs`) and `nonce`; RFC 9207 `iss` checked; the ID token verified
//! against the provider's JWKS (`valet_jose::KeySet`: each key pinned to one algorithm,
//! refetched on an unknown `kid` at most once per `JWKS_COOLDOWN`) and its claims by
//! `valet_protocol::upstream`.
//!
//! Bounded like LDAP: every call has the provider's timeout, at most `CONCURRENT` run at
//! once per provider, and after a failure to reach it the provider is skipped for
//! `RETRY_INTERVAL` (503 with `Retry-After` at once, rather than every sign-in waiting for
//! its own timeout). Other sign-in methods never wait on a provider.

pub mod config;
mod http;
mod registry;

pub use registry::Upstreams;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;
use valet_jose::KeySet;
use valet_protocol::UnixTime;
use valet_protocol::upstream::{self as rules, Asserted, Expected};

use config::{AuthMethod, Source, UpstreamSettings};
pub use http::CallError;

/// Sign-ins in flight at one provider, per node.
const CONCURRENT: usize = 32;
/// How long a provider that could not be reached is skipped.
const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// The least time between two JWKS fetches for an unknown `kid`.
const JWKS_COOLDOWN: Duration = Duration::from_secs(30);
/// How long a JWKS is used before it is fetched again (as valet-resource does): a key the
/// provider withdrew stops being trusted within this.
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// How long a discovery document is used before it is fetched again, in seconds.
const METADATA_TTL: i64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The provider cannot be reached (or is being skipped after a failure): 503.
    #[error("the provider is not answering: {why}")]
    Unavailable { why: String, retry_after: u64 },
    /// The provider answered, and what it answered does not sign anyone in.
    #[error("{0}")]
    Refused(String),
}

impl From<rules::Refusal> for UpstreamError {
    fn from(r: rules::Refusal) -> Self {
        Self::Refused(r.to_string())
    }
}

/// Where a provider's endpoints are.
#[derive(Debug)]
struct Metadata {
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    /// RFC 9207 §3: the provider sends `iss` in its authorization responses.
    iss_parameter_supported: bool,
    /// When it was fetched, on the node's clock.
    fetched_at: UnixTime,
}

pub struct Provider {
    pub settings: UpstreamSettings,
    secret: String,
    http: reqwest::Client,
    metadata: ArcSwapOption<Metadata>,
    metadata_lock: tokio::sync::Mutex<()>,
    keys: ArcSwap<KeySet>,
    /// When the JWKS was last fetched; held while fetching (one fetch at a time).
    keys_fetched: tokio::sync::Mutex<Option<Instant>>,
    down_until: Mutex<Option<Instant>>,
    gate: Semaphore,
}

/// What a successful round trip yields.
pub struct Finished {
    pub asserted: Asserted,
    /// The provider's refresh token, when it gave one and the provider keeps it.
    pub refresh_token: Option<String>,
    /// The session's `amr` (`protocol::upstream::session_amr`).
    pub amr: Vec<String>,
}

impl Provider {
    pub fn id(&self) -> &str {
        &self.settings.id
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    fn issuer(&self) -> Option<&str> {
        match &self.settings.source {
            Source::Oidc { issuer } => Some(issuer),
            Source::OAuth { .. } => None,
        }
    }

    /// Whether the address `login` (an email address) is of a domain this provider is
    /// offered for.
    pub fn serves(&self, login: &str) -> bool {
        match login.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() => self
                .settings
                .domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain)),
            _ => false,
        }
    }

    fn check_up(&self) -> Result<(), UpstreamError> {
        let down = *self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        match down {
            Some(until) if Instant::now() < until => Err(UpstreamError::Unavailable {
                why: "skipped after a recent failure".into(),
                retry_after: (until - Instant::now()).as_secs().max(1),
            }),
            _ => Ok(()),
        }
    }

    fn call_failed(&self, e: CallError) -> UpstreamError {
        match e {
            CallError::Unavailable(why) => {
                *self.down_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Instant::now() + RETRY_INTERVAL);
                UpstreamError::Unavailable {
                    why,
                    retry_after: RETRY_INTERVAL.as_secs(),
                }
            }
            CallError::Refused(why) => UpstreamError::Refused(why),
        }
    }

    /// The provider's endpoints: written in the table, or from its discovery document
    /// (fetched once an hour, one fetch at a time). The document must name exactly the
    /// configured issuer (OIDC Discovery §4.3).
    async fn metadata(&self, now: UnixTime) -> Result<Arc<Metadata>, UpstreamError> {
        self.metadata_within(now, METADATA_TTL).await
    }

    /// The endpoints, fetched less than `max_age` seconds before `now` (0: fetched now).
    /// One fetch at a time: a request that waited while another fetched takes its result.
    async fn metadata_within(
        &self,
        now: UnixTime,
        max_age: i64,
    ) -> Result<Arc<Metadata>, UpstreamError> {
        let fresh = |m: &Arc<Metadata>| now - m.fetched_at < max_age;
        let before = self.metadata.load_full();
        if let Some(m) = before.clone().filter(fresh) {
            return Ok(m);
        }
        self.check_up()?;
        let _one = self.metadata_lock.lock().await;
        let after = self.metadata.load_full();
        let fetched_meanwhile = match (&before, &after) {
            (None, Some(_)) => true,
            (Some(b), Some(a)) => !Arc::ptr_eq(b, a),
            _ => false,
        };
        if let Some(m) = after.filter(|m| fetched_meanwhile || fresh(m)) {
            return Ok(m);
        }
        self.check_up()?;
        let m = match &self.settings.source {
            Source::OAuth {
                authorization_endpoint,
                token_endpoint,
                userinfo_endpoint,
            } => Metadata {
                authorization_endpoint: authorization_endpoint.clone(),
                token_endpoint: token_endpoint.clone(),
                userinfo_endpoint: Some(userinfo_endpoint.clone()),
                jwks_uri: None,
                iss_parameter_supported: false,
                fetched_at: now,
            },
            Source::Oidc { issuer } => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let doc = http::get_json(&self.http, &url, None)
                    .await
                    .map_err(|e| self.call_failed(e))?;
                discovered(issuer, &doc, now).map_err(UpstreamError::Refused)?
            }
        };
        let m = Arc::new(m);
        self.metadata.store(Some(m.clone()));
        Ok(m)
    }

    /// Whether the provider answers, before a browser is sent there: its discovery
    /// document fetched afresh (one fetch at a time, shared by the sign-ins waiting for
    /// it), so an outage is Valet's 503 page rather than the browser's
    /// connection error. A plain OAuth provider has no document to ask; its outage shows
    /// at the callback.
    pub async fn ready(&self, now: UnixTime) -> Result<(), UpstreamError> {
        self.check_up()?;
        if self.issuer().is_some() {
            self.metadata_within(now, 0).await?;
        }
        Ok(())
    }

    /// The URL of the provider's authorization endpoint for one sign-in.
    #[allow(clippy::too_many_arguments)]
    pub async fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        code_challenge: &str,
        login_hint: Option<&str>,
        max_age: Option<i64>,
        now: UnixTime,
    ) -> Result<String, UpstreamError> {
        let m = self.metadata(now).await?;
        let mut url = url::Url::parse(&m.authorization_endpoint).map_err(|_| {
            UpstreamError::Refused("the authorization endpoint is not a URL".into())
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.settings.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &self.settings.scopes.join(" "))
                .append_pair("state", state)
                .append_pair("code_challenge", code_challenge)
                .append_pair("code_challenge_method", "S256");
            if self.issuer().is_some() {
                q.append_pair("nonce", nonce);
            }
            if let Some(hint) = login_hint {
                q.append_pair("login_hint", hint);
            }
            if let Some(m) = max_age.filter(|_| self.issuer().is_some()) {
                q.append_pair("max_age", &m.to_string());
                if m == 0 {
                    q.append_pair("prompt", "login");
                }
            }
        }
        Ok(url.into())
    }

    /// RFC 9207 §2.4, on the authorization response's `iss`.
    pub async fn check_response_issuer(
        &self,
        iss: Option<&str>,
        now: UnixTime,
    ) -> Result<(), UpstreamError> {
        let m = self.metadata(now).await?;
        Ok(rules::check_response_issuer(
            self.issuer(),
            m.iss_parameter_supported,
            iss,
        )?)
    }

    /// Redeems `code` and reads who signed in: for OpenID Connect the verified ID token
    /// (with UserInfo's claims added), for plain OAuth the user API's answer.
    pub async fn finish(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        nonce: &str,
        max_age: Option<i64>,
        now: UnixTime,
    ) -> Result<Finished, UpstreamError> {
        let _slot = self
            .gate
            .try_acquire()
            .map_err(|_| UpstreamError::Unavailable {
                why: "too many sign-ins at this provider at once".into(),
                retry_after: 1,
            })?;
        let m = self.metadata(now).await?;
        self.check_up()?;
        let mut fields = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let basic = match self.settings.auth_method {
            AuthMethod::Basic => Some((self.settings.client_id.as_str(), self.secret.as_str())),
            AuthMethod::Post => {
                fields.push(("client_id", &self.settings.client_id));
                fields.push(("client_secret", &self.secret));
                None
            }
        };
        let tokens = http::post_form(&self.http, &m.token_endpoint, &fields, basic)
            .await
            .map_err(|e| self.call_failed(e))?;
        if tokens.contains_key("error") {
            // GitHub answers a bad code with 200 and an error member.
            return Err(UpstreamError::Refused(format!(
                "the token endpoint refused the code: {}",
                http::describe_error(&tokens)
            )));
        }
        let access_token = tokens.get("access_token").and_then(Value::as_str);
        let refresh_token = tokens
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|_| self.settings.keep_refresh_token)
            .map(str::to_owned);
        let mut amr = Vec::new();
        let claims = match self.issuer() {
            Some(issuer) => {
                let id_token = tokens
                    .get("id_token")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        UpstreamError::Refused("the token response has no ID token".into())
                    })?;
                let mut claims = self.verify_id_token(&m, id_token).await?;
                rules::check_id_token(
                    &claims,
                    &Expected {
                        issuer,
                        client_id: &self.settings.client_id,
                        nonce,
                        now,
                        max_age,
                    },
                )?;
                // The ID token's own `amr` (UserInfo's members are not signed).
                amr = rules::session_amr(self.settings.trust_mfa, &claims);
                if let (Some(endpoint), Some(token)) = (&m.userinfo_endpoint, access_token) {
                    let info = http::get_json(&self.http, endpoint, Some(token))
                        .await
                        .map_err(|e| self.call_failed(e))?;
                    rules::check_userinfo_subject(&claims, &info)?;
                    for (k, v) in info {
                        claims.entry(k).or_insert(v);
                    }
                }
                claims
            }
            None => {
                let token = access_token.ok_or_else(|| {
                    UpstreamError::Refused("the token response has no access token".into())
                })?;
                let endpoint = m.userinfo_endpoint.as_deref().unwrap_or_default();
                http::get_json(&self.http, endpoint, Some(token))
                    .await
                    .map_err(|e| self.call_failed(e))?
            }
        };
        Ok(Finished {
            asserted: rules::map_claims(&self.settings.mapping, &claims)?,
            refresh_token,
            amr,
        })
    }

    /// OIDC Core §3.1.3.7 steps 6–8: the ID token's signature, by a key the provider
    /// publishes, of the algorithm that key is pinned to (never `none`, never HMAC).
    async fn verify_id_token(
        &self,
        m: &Metadata,
        token: &str,
    ) -> Result<Map<String, Value>, UpstreamError> {
        let bad = |why: &str| UpstreamError::Refused(format!("the ID token {why}"));
        let header = valet_jose::header(token).map_err(|_| bad("is not a JWS"))?;
        let jwks_uri = m
            .jwks_uri
            .as_deref()
            .ok_or_else(|| bad("cannot be checked: the provider publishes no jwks_uri"))?;
        let stale = self
            .keys_fetched
            .lock()
            .await
            .is_some_and(|t| t.elapsed() >= KEYS_MAX_AGE);
        if stale {
            self.fetch_keys(jwks_uri).await?;
        }
        let key = match self.keys.load().find(&header) {
            Some(k) => k,
            None => {
                self.fetch_keys(jwks_uri).await?;
                self.keys
                    .load()
                    .find(&header)
                    .ok_or_else(|| bad("names a key the provider does not publish"))?
            }
        };
        let payload = key
            .verify(token, &header)
            .map_err(|_| bad("signature does not check out"))?;
        serde_json::from_slice(&payload).map_err(|_| bad("payload is not a JSON object"))
    }

    /// Fetches the JWKS, at most once per `JWKS_COOLDOWN` (the first time at once).
    async fn fetch_keys(&self, jwks_uri: &str) -> Result<(), UpstreamError> {
        let mut last = self.keys_fetched.lock().await;
        if last.is_some_and(|t| t.elapsed() < JWKS_COOLDOWN) {
            return Ok(());
        }
        self.check_up()?;
        *last = Some(Instant::now());
        let doc = http::get_json(&self.http, jwks_uri, None)
            .await
            .map_err(|e| self.call_failed(e))?;
        let set = KeySet::parse(Value::Object(doc).to_string().as_bytes())
            .map_err(|_| UpstreamError::Refused("the JWKS is not a JWK Set".into()))?;
        self.keys.store(Arc::new(set));
        Ok(())
    }
}

/// A discovery document, read: it must name `issuer` exactly and the endpoints a sign-in
/// needs.
fn discovered(issuer: &str, doc: &Map<String, Value>, now: UnixTime) -> Result<Metadata, String> {
    let said = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
    if said != issuer {
        return Err(format!(
            "its discovery document names the issuer `{}`, not `{issuer}` \
             (OpenID Connect Discovery §4.3: they must be the same)",
            said.chars().take(200).collect::<String>()
        ));
    }
    let url = |key: &str| -> Result<Option<String>, String> {
        match doc.get(key).and_then(Value::as_str) {
            None => Ok(None),
            Some(v) => config::check_url(v)
                .map(|()| Some(v.to_owned()))
                .map_err(|e| format!("its discovery document's {key}: {e}")),
        }
    };
    let authorization_endpoint = url("authorization_endpoint")?
        .ok_or("its discovery document has no authorization_endpoint")?;
    let token_endpoint =
        url("token_endpoint")?.ok_or("its discovery document has no token_endpoint")?;
    Ok(Metadata {
        authorization_endpoint,
        token_endpoint,
        userinfo_endpoint: url("userinfo_endpoint")?,
        jwks_uri: Some(url("jwks_uri")?.ok_or("its discovery document has no jwks_uri")?),
        iss_parameter_supported: doc
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        fetched_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_must_name_the_configured_issuer() {
        let doc = serde_json::json!({
            "issuer": "https://other.example",
            "authorization_endpoint": "https://idp.example/auth",
            "token_endpoint": "https://idp.example/token",
            "jwks_uri": "https://idp.example/jwks",
        });
        let e = discovered("https://idp.example", doc.as_object().unwrap(), 0).unwrap_err();
        assert!(
            e.contains("names the issuer `https://other.example`"),
            "{e}"
        );
        let mut ok = doc.as_object().unwrap().clone();
        ok.insert("issuer".into(), "https://idp.example".into());
        let m = discovered("https://idp.example", &ok, 0).unwrap();
        assert!(!m.iss_parameter_supported);
        ok.remove("jwks_uri");
        assert!(discovered("https://idp.example", &ok, 0).is_err());
    }
}
