//! Backoff for failed client authentication (RFC 6819 §4.4.1.3, RFC 6749 §10.10;
//! checklist H4). Failures are counted per (client_id, address) and per address in a fixed
//! window; past the limit, the caller gets 429 with `Retry-After` until the window ends.
//! Keys include the address, so an attacker elsewhere cannot lock the real client out, and
//! a lockout always ends by itself. Counts are per node and kept in memory (a client's
//! secret carries 256 bits: this slows down noise, it is not what stops guessing). Sign-in
//! attempts, where guessing is real, are counted in the store across nodes
//! (`users/signin.rs`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per (client_id, address) in one window.
const PER_CLIENT: u32 = 20;
/// Failures allowed per address, across client ids, in one window.
const PER_ADDRESS: u32 = 100;
const WINDOW: Duration = Duration::from_secs(60);
/// Keys tracked at most. When full, expired keys go first, then keys still under their
/// limit; keys that are blocking a caller are never dropped to make room (issue 12.4: a
/// flood of new keys must not lift the blocks already in place).
const MAX_KEYS: usize = 100_000;

/// The address a limit is counted against: an IPv4 address, or the /64 of an IPv6 one
/// (a subscriber usually holds a whole /64, so counting single IPv6 addresses would let
/// one client rotate through 2^64 of them). IPv4-mapped IPv6 counts as the IPv4 address.
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

pub struct Throttle {
    counts: Mutex<HashMap<String, (Instant, u32)>>,
    max_keys: usize,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::with_capacity(MAX_KEYS)
    }
}

impl Throttle {
    fn with_capacity(max_keys: usize) -> Self {
        Self {
            counts: Mutex::default(),
            max_keys,
        }
    }

    fn keys(client_id: &str, ip: IpAddr) -> [(String, u32); 2] {
        let address = address_key(ip);
        let id: String = client_id.chars().take(256).collect();
        [
            (format!("{address} {id}"), PER_CLIENT),
            (address, PER_ADDRESS),
        ]
    }

    fn limit_of(key: &str) -> u32 {
        if key.contains(' ') {
            PER_CLIENT
        } else {
            PER_ADDRESS
        }
    }

    /// `Err(seconds)` when this caller must wait before trying again.
    pub fn check(&self, client_id: &str, ip: IpAddr) -> Result<(), u64> {
        let Ok(counts) = self.counts.lock() else {
            return Ok(());
        };
        for (key, limit) in Self::keys(client_id, ip) {
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
        let now = Instant::now();
        for (key, _) in Self::keys(client_id, ip) {
            if !counts.contains_key(&key) && counts.len() >= self.max_keys {
                counts.retain(|_, (start, _)| start.elapsed() < WINDOW);
            }
            if !counts.contains_key(&key) && counts.len() >= self.max_keys {
                counts.retain(|k, (_, n)| *n >= Self::limit_of(k));
            }
            if !counts.contains_key(&key) && counts.len() >= self.max_keys {
                // Every tracked key is blocking someone: keep them all, track this one
                // no further (its address key, counted first, is usually tracked).
                continue;
            }
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
    fn an_address_spraying_client_ids_is_blocked() {
        let t = Throttle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..PER_ADDRESS {
            t.failed(&format!("c{i}"), a);
        }
        assert!(t.check("fresh", a).is_err());
    }

    #[test]
    fn ipv6_counts_by_its_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:0:0:9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        assert_eq!(
            address_key("::ffff:10.1.2.3".parse().unwrap()),
            address_key("10.1.2.3".parse().unwrap())
        );
        let t = Throttle::default();
        for i in 0..PER_CLIENT {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001, 0xdb8, 1, 2, 0, 0, 0, i as u16,
            ));
            t.failed("c1", ip);
        }
        assert!(
            t.check("c1", b).is_err(),
            "rotating within the /64 does not help"
        );
        assert!(t.check("c1", c).is_ok());
    }

    #[test]
    fn a_full_table_keeps_its_blocks() {
        // Issue 12.4: filling the table with fresh keys must not wipe the blocks in it.
        let t = Throttle::with_capacity(50);
        let blocked: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..PER_CLIENT {
            t.failed("victim", blocked);
        }
        assert!(t.check("victim", blocked).is_err());
        for i in 0..500u32 {
            let ip = IpAddr::from((0x0b00_0000 + i).to_be_bytes());
            t.failed(&format!("noise{i}"), ip);
        }
        assert!(
            t.check("victim", blocked).is_err(),
            "the block survived the flood"
        );
        assert!(t.counts.lock().unwrap().len() <= 50);
    }
}
