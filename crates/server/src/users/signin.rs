//! Checking a password the way an attacker cannot exploit (issue 12.1, 12.4; checklist C10,
//! H1; RFC 6819 §4.4.3.6, §5.1.4.2.3). The login page and the password grant both come
//! here (`check_password`); the stores behind `Users` only answer "right or wrong".
//!
//! In order, before any hashing:
//! 1. At most `IN_FLIGHT_PER_ACCOUNT` checks of one account run at once on this node;
//!    more get 429 at once, without touching the store.
//! 2. One atomic attempt (`Throttle::throttle_attempt`, shared by every node) against three
//!    counters: the account from this address (10 a minute, a hard limit), the address
//!    (100 a minute over every account), and the account from anywhere, which never locks
//!    but spaces attempts out progressively once it has seen 20 in 15 minutes (a second
//!    apart, a second more for every 20 further attempts, up to 30). An address the account signed in from in the last 30
//!    days skips the account-wide counter: a stranger guessing from elsewhere cannot slow
//!    the owner down at home, and cannot lock them out from anywhere.
//! 3. The hashing gate (`passwords.rs`).
//!
//! Attempts are counted before the check and given back after a success, or when the
//! check could not be made (a directory down, the gate full). IPv6 addresses count by
//! their /64, which one subscriber usually holds whole. Counter keys are HMACs of the
//! account and address under a key derived from the master key: no login name or address
//! is stored in the clear.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use valet_store::{Store, ThrottleDecision, ThrottleRule};

use super::{User, Users};
use crate::crypto::{SecretHasher, b64};
use crate::error::ApiError;
use crate::state::AppState;
use crate::throttle::address_key;

/// Hard limit per (account, address) and window (checklist H1).
pub const PER_ACCOUNT_AND_ADDRESS: u32 = 10;
/// Hard limit per address, over every account.
pub const PER_ADDRESS: u32 = 100;
const WINDOW: i64 = 60;
/// The account-wide counter: attempts before spacing starts, its window, the largest gap.
pub const ACCOUNT_FREE: u32 = 20;
const ACCOUNT_WINDOW: i64 = 900;
const ACCOUNT_MAX_SPACING: i64 = 30;
/// How long an address the account signed in from stays known.
const KNOWN_FOR: i64 = 30 * 86_400;
/// Concurrent checks of one account on one node.
pub const IN_FLIGHT_PER_ACCOUNT: u32 = 2;

const THROTTLED: &str = "too many sign-in attempts; retry later";

/// Checks a password against the user stores (`users/`: the database and directories,
/// in their configured order), throttled before any hashing (`SignIns::check`), the same
/// for every store: the login page and the password grant both call this. `Ok(None)` for
/// a wrong password, an unknown or disabled user; a directory that does not answer is
/// `ApiError::Unavailable`, not a failed attempt.
pub async fn check_password(
    state: &AppState,
    username: &str,
    password: &str,
    ip: IpAddr,
    now: i64,
) -> Result<Option<User>, ApiError> {
    let r = state
        .sign_ins
        .check(&state.users, username, password, ip, now)
        .await;
    // Into the audit trail too (the log lines are written where each is decided).
    let shown: String = username.chars().take(64).collect();
    let result = match &r {
        Ok(Some(_)) => Some("success"),
        Ok(None) => Some("failure"),
        Err(ApiError::Throttled(..)) => Some("throttled"),
        _ => None,
    };
    if let Some(result) = result {
        state.metrics.sign_in("password", result);
    }
    let action = match &r {
        Ok(Some(_)) => None,
        Ok(None) => Some("signin.failed"),
        Err(ApiError::Throttled(..)) => Some("signin.throttled"),
        Err(ApiError::PendingVerification) => Some("signin.pending"),
        Err(_) => None,
    };
    if let Some(action) = action {
        state.audit.event(
            now,
            action,
            "anonymous".into(),
            Some(ip),
            format!("user:{shown}"),
            serde_json::json!({}),
        );
    }
    r
}

