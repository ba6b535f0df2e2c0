//! The issuer's published keys as this API holds them: parsed once (`valet_jose::KeySet`),
//! each pinned to the one algorithm its JWK names, swapped atomically on refetch. A `kid`
//! is only a map key (RFC 8725 §3.10); a key that cannot be parsed or is not for
//! signatures is skipped, and a kid published twice names no key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use valet_jose::{KeySet, VerifyingKey};

use crate::validator::{Error, fetch_json};

pub(crate) struct KeyCache {
    http: reqwest::Client,
    jwks_uri: String,
    keys: ArcSwap<KeySet>,
    /// When the JWKS was last fetched; held while fetching, so concurrent requests with
    /// the same new kid wait for one fetch instead of each starting their own.
    last_fetch: tokio::sync::Mutex<Instant>,
    cooldown: Duration,
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
            keys: ArcSwap::from_pointee(KeySet::default()),
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
            return Ok(Some(k));
        }
        let mut last = self.last_fetch.lock().await;
        // Someone else may have fetched while this request waited.
        if let Some(k) = self.keys.load().get(kid) {
            return Ok(Some(k));
        }
        if last.elapsed() < self.cooldown {
            return Ok(None);
        }
        *last = Instant::now();
        self.fetch().await.map_err(Error::Unavailable)?;
        tracing::debug!("JWKS refetched for an unknown kid");
        Ok(self.keys.load().get(kid))
    }

    /// Whether `kid` is among the keys fetched last.
    pub(crate) fn publishes(&self, kid: &str) -> bool {
        self.keys.load().contains(kid)
    }

    /// The periodic refetch.
    pub(crate) async fn refresh(&self) -> Result<(), Error> {
        let mut last = self.last_fetch.lock().await;
        *last = Instant::now();
        self.fetch().await.map_err(Error::Unavailable)
    }

    async fn fetch(&self) -> Result<(), String> {
        let set: serde_json::Value = fetch_json(&self.http, &self.jwks_uri).await?;
        let keys = KeySet::parse(set.to_string().as_bytes()).map_err(|e| e.to_string())?;
        self.keys.store(Arc::new(keys));
        Ok(())
    }
}
