//! The [`Validator`]: its configuration, discovery of the issuer's endpoints (RFC 8414),
//! and the checks an access token must pass, locally or through introspection.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use valet_jose::JoseError;
use valet_protocol::UnixTime;
use valet_protocol::access_token::LEEWAY;

use crate::Claims;
use crate::cache::{TokenCache, hash};
use crate::introspection::Introspector;
use crate::jwks::KeyCache;
use crate::metadata;

/// How long a positive introspection answer is reused unless configured otherwise.
pub const DEFAULT_INTROSPECTION_CACHE: Duration = Duration::from_secs(30);
/// How long a verified JWT is remembered unless configured otherwise.
pub const DEFAULT_JWT_CACHE: Duration = Duration::from_secs(60);
/// The longest either cache may remember a token: revocation must bite soon.
pub const MAX_CACHE: Duration = Duration::from_secs(300);
/// How often the JWKS is refetched without being asked to (Valet's `jwks_max_age`).
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);
/// The least time between two JWKS fetches caused by an unknown `kid`, so that tokens
/// with made-up kids cannot make the API hammer the issuer (RFC 8725 §3.10).
pub const DEFAULT_UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(10);
/// Each request to the issuer gives up after this long.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// How tokens are checked.
pub enum Mode {
    /// JWT access tokens checked locally against the issuer's published keys.
    Local,
    /// Every token is sent to the issuer's introspection endpoint (RFC 7662) with this
    /// API's own client credentials: a confidential application registered in Valet and
    /// named as this API's introspector (`valet api create --introspector CLIENT_ID`);
    /// Valet tells any other application nothing about tokens it does not own, so with
    /// other credentials every token reads inactive. A positive answer is reused for at
    /// most `cache` and never past the token's `exp`.
    Introspection {
        client_id: String,
        client_secret: String,
        cache: Duration,
    },
}

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("Local"),
            Self::Introspection {
                client_id, cache, ..
            } => f
                .debug_struct("Introspection")
                .field("client_id", client_id)
                .field("client_secret", &"[redacted]")
                .field("cache", cache)
                .finish(),
        }
    }
}

/// What a [`Validator`] needs to know. Built with [`Config::new`] and its setters.
#[derive(Debug)]
pub struct Config {
    issuer: String,
    audience: String,
    mode: Mode,
    scopes_supported: Vec<String>,
    resource_name: Option<String>,
    jwks_refresh: Duration,
    unknown_kid_cooldown: Duration,
    jwt_cache: Duration,
    http_client: Option<reqwest::Client>,
    public_url: Option<String>,
}

impl Config {
    /// `issuer` exactly as Valet's `issuer` setting says it; `audience` is this API's
    /// identifier as registered with `valet api create --audience`, and also the
    /// `resource` of its RFC 9728 metadata. Local JWT validation unless told otherwise.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            mode: Mode::Local,
            scopes_supported: Vec::new(),
            resource_name: None,
            jwks_refresh: DEFAULT_JWKS_REFRESH,
            unknown_kid_cooldown: DEFAULT_UNKNOWN_KID_COOLDOWN,
            jwt_cache: DEFAULT_JWT_CACHE,
            http_client: None,
            public_url: None,
        }
    }

    /// Where clients reach this API (`https://api.example`, no path): a DPoP proof's
    /// `htu` is this plus the request's path (RFC 9449 §4.3 item 9). Defaults to the
    /// origin of the audience when the audience is an http(s) URL; without either, DPoP
    /// requests are refused.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Check every token through introspection with this API's client credentials (an
    /// application the API names as its introspector in Valet), reusing positive answers
    /// for [`DEFAULT_INTROSPECTION_CACHE`].
    pub fn introspection(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.mode = Mode::Introspection {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            cache: DEFAULT_INTROSPECTION_CACHE,
        };
        self
    }

    /// How long a positive introspection answer is reused (at most [`MAX_CACHE`]; zero
    /// turns the cache off).
    pub fn introspection_cache(mut self, ttl: Duration) -> Self {
        if let Mode::Introspection { cache, .. } = &mut self.mode {
            *cache = ttl;
        }
        self
    }

    /// How long a verified JWT is remembered by its hash, so the next request with it costs
    /// no signature check (at most [`MAX_CACHE`], never past its `exp`, and only while its
    /// key is still published; zero turns the cache off).
    pub fn jwt_cache(mut self, ttl: Duration) -> Self {
        self.jwt_cache = ttl;
        self
    }

    /// The scopes this API defines, for `scopes_supported` in its RFC 9728 metadata.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// A human-readable name for the metadata's `resource_name`.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// How often the JWKS is refetched in the background.
    pub fn jwks_refresh(mut self, every: Duration) -> Self {
        self.jwks_refresh = every;
        self
    }

    /// The least time between two JWKS fetches caused by an unknown `kid`.
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.unknown_kid_cooldown = cooldown;
        self
    }

    /// The HTTP client for discovery, JWKS and introspection (custom root certificates,
    /// proxies). The default follows no redirects and times out after 5 s.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }
}

