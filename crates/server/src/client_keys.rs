//! The public keys of applications that authenticate with `private_key_jwt` (RFC 7523)
//! or sign request objects (RFC 9101): registered by value (`jwks`, parsed when used) or
//! by reference (`jwks_uri`, fetched with the metadata fetcher's rules — https only,
//! public addresses only, no redirects, bounded in size and time — and kept by the node's
//! clock for `TTL`, refetched once per `COOLDOWN` when a JWT names a `kid` the kept set
//! does not have, so a client that rotates its keys is heard within seconds).
//! Concurrent lookups of one URL share one fetch. Each key verifies one algorithm family
//! only (`valet_jose::KeySet`): never `none`, never an HMAC keyed with a public key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use valet_jose::{Header, KeySet, VerifyingKey};
use valet_protocol::UnixTime;
use valet_protocol::application::Application;

use crate::cimd::cache::{Cache, Flights};
use crate::cimd::fetch::{Fetcher, Target, Wanted};

/// How long a fetched JWK Set is kept.
pub const TTL: i64 = 300;
/// At most one refetch per URL this often, however many unknown `kid`s arrive.
pub const COOLDOWN: i64 = 30;
/// Largest JWK Set fetched.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// JWK Sets kept at once.
const MAX_SETS: usize = 1000;

const JWKS: Wanted = Wanted {
    what: "the application's JWK Set",
    accept: "application/jwk-set+json, application/json",
    media: |m| m == "application/json" || m == "application/jwk-set+json" || m.ends_with("+json"),
    max_bytes: MAX_JWKS_BYTES,
};

pub struct ClientKeys {
    fetcher: Fetcher,
    sets: Cache<Arc<KeySet>>,
    flights: Flights<Arc<KeySet>>,
    /// When each URL was last fetched again for an unknown `kid` (the cooldown's clock),
    /// bounded like the cache.
    refetched: Mutex<HashMap<String, UnixTime>>,
}

impl ClientKeys {
    pub fn new(fetcher: Fetcher) -> Self {
        Self {
            fetcher,
            sets: Cache::with_capacity(MAX_SETS),
            flights: Flights::default(),
            refetched: Mutex::default(),
        }
    }

    /// The key of `app` that a JWT with `header` names, or why there is none (for the log).
    pub async fn key_for(
        &self,
        app: &Application,
        header: &Header,
        now: UnixTime,
    ) -> Result<Arc<VerifyingKey>, String> {
        if let Some(jwks) = &app.assurance.jwks {
            let set = KeySet::parse(jwks.to_string().as_bytes())
                .map_err(|_| "the registered jwks is not a JWK Set".to_owned())?;
            return set
                .find(header)
                .ok_or_else(|| no_key(header, "registered keys"));
        }
        let Some(uri) = &app.assurance.jwks_uri else {
            return Err("the application registered no keys (jwks or jwks_uri)".into());
        };
        self.key_at(uri, header, now).await
    }

    /// The key a JWT with `header` names in the JWK Set at `uri` (an application's
    /// `jwks_uri`, or a trusted issuer's).
    pub async fn key_at(
        &self,
        uri: &str,
        header: &Header,
        now: UnixTime,
    ) -> Result<Arc<VerifyingKey>, String> {
        let set = match self.sets.get(uri, now) {
            Some(set) => set,
            None => self.fetch(uri, now).await?,
        };
        if let Some(key) = set.find(header) {
            return Ok(key);
        }
        // An unknown kid: perhaps the application rotated; look again, within limits.
        if self.may_refetch(uri, now) {
            // Noted first: a failing server is not asked again within the cooldown.
            self.note_refetch(uri, now);
            let set = self.fetch(uri, now).await?;
            if let Some(key) = set.find(header) {
                return Ok(key);
            }
        }
        Err(no_key(header, uri))
    }

    fn may_refetch(&self, uri: &str, now: UnixTime) -> bool {
        self.refetched
            .lock()
            .map(|m| m.get(uri).is_none_or(|t| now >= t + COOLDOWN))
            .unwrap_or(false)
    }

    fn note_refetch(&self, uri: &str, now: UnixTime) {
        if let Ok(mut m) = self.refetched.lock() {
            if m.len() >= MAX_SETS {
                m.retain(|_, t| now < *t + COOLDOWN);
            }
            if m.len() < MAX_SETS {
                m.insert(uri.to_owned(), now);
            }
        }
    }

    async fn fetch(&self, uri: &str, now: UnixTime) -> Result<Arc<KeySet>, String> {
        let target = Target::https(uri).ok_or_else(|| format!("jwks_uri {uri} is not https"))?;
        let set = self
            .flights
            .run(uri, || async {
                let fetched = self.fetcher.fetch(&target, &JWKS).await?;
                KeySet::parse(&fetched.body)
                    .map(Arc::new)
                    .map_err(|_| format!("{uri} did not answer a JWK Set"))
            })
            .await?;
        self.sets.insert(uri, set.clone(), 1, now + TTL, now);
        Ok(set)
    }
}

fn no_key(header: &Header, whose: &str) -> String {
    match &header.kid {
        Some(kid) => format!(
            "no key with kid {kid:?} for alg {:?} among the {whose}",
            header.alg
        ),
        None => format!(
            "the JWT names no kid and the {whose} do not hold exactly one {:?} key",
            header.alg
        ),
    }
}
