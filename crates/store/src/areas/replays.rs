//! One-time values already seen, of any family: the `jti` of a client assertion (RFC 7523
//! §3, item 7) or of a DPoP proof (RFC 9449 §11.1). Each counts once, on every node, until
//! it could no longer be accepted anyway.

use async_trait::async_trait;

use crate::{Result, UnixTime};

#[async_trait]
pub trait Replays {
    /// Records the first use of the one-time value `id` of family `kind` (e.g.
    /// `client_assertion` for an RFC 7523 assertion's `jti`, `dpop` for an RFC 9449 proof's
    /// `jti`), kept until `expires_at`. One atomic insert-if-absent: of any number of
    /// concurrent callers on any number of nodes exactly one gets `true`; every later call
    /// with the same (`kind`, `id`) gets `false` until the record is purged after
    /// `expires_at`. The caller bounds and hashes `id`.
    async fn first_use(&self, kind: &str, id: &str, expires_at: UnixTime) -> Result<bool>;
}
