//! The signing keys of tokens (private parts sealed with the master key).

use async_trait::async_trait;

use crate::{Result, SigningKeyRecord, UnixTime};

#[async_trait]
pub trait SigningKeys {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>>;
    /// Inserts `key` only if no key of its `alg` exists, atomically: of several nodes
    /// starting at once, exactly one inserts. Returns whether this call inserted.
    async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> Result<bool>;
    /// Inserts `key` and sets `publish_until` on each retired kid, in one transaction.
    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire: &[(String, UnixTime)],
    ) -> Result<()>;
    /// Emergency revocation: the key leaves the JWKS at `now` (and so stops signing), even
    /// if it was retiring later. `false` if there is no such kid or it already left.
    async fn revoke_signing_key(&self, kid: &str, now: UnixTime) -> Result<bool>;
}