pub struct SignIns {
    store: Arc<dyn Store>,
    keys: SecretHasher,
    in_flight: Mutex<HashMap<String, u32>>,
}

/// A slot among an account's concurrent checks; freed on drop.
struct Slot<'a> {
    owner: &'a SignIns,
    account: String,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut map = self
            .owner
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.account);
            }
        }
    }
}

impl SignIns {
    pub fn new(store: Arc<dyn Store>, keys: SecretHasher) -> Self {
        Self {
            store,
            keys,
            in_flight: Mutex::default(),
        }
    }

    fn enter(&self, account: &str) -> Option<Slot<'_>> {
        let mut map = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(account.to_owned()).or_insert(0);
        if *n >= IN_FLIGHT_PER_ACCOUNT {
            return None;
        }
        *n += 1;
        Some(Slot {
            owner: self,
            account: account.to_owned(),
        })
    }

    fn key(&self, parts: &[&str]) -> String {
        b64(&self.keys.hash(&parts.join("\u{0}")).0)
    }

    /// The user `username` and `password` name, or `Ok(None)` for a wrong password, an
    /// unknown or a disabled user alike; `Throttled` before any hashing when a limit is
    /// reached; `Unavailable` / `Busy` when the check could not be made.
    pub async fn check(
        &self,
        users: &Users,
        username: &str,
        password: &str,
        ip: IpAddr,
        now: i64,
    ) -> Result<Option<User>, ApiError> {
        // Bounded: a megabyte of username costs no more than 256 characters of one.
        let account: String = username.to_lowercase().chars().take(256).collect();
        let _slot = self
            .enter(&account)
            .ok_or(ApiError::Throttled(1, THROTTLED))?;
        let address = address_key(ip);
        let known = self.key(&["known", &account, &address]);
        let mut rules = vec![
            ThrottleRule {
                key: self.key(&["account+address", &account, &address]),
                window: WINDOW,
                limit: PER_ACCOUNT_AND_ADDRESS,
                free: u32::MAX,
                max_spacing: 0,
            },
            ThrottleRule {
                key: self.key(&["address", &address]),
                window: WINDOW,
                limit: PER_ADDRESS,
                free: u32::MAX,
                max_spacing: 0,
            },
        ];
        if !self.store.throttle_marked(&known, now).await? {
            rules.push(ThrottleRule {
                key: self.key(&["account", &account]),
                window: ACCOUNT_WINDOW,
                limit: u32::MAX,
                free: ACCOUNT_FREE,
                max_spacing: ACCOUNT_MAX_SPACING,
            });
        }
        if let ThrottleDecision::Refused { retry_after } =
            self.store.throttle_attempt(&rules, now).await?
        {
            let shown: String = username.chars().take(64).collect();
            tracing::info!(target: "valet::audit", username = ?shown, %ip, retry_after, "sign-in throttled");
            return Err(ApiError::Throttled(
                u64::try_from(retry_after).unwrap_or(1),
                THROTTLED,
            ));
        }
        let counted: Vec<String> = rules.into_iter().map(|r| r.key).collect();
        match users.authenticate(username, password).await {
            Ok(Some(user)) => {
                // A success is no attempt against anyone, and makes this address known.
                self.store.throttle_refund(&counted).await?;
                self.store
                    .throttle_mark(&known, now, now + KNOWN_FOR)
                    .await?;
                Ok(Some(user))
            }
            Ok(None) => {
                let shown: String = username.chars().take(64).collect();
                tracing::info!(target: "valet::audit", username = ?shown, %ip, "sign-in failed");
                Ok(None)
            }
            Err(super::UsersError::Pending) => {
                // A right password, of an account not confirmed yet: no attempt against
                // anyone, and no address made known (nobody signed in).
                self.store.throttle_refund(&counted).await?;
                Err(ApiError::PendingVerification)
            }
            Err(e) => {
                // The password was not checked: the attempt does not count.
                if let Err(r) = self.store.throttle_refund(&counted).await {
                    tracing::warn!(error = %r, "could not give back a sign-in attempt");
                }
                Err(e.into())
            }
        }
    }
}
