//! Second factors (issue 16): authenticator apps (TOTP, `totp.rs`) and recovery codes,
//! for the sign-in's second step (`routes/second_factor/`) and the account page
//! (`routes/account_mfa.rs`). The rules (policy, `amr`/`acr`, the step window) are
//! `valet_protocol::mfa`'s; this module holds the keys and the checks.
//!
//! - The TOTP secret is sealed (AES-256-GCM under a key derived from the master key, the
//!   user's `sub` as associated data, so rows cannot be swapped between users) before it
//!   reaches the store.
//! - A code counts once: the step it matched is consumed by one atomic store statement
//!   (`SecondFactors::use_totp_step`, `last_step < step`), so a replay in the same step,
//!   or two racing submits of one code, pass once.
//! - Recovery codes (ten, 50 bits each) are stored as HMACs under a key of their own and
//!   spent by one atomic delete.
//! - Attempts are counted in the store before any check (`Throttle::throttle_attempt`),
//!   per account from anywhere and per address, and given back on success.
//! - No secret, code or recovery code is logged or printed by `Debug`.

pub mod totp;

use std::net::IpAddr;
use valet_protocol::mfa::{self as rules, totp_window};
use valet_store::{ThrottleDecision, ThrottleRule, TokenHash};

use crate::crypto::{Sealer, SecretHasher, b64, random_bytes};
use crate::error::ApiError;
use crate::fault::Fault;
use crate::state::AppState;
use crate::throttle::address_key;

/// Second-factor attempts per account, from anywhere, in `ACCOUNT_WINDOW`: a hard limit
/// (only someone who knew the password reaches this step).
pub const PER_ACCOUNT: u32 = 10;
const ACCOUNT_WINDOW: i64 = 300;
/// Second-factor attempts per address, over every account, a minute.
pub const PER_ADDRESS: u32 = 60;
const ADDRESS_WINDOW: i64 = 60;
/// Recovery codes a user gets at once.
pub const RECOVERY_CODES: usize = 10;

const THROTTLED: &str = "too many one-time codes tried; retry later";

/// The keys of second factors.
pub struct Mfa {
    sealer: Sealer,
    recovery: SecretHasher,
    throttle: SecretHasher,
}

impl std::fmt::Debug for Mfa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mfa([redacted])")
    }
}

/// How a second factor was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Totp,
    Recovery,
}

impl Mfa {
    pub fn new(sealer: Sealer, recovery: SecretHasher, throttle: SecretHasher) -> Self {
        Self {
            sealer,
            recovery,
            throttle,
        }
    }

    fn aad(user_id: &str) -> String {
        format!("totp|{user_id}")
    }

    /// `secret` sealed for the store, bound to `user_id`.
    pub fn seal_secret(&self, user_id: &str, secret: &[u8]) -> Result<Vec<u8>, Fault> {
        self.sealer.seal(&Self::aad(user_id), secret)
    }

    fn open_secret(&self, user_id: &str, sealed: &[u8]) -> Result<Vec<u8>, Fault> {
        self.sealer.open(&Self::aad(user_id), sealed)
    }

    pub fn recovery_hash(&self, code: &str) -> TokenHash {
        TokenHash::new(self.recovery.hash(code).0)
    }

    fn key(&self, parts: &[&str]) -> String {
        b64(&self.throttle.hash(&parts.join("\u{0}")).0)
    }
}

/// A fresh TOTP secret.
pub fn new_secret() -> Result<Vec<u8>, Fault> {
    random_bytes(totp::SECRET_BYTES)
}

/// Ten fresh recovery codes as shown (`xxxxx-xxxxx`, base32 lower case: 50 bits each) and
/// their hashes as stored.
pub fn new_recovery_codes(mfa: &Mfa) -> Result<(Vec<String>, Vec<TokenHash>), Fault> {
    let mut shown = Vec::new();
    let mut hashes = Vec::new();
    for _ in 0..RECOVERY_CODES {
        // 56 random bits, of which the first 50 are shown; stored as `recovery_input`
        // normalises what is typed (no dash, lower case).
        let text = totp::base32(&random_bytes(7)?).to_lowercase();
        hashes.push(mfa.recovery_hash(&text[..10]));
        shown.push(format!("{}-{}", &text[..5], &text[5..10]));
    }
    Ok((shown, hashes))
}

/// The first code of a secret being enrolled: the step it matched, if any (the window
/// around `now`). Nothing is stored yet, so nothing is consumed: the enrolment stores
/// the step as the last used.
pub fn first_code(secret: &[u8], typed: &str, now: i64) -> Option<i64> {
    let typed = rules::totp_input(typed)?;
    totp_window(now)
        .into_iter()
        .find(|&step| totp::matches(secret, step, &typed))
}

