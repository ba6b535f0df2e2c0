//! Asking the issuer about a token (RFC 7662) with this API's client credentials, and
//! reusing a positive answer for a short, bounded time: never longer than the configured
//! cache, never past the token's `exp`. Negative answers and errors are not cached, and an
//! error is never read as "active".

use std::time::Duration;

use valet_protocol::access_token::LEEWAY;

use crate::Claims;
use crate::cache::{TokenCache, hash};
use crate::validator::{Error, unix_now};

pub(crate) struct Introspector {
    http: reqwest::Client,
    endpoint: String,
    /// RFC 6749 §2.3.1: Basic credentials are form-encoded before base64.
    client_id: String,
    client_secret: String,
    /// Keyed by the token's SHA-256, so the cache holds no usable token.
    cache: TokenCache,
}

impl Introspector {
    pub(crate) fn new(
        http: reqwest::Client,
        endpoint: String,
        client_id: &str,
        client_secret: &str,
        ttl: Duration,
    ) -> Self {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        Self {
            http,
            endpoint,
            client_id: enc(client_id),
            client_secret: enc(client_secret),
            cache: TokenCache::new(ttl),
        }
    }

    pub(crate) async fn check(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<Claims, Error> {
        if token.is_empty() || token.len() > valet_jose::MAX_TOKEN_LEN {
            return Err(Error::InvalidToken("malformed"));
        }
        let key = hash(token);
        if let Some((claims, _)) = self.cache.get(&key) {
            return Ok(claims);
        }
        let r = self
            .http
            .post(&self.endpoint)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| Error::Unavailable(format!("introspection: {e}")))?;
        if !r.status().is_success() {
            // 401 here means this API's own credentials are wrong: an outage, not a verdict.
            return Err(Error::Unavailable(format!(
                "introspection answered HTTP {}",
                r.status()
            )));
        }
        let answer: serde_json::Value = r
            .json()
            .await
            .map_err(|e| Error::Unavailable(format!("introspection: {e}")))?;
        if answer.get("active") != Some(&serde_json::Value::Bool(true)) {
            return Err(Error::InvalidToken("inactive"));
        }
        // Valet also introspects refresh tokens (`token_type: refresh_token`): not ours.
        if answer
            .get("token_type")
            .and_then(|t| t.as_str())
            .is_some_and(|t| !t.eq_ignore_ascii_case("Bearer"))
        {
            return Err(Error::InvalidToken("not an access token"));
        }
        let claims: Claims = serde_json::from_value(answer)
            .map_err(|_| Error::InvalidToken("introspection answer lacks claims"))?;
        if claims.iss != issuer {
            return Err(Error::InvalidToken("issued by someone else"));
        }
        if !claims.aud.iter().any(|a| a == audience) {
            return Err(Error::InvalidToken("not for this audience"));
        }
        let now = unix_now();
        if claims.exp <= now {
            return Err(Error::InvalidToken("expired"));
        }
        if claims.nbf > now + LEEWAY {
            return Err(Error::InvalidToken("not yet valid"));
        }
        self.cache.put(key, &claims, None);
        Ok(claims)
    }
}
