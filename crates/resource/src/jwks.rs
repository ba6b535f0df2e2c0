//! The issuer's published keys as this API holds them: parsed once, each pinned to the
//! one algorithm its JWK names, swapped atomically on refetch. A `kid` is only a map key
//! (RFC 8725 §3.10); a key that cannot be parsed or is not for signatures is skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use valet_jose::{Jwk, VerifyingKey};

use crate::validator::{Error, fetch_json};

type Keys = HashMap<String, Arc<VerifyingKey>>;

pub(crate) struct KeyCache {
    http: reqwest::Client,
    jwks_uri: String,
    keys: ArcSwap<Keys>,
    /// When the JWKS was last fetched; held while fetching, so concurrent requests with
    /// the same new kid wait for one fetch instead of each starting their own.
    last_fetch: tokio::sync::Mutex<Instant>,
    cooldown: Duration,
}

#[derive(serde::Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

impl KeyCache {
    pub(crate) async fn start(
        http: reqwest::Client,
        jwks_uri: String,
        cooldown: Duration,
    ) -> Result<Self, Error> {
        let cache = Self {
            http,
            jwks_uri,
            keys: ArcSwap::from_pointee(Keys::new()),
            last_fetch: tokio::sync::Mutex::new(Instant::now()),
            cooldown,
        };
        cache
            .fetch()
            .await
            .map_err(|e| Error::Config(format!("JWKS at {}: {e}", cache.jwks_uri)))?;
        Ok(cache)
    }

    /// The key named `kid`. An unknown kid refetches the JWKS, at most once per
    /// `cooldown`; `None` if the issuer does not publish that kid.
    pub(crate) async fn get(&self, kid: &str) -> Result<Option<Arc<VerifyingKey>>, Error> {
        if let Some(k) = self.keys.load().get(kid) {
            return Ok(Some(k.clone()));
        }
        let mut last = self.last_fetch.lock().await;
        // Someone else may have fetched while this request waited.
        if let Some(k) = self.keys.load().get(kid) {
            return Ok(Some(k.clone()));
        }
        if last.elapsed() < self.cooldown {
            return Ok(None);
        }
        *last = Instant::now();
        self.fetch().await.map_err(Error::Unavailable)?;
        tracing::debug!("JWKS refetched for an unknown kid");
        Ok(self.keys.load().get(kid).cloned())
    }

    /// Whether `kid` is among the keys fetched last.
    pub(crate) fn publishes(&self, kid: &str) -> bool {
        self.keys.load().contains_key(kid)
    }

    /// The periodic refetch.
    pub(crate) async fn refresh(&self) -> Result<(), Error> {
        let mut last = self.last_fetch.lock().await;
        *last = Instant::now();
        self.fetch().await.map_err(Error::Unavailable)
    }

    async fn fetch(&self) -> Result<(), String> {
        let set: JwkSet = fetch_json(&self.http, &self.jwks_uri).await?;
        let mut keys = Keys::with_capacity(set.keys.len());
        let mut twice = Vec::new();
        for value in set.keys {
            let jwk: Jwk = match serde_json::from_value(value) {
                Ok(j) => j,
                Err(e) => {
                    tracing::debug!(error = %e, "JWK skipped: not a key this crate reads");
                    continue;
                }
            };
            if jwk.use_ != "sig" {
                continue;
            }
            match VerifyingKey::from_jwk(&jwk) {
                Ok(key) => {
                    if keys.insert(jwk.kid.clone(), Arc::new(key)).is_some() {
                        twice.push(jwk.kid);
                    }
                }
                Err(e) => tracing::debug!(kid = %jwk.kid, error = %e, "JWK skipped"),
            }
        }
        // A kid published twice is ambiguous: trust neither key.
        for kid in twice {
            tracing::warn!(kid = %kid, "the JWKS publishes a kid twice; ignoring it");
            keys.remove(&kid);
        }
        self.keys.store(Arc::new(keys));
        Ok(())
    }
}
