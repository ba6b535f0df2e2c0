//! Accepted tokens remembered by their SHA-256 for a short, bounded time, never past the
//! token's `exp`: a client reuses its token for minutes, and a hit costs a hash instead of
//! a signature check or a call to the issuer. Only accepted tokens are stored, so made-up
//! tokens cannot fill it; it holds at most `MAX_ENTRIES`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Claims;
use crate::validator::unix_now;

const MAX_ENTRIES: usize = 10_000;

struct Entry {
    claims: Claims,
    /// The key that verified it (local mode): a hit counts only while it is published.
    kid: Option<String>,
    until: Instant,
}

pub(crate) struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

pub(crate) type Hash = [u8; 32];

pub(crate) fn hash(token: &str) -> Hash {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl TokenCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The claims of an accepted token still within its bound, with the kid that
    /// verified it.
    pub(crate) fn get(&self, key: &Hash) -> Option<(Claims, Option<String>)> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let hit = entries.get(key)?;
        (hit.until > Instant::now()).then(|| (hit.claims.clone(), hit.kid.clone()))
    }

    /// Remembers an accepted token for the configured time, but not past its `exp`.
    pub(crate) fn put(&self, key: Hash, claims: &Claims, kid: Option<&str>) {
        let left = Duration::from_secs(u64::try_from(claims.exp - unix_now()).unwrap_or(0));
        let keep = self.ttl.min(left);
        if keep.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                claims: claims.clone(),
                kid: kid.map(str::to_owned),
                until: now + keep,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn claims(exp_in: i64) -> Claims {
        let now = unix_now();
        serde_json::from_value(serde_json::json!({
            "iss": "https://valet.example", "sub": "s", "aud": "https://api.example",
            "exp": now + exp_in, "iat": now, "nbf": now, "jti": "j", "client_id": "c"
        }))
        .unwrap()
    }

    #[test]
    fn remembers_within_its_bounds_only() {
        let cache = TokenCache::new(Duration::from_secs(60));
        cache.put(hash("a"), &claims(600), Some("k1"));
        let (c, kid) = cache.get(&hash("a")).unwrap();
        assert_eq!(c.sub, "s");
        assert_eq!(kid.as_deref(), Some("k1"));
        assert!(cache.get(&hash("b")).is_none());
        // Expired, or expiring now: not remembered at all.
        cache.put(hash("old"), &claims(0), None);
        cache.put(hash("older"), &claims(-5), None);
        assert!(cache.get(&hash("old")).is_none());
        assert!(cache.get(&hash("older")).is_none());
        // Never past the configured time.
        let short = TokenCache::new(Duration::from_millis(1));
        short.put(hash("a"), &claims(600), None);
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.get(&hash("a")).is_none());
        // Zero turns it off.
        let off = TokenCache::new(Duration::ZERO);
        off.put(hash("a"), &claims(600), None);
        assert!(off.get(&hash("a")).is_none());
    }

    #[test]
    fn stays_bounded() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let c = claims(600);
        for i in 0..MAX_ENTRIES + 10 {
            cache.put(hash(&i.to_string()), &c, None);
        }
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
