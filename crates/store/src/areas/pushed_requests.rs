//! Pushed authorization requests (RFC 9126): a client posts its authorization request
//! first and sends the browser with only a `request_uri`, used once. Stored by the hash of
//! the `request_uri`.

use async_trait::async_trait;

use crate::{Result, TokenHash, UnixTime};

/// An authorization request pushed by a client (RFC 9126 §2): its parameters as the
/// server validated them (JSON chosen by the server), stored by the hash of its
/// `request_uri`. `Debug` prints neither the hash nor the parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct PushedRequestRecord {
    pub hash: TokenHash,
    pub client_id: String,
    pub params: String,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for PushedRequestRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushedRequestRecord")
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait PushedRequests {
    /// Stores a pushed request; a hash already stored is `StoreError::Conflict`.
    async fn push_request(&self, record: &PushedRequestRecord) -> Result<()>;
    /// Takes the request pushed as `hash`: one atomic `DELETE … RETURNING`, so it is used
    /// once (RFC 9126 §4) — of concurrent takers exactly one gets it. An expired one
    /// (`expires_at <= now`) is not returned (and may be deleted).
    async fn take_pushed_request(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<PushedRequestRecord>>;
}
