//! Second factors (issue 16): a user's authenticator app (TOTP, RFC 6238), its secret
//! sealed by the server under the master key (the store never sees it in the clear), the
//! last time step a code of it was accepted; and the user's recovery codes, as keyed
//! hashes; and the user's passkeys (WebAuthn public key credentials). Keyed by the user's
//! `sub`, so directory users have them too.

use async_trait::async_trait;

use std::fmt;

use crate::{Result, TokenHash, UnixTime};

#[async_trait]
pub trait SecondFactors {
    /// The user's authenticator app, if one is enrolled.
    async fn totp(&self, user_id: &str) -> Result<Option<TotpRecord>>;
    /// Enrols `record` (confirmed by a code of step `record.last_step`) and replaces the
    /// user's recovery codes by `recovery` (when given), in one transaction. `false`, and
    /// nothing changes, if the user already has an authenticator app: one is removed
    /// before another is enrolled.
    async fn enrol_totp(&self, record: &TotpRecord, recovery: Option<&[TokenHash]>)
    -> Result<bool>;
    /// Accepts a code of time step `step` for the user: one atomic statement that raises
    /// the last used step to `step` only if it is below it. Of any number of concurrent
    /// callers with the same step on any number of nodes exactly one gets `true`; a step
    /// at or below one already used is `false` (a replayed code, or an older one).
    async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool>;
    /// Removes the user's authenticator app, recovery codes and passkeys, in one
    /// transaction (the help desk's reset). `false` if there was none of them.
    async fn remove_second_factors(&self, user_id: &str) -> Result<bool>;
    /// Replaces every recovery code of the user by `hashes`, in one transaction.
    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[TokenHash],
        now: UnixTime,
    ) -> Result<()>;
    /// Spends the user's recovery code of hash `hash`: one atomic delete, so of any number
    /// of concurrent callers exactly one gets `true`, and every later call `false`.
    async fn use_recovery_code(&self, user_id: &str, hash: &TokenHash) -> Result<bool>;
    /// How many unspent recovery codes the user has.
    async fn recovery_codes_left(&self, user_id: &str) -> Result<u64>;

    /// Registers a passkey, and gives the user recovery codes `recovery` (when given) if
    /// they have none, in one transaction. `false`, and nothing changes, if a passkey of
    /// that credential id exists already, for this user or any other (WebAuthn §7.1 step
    /// 22), or the user has `limit` passkeys already.
    async fn add_passkey(
        &self,
        record: &PasskeyRecord,
        recovery: Option<&[TokenHash]>,
        limit: u32,
    ) -> Result<bool>;
    /// The user's passkeys, oldest first.
    async fn passkeys_of_user(&self, user_id: &str) -> Result<Vec<PasskeyRecord>>;
    /// The passkey of `credential_id`, whoever's it is.
    async fn passkey(&self, credential_id: &str) -> Result<Option<PasskeyRecord>>;
    /// Records a sign-in with the passkey: its credential as updated by the check (the
    /// signature counter, the backup state) and when. `false` if it is gone.
    async fn passkey_used(
        &self,
        credential_id: &str,
        credential: &str,
        now: UnixTime,
    ) -> Result<bool>;
    /// Renames the user's passkey; `false` if the user has no such passkey.
    async fn rename_passkey(&self, user_id: &str, credential_id: &str, name: &str) -> Result<bool>;
    /// Removes the user's passkey; `false` if the user has no such passkey.
    async fn remove_passkey(&self, user_id: &str, credential_id: &str) -> Result<bool>;
}

/// A passkey (a WebAuthn public key credential) of a user. Nothing in it is secret: the
/// private key never leaves the person's authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// The credential id, base64url without padding.
    pub credential_id: String,
    pub user_id: String,
    /// The person's name for it ("Work laptop").
    pub name: String,
    /// The verified credential (public key, algorithm, counter, flags) as the server's
    /// WebAuthn library serializes it; the store does not read it.
    pub credential: String,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// A user's authenticator app (TOTP): its secret sealed by the server (the store never
/// sees it in the clear) and the last time step a code of it was accepted.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub user_id: String,
    /// The secret, sealed under a key derived from the master key.
    pub sealed_secret: Vec<u8>,
    /// The last time step (RFC 6238 `T`) a code was accepted for; codes of it and of
    /// earlier steps no longer pass.
    pub last_step: i64,
    pub created_at: UnixTime,
}

impl fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpRecord")
            .field("user_id", &self.user_id)
            .field("sealed_secret", &"[redacted]")
            .field("last_step", &self.last_step)
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_never_prints_the_sealed_secret() {
        let r = super::TotpRecord {
            user_id: "u1".into(),
            sealed_secret: vec![0xab; 32],
            last_step: 1,
            created_at: 1,
        };
        let printed = format!("{r:?}");
        assert!(
            printed.contains("[redacted]") && !printed.contains("171"),
            "{printed}"
        );
    }
}
