//! Backoff for failed client authentication (RFC 6819 §4.4.1.3, RFC 6749 §10.10;
//! checklist H4). Failures are counted per (client_id, address) and per address in a fixed
//! window; past the limit, the caller gets 429 with `Retry-After` until the window ends.
//! Keys include the address, so an attacker elsewhere cannot lock the real client out, and
//! a lockout always ends by itself. Counts are per node and kept in memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per (client_id, address) in one window.
const PER_CLIENT: u32 = 20;
/// Failures allowed per address, across client ids, in one window.
const PER_ADDRESS: u32 = 100;
const WINDOW: Duration = Duration::from_secs(60);
/// Beyond this many tracked keys, expired ones are dropped (and if none are, all are).
const MAX_KEYS: usize = 100_000;

/// Failed sign-ins allowed per account (from any address) in one window: the login page
/// and the password grant (checklist H1). Low enough to stop guessing, and a lockout ends
/// with the window.
pub const PER_ACCOUNT: u32 = 10;

pub struct Throttle {
    counts: Mutex<HashMap<String, (Instant, u32)>>,
    /// Failures allowed per key (and whether the key is paired with the address).
    per_key: u32,
    key_with_address: bool,
}

impl Default for Throttle {
    /// Client authentication: per (client_id, address) and per address.
    fn default() -> Self {
        Self {
            counts: Mutex::default(),
            per_key: PER_CLIENT,
            key_with_address: true,
        }
    }
}

impl Throttle {
    /// Sign-in: per account, whatever the address, and per address.
    pub fn for_accounts() -> Self {
        Self {
            counts: Mutex::default(),
            per_key: PER_ACCOUNT,
            key_with_address: false,
        }
    }

    fn keys(&self, key: &str, ip: IpAddr) -> [(String, u32); 2] {
        let first = if self.key_with_address {
            format!("{ip} {key}")
        } else {
            format!("account {key}")
        };
        [(first, self.per_key), (ip.to_string(), PER_ADDRESS)]
    }

    /// `Err(seconds)` when this caller must wait before trying again.
    pub fn check(&self, client_id: &str, ip: IpAddr) -> Result<(), u64> {
        let Ok(counts) = self.counts.lock() else {
            return Ok(());
        };
        for (key, limit) in self.keys(client_id, ip) {
            if let Some((start, n)) = counts.get(&key) {
                let age = start.elapsed();
                if age < WINDOW && *n >= limit {
                    return Err((WINDOW - age).as_secs().max(1));
                }
            }
        }
        Ok(())
    }

    pub fn failed(&self, client_id: &str, ip: IpAddr) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        if counts.len() >= MAX_KEYS {
            counts.retain(|_, (start, _)| start.elapsed() < WINDOW);
            if counts.len() >= MAX_KEYS {
                counts.clear();
            }
        }
        let now = Instant::now();
        for (key, _) in self.keys(client_id, ip) {
            let entry = counts.entry(key).or_insert((now, 0));
            if entry.0.elapsed() >= WINDOW {
                *entry = (now, 0);
            }
            entry.1 += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_only_for_that_caller() {
        let t = Throttle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..PER_CLIENT {
            assert!(t.check("c1", a).is_ok());
            t.failed("c1", a);
        }
        let wait = t.check("c1", a).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(t.check("c1", b).is_ok(), "another address is unaffected");
        assert!(
            t.check("c2", a).is_ok(),
            "another client from the address is unaffected"
        );
    }

    #[test]
    fn accounts_are_throttled_from_every_address() {
        let t = Throttle::for_accounts();
        for i in 0..PER_ACCOUNT {
            t.failed("alice", IpAddr::from([10, 0, 0, i as u8]));
        }
        assert!(t.check("alice", "10.9.9.9".parse().unwrap()).is_err());
        assert!(t.check("bob", "10.9.9.9".parse().unwrap()).is_ok());
    }

    #[test]
    fn an_address_spraying_client_ids_is_blocked() {
        let t = Throttle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..PER_ADDRESS {
            t.failed(&format!("c{i}"), a);
        }
        assert!(t.check("fresh", a).is_err());
    }
}