/// Why a token was not accepted, or why nobody could tell.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed, forged, expired, for another API, revoked, not an access token. The
    /// reason is for logs; the caller only ever hears `invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// The issuer could not be asked (JWKS or introspection unreachable or refusing this
    /// API's credentials). Never treated as a pass: the HTTP layer answers 503.
    #[error("the issuer is unavailable: {0}")]
    Unavailable(String),
    /// At start-up: discovery failed or the configuration cannot work.
    #[error("resource server configuration: {0}")]
    Config(String),
}

enum Check {
    Local(KeyCache, TokenCache),
    Introspection(Introspector),
}

pub(crate) struct Inner {
    pub(crate) issuer: String,
    pub(crate) audience: String,
    check: Check,
    pub(crate) metadata_url: Arc<str>,
    pub(crate) metadata_path: String,
    pub(crate) metadata_json: String,
    /// The scheme and authority a DPoP proof's `htu` starts with.
    pub(crate) dpop_base: Option<String>,
    pub(crate) replays: crate::dpop::Replays,
}

/// Checks access tokens of one issuer for one audience. Cheap to clone (an `Arc`); the
/// JWKS refresher stops when the last clone is dropped.
#[derive(Clone)]
pub struct Validator {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.inner.check {
            Check::Local(..) => "local",
            Check::Introspection(_) => "introspection",
        };
        f.debug_struct("Validator")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("mode", &mode)
            .finish()
    }
}

/// The part of RFC 8414 authorization-server metadata this crate reads.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: Option<String>,
    introspection_endpoint: Option<String>,
}