/// Checks `typed` (a code of the user's authenticator app, or one of their recovery
/// codes) for `user_id`, throttled first; a matching code is consumed. `Ok(None)`: wrong,
/// replayed or spent. `username` is for the audit trail.
pub async fn verify(
    state: &AppState,
    user_id: &str,
    username: &str,
    typed: &str,
    ip: IpAddr,
    now: i64,
) -> Result<Option<Proof>, ApiError> {
    let counted = count_attempt(state, user_id, username, ip, now).await?;
    let actor = format!("user:{username}");
    let proof = check(state, user_id, typed, now).await?;
    match proof {
        Some(p) => {
            state.store.throttle_refund(&counted).await?;
            if p == Proof::Recovery {
                let left = state.store.recovery_codes_left(user_id).await?;
                tracing::info!(target: "valet::audit", sub = %user_id, %ip, left, "recovery code used");
                state.audit.event(
                    now,
                    "mfa.recovery_used",
                    actor.clone(),
                    Some(ip),
                    actor,
                    serde_json::json!({ "left": left }),
                );
            }
        }
        None => {
            tracing::info!(target: "valet::audit", sub = %user_id, %ip, "second factor failed");
            state.audit.event(
                now,
                "mfa.failed",
                actor.clone(),
                Some(ip),
                actor,
                serde_json::json!({}),
            );
        }
    }
    Ok(proof)
}

/// Counts one attempt at a second factor of `user_id` from `ip` in the store, before it
/// is checked (checklist H1; ASVS 2.2.1): `PER_ACCOUNT` per account in 5 minutes and
/// `PER_ADDRESS` per address a minute, for codes and passkeys alike. `Err(Throttled)`
/// (audited) once either is spent; else the keys to give back when the attempt succeeds.
pub async fn count_attempt(
    state: &AppState,
    user_id: &str,
    username: &str,
    ip: IpAddr,
    now: i64,
) -> Result<Vec<String>, ApiError> {
    let mfa = &state.mfa;
    let rules_ = [
        ThrottleRule {
            key: mfa.key(&["mfa account", user_id]),
            window: ACCOUNT_WINDOW,
            limit: PER_ACCOUNT,
            free: u32::MAX,
            max_spacing: 0,
        },
        ThrottleRule {
            key: mfa.key(&["mfa address", &address_key(ip)]),
            window: ADDRESS_WINDOW,
            limit: PER_ADDRESS,
            free: u32::MAX,
            max_spacing: 0,
        },
    ];
    let actor = format!("user:{username}");
    if let ThrottleDecision::Refused { retry_after } =
        state.store.throttle_attempt(&rules_, now).await?
    {
        tracing::info!(target: "valet::audit", sub = %user_id, %ip, retry_after, "second factor throttled");
        state.audit.event(
            now,
            "mfa.throttled",
            actor.clone(),
            Some(ip),
            actor,
            serde_json::json!({}),
        );
        return Err(ApiError::Throttled(
            u64::try_from(retry_after).unwrap_or(1),
            THROTTLED,
        ));
    }
    Ok(rules_.into_iter().map(|r| r.key).collect())
}

/// Counts one passkey sign-in (the first factor, no username yet) from `ip` before it is
/// checked: `PER_ADDRESS` a minute, like second-factor answers. Each needs a fresh
/// ceremony, so this bounds what an address can make Valet verify and look up; the keys
/// to give back when the sign-in succeeds.
pub async fn count_passkey_sign_in(
    state: &AppState,
    ip: IpAddr,
    now: i64,
) -> Result<Vec<String>, ApiError> {
    let rule = ThrottleRule {
        key: state.mfa.key(&["passkey address", &address_key(ip)]),
        window: ADDRESS_WINDOW,
        limit: PER_ADDRESS,
        free: u32::MAX,
        max_spacing: 0,
    };
    if let ThrottleDecision::Refused { retry_after } = state
        .store
        .throttle_attempt(std::slice::from_ref(&rule), now)
        .await?
    {
        tracing::info!(target: "valet::audit", %ip, retry_after, "passkey sign-in throttled");
        state.audit.event(
            now,
            "signin.throttled",
            "anonymous".to_owned(),
            Some(ip),
            "passkey".to_owned(),
            serde_json::json!({ "method": "passkey" }),
        );
        return Err(ApiError::Throttled(
            u64::try_from(retry_after).unwrap_or(1),
            "too many passkey sign-ins tried; retry later",
        ));
    }
    Ok(vec![rule.key])
}

async fn check(
    state: &AppState,
    user_id: &str,
    typed: &str,
    now: i64,
) -> Result<Option<Proof>, ApiError> {
    if let Some(code) = rules::totp_input(typed) {
        let Some(record) = state.store.totp(user_id).await? else {
            return Ok(None);
        };
        let secret = state.mfa.open_secret(user_id, &record.sealed_secret)?;
        for step in totp_window(now) {
            if totp::matches(&secret, step, &code) {
                // The one statement that decides: a replay in the same step (or of an
                // older one) finds `last_step` already there.
                return Ok(state
                    .store
                    .use_totp_step(user_id, step)
                    .await?
                    .then_some(Proof::Totp));
            }
        }
        return Ok(None);
    }
    if let Some(code) = rules::recovery_input(typed) {
        let hash = state.mfa.recovery_hash(&code);
        return Ok(state
            .store
            .use_recovery_code(user_id, &hash)
            .await?
            .then_some(Proof::Recovery));
    }
    Ok(None)
}

/// Whether the user has a second factor (an authenticator app, or a passkey where
/// passkeys are available).
pub async fn enrolled(state: &AppState, user_id: &str) -> Result<bool, ApiError> {
    if state.store.totp(user_id).await?.is_some() {
        return Ok(true);
    }
    Ok(state.passkeys.available() && !state.store.passkeys_of_user(user_id).await?.is_empty())
}