impl Validator {
    /// Reads the issuer's metadata at `{issuer}/.well-known/oauth-authorization-server`
    /// and, in local mode, fetches its JWKS; fails if either cannot be had, so an API
    /// does not start unable to accept any token.
    pub async fn new(config: Config) -> Result<Self, Error> {
        if config.audience.is_empty() || config.issuer.is_empty() {
            return Err(Error::Config("issuer and audience are required".into()));
        }
        let http = match config.http_client {
            Some(c) => c,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(HTTP_TIMEOUT)
                .build()
                .map_err(|e| Error::Config(format!("HTTP client: {e}")))?,
        };
        let url = format!(
            "{}/.well-known/oauth-authorization-server",
            config.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = fetch_json(&http, &url)
            .await
            .map_err(|e| Error::Config(format!("discovery at {url}: {e}")))?;
        // RFC 8414 §3.3: the metadata must name the very issuer we asked about.
        if discovery.issuer != config.issuer {
            return Err(Error::Config(format!(
                "discovery at {url} names issuer {:?}, not {:?}",
                discovery.issuer, config.issuer
            )));
        }
        let (check, refresh) = match config.mode {
            Mode::Local => {
                if config.jwt_cache > MAX_CACHE {
                    return Err(too_long());
                }
                let jwks_uri = discovery
                    .jwks_uri
                    .ok_or_else(|| Error::Config("the issuer publishes no jwks_uri".into()))?;
                let keys = KeyCache::start(http, jwks_uri, config.unknown_kid_cooldown).await?;
                let verified = TokenCache::new(config.jwt_cache);
                (Check::Local(keys, verified), Some(config.jwks_refresh))
            }
            Mode::Introspection {
                client_id,
                client_secret,
                cache,
            } => {
                if cache > MAX_CACHE {
                    return Err(too_long());
                }
                let endpoint = discovery.introspection_endpoint.ok_or_else(|| {
                    Error::Config("the issuer publishes no introspection_endpoint".into())
                })?;
                let i = Introspector::new(http, endpoint, &client_id, &client_secret, cache);
                (Check::Introspection(i), None)
            }
        };
        let metadata_url = metadata::metadata_url(&config.audience);
        let metadata_path = metadata::path_of(&metadata_url);
        let metadata_json = metadata::document(
            &config.audience,
            &config.issuer,
            &config.scopes_supported,
            config.resource_name.as_deref(),
        );
        let dpop_base = config
            .public_url
            .clone()
            .or_else(|| origin(&config.audience));
        let inner = Arc::new(Inner {
            dpop_base,
            replays: Default::default(),
            issuer: config.issuer,
            audience: config.audience,
            check,
            metadata_url: metadata_url.into(),
            metadata_path,
            metadata_json,
        });
        if let Some(every) = refresh {
            tokio::spawn(refresh_keys(Arc::downgrade(&inner), every));
        }
        Ok(Self { inner })
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// Checks a bearer token and returns its claims. Scopes are the caller's business
    /// ([`Claims::has_scope`], or the HTTP layer's per-route requirements).
    pub async fn validate(&self, token: &str) -> Result<Claims, Error> {
        match &self.inner.check {
            Check::Local(keys, verified) => {
                let key = verified.enabled().then(|| hash(token));
                if let Some((claims, kid)) = key.as_ref().and_then(|k| verified.get(k)) {
                    if kid.is_some_and(|kid| keys.publishes(&kid)) {
                        return Ok(claims);
                    }
                }
                let (claims, kid) = self.local(keys, token).await?;
                if let Some(key) = key {
                    verified.put(key, &claims, Some(&kid));
                }
                Ok(claims)
            }
            Check::Introspection(i) => {
                i.check(token, &self.inner.issuer, &self.inner.audience)
                    .await
            }
        }
    }

    /// RFC 9068 §4, in its order: a JWS whose header names a known key, the signature
    /// with that key's one algorithm, `typ`, `iss`, the time claims, then `aud`.
    async fn local(&self, keys: &KeyCache, token: &str) -> Result<(Claims, String), Error> {
        let header = valet_jose::header(token).map_err(|_| Error::InvalidToken("malformed"))?;
        // Valet signs every token with a `kid`; a kid is only ever a map key.
        let kid = header.kid.as_deref().ok_or(Error::InvalidToken("no kid"))?;
        let key = keys
            .get(kid)
            .await?
            .ok_or(Error::InvalidToken("unknown kid"))?;
        let payload = key.verify(token, &header).map_err(|e| {
            Error::InvalidToken(match e {
                JoseError::AlgorithmMismatch => "alg is not the key's algorithm",
                JoseError::BadSignature => "bad signature",
                _ => "malformed",
            })
        })?;
        let claims: Claims =
            serde_json::from_slice(&payload).map_err(|_| Error::InvalidToken("claims"))?;
        // This API's clock is not the issuer's: `exp` gets the bounded leeway here (Valet's
        // own checks give none).
        claims
            .check(
                header.typ.as_deref(),
                &self.inner.issuer,
                unix_now(),
                LEEWAY,
            )
            .map_err(Error::InvalidToken)?;
        if !claims.aud.iter().any(|a| *a == self.inner.audience) {
            return Err(Error::InvalidToken("not for this audience"));
        }
        Ok((claims, kid.to_owned()))
    }
}

/// Refetches the JWKS every `every` until the validator is dropped. A failed fetch keeps
/// the keys it had: they stay right until the issuer retires them.
async fn refresh_keys(inner: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if let Check::Local(keys, _) = &inner.check {
            if let Err(e) = keys.refresh().await {
                tracing::warn!(error = %e, "JWKS refresh failed; keeping the keys we have");
            }
        }
    }
}

/// GETs a JSON document from the issuer; any failure is a string for the caller's error.
pub(crate) async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let r = http.get(url).send().await.map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("HTTP {}", r.status()));
    }
    r.json().await.map_err(|e| e.to_string())
}

/// `scheme://authority` of an http(s) URL.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

fn too_long() -> Error {
    Error::Config(format!(
        "a token cache may last at most {} s",
        MAX_CACHE.as_secs()
    ))
}

pub(crate) fn unix_now() -> UnixTime {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as UnixTime)
}
