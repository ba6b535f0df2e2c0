//! Access tokens: the revocation list of JWT access tokens, and opaque access tokens
//! (stored by hash, looked up at every check).

use async_trait::async_trait;

use crate::{GrantScope, OpaqueAccessTokenRecord, Result, TokenHash, UnixTime};

#[async_trait]
pub trait AccessTokens {
    // ---- revocation of JWT access tokens ----

    /// Records that the access token `jti` is revoked until `expires_at`. Idempotent.
    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> Result<()>;
    async fn is_access_token_revoked(&self, jti: &str) -> Result<bool>;
    /// Whether the JWT access token `jti` is revoked and, for a user's token, its grant's
    /// standing (`Grants::grant_scope`): what checking a token needs, in one read (one
    /// round trip on PostgreSQL). `None` asks nothing of that part (`false`, the default).
    async fn access_token_standing(
        &self,
        jti: Option<&str>,
        grant_id: Option<&str>,
    ) -> Result<(bool, GrantScope)>;

    // ---- opaque access tokens ----

    /// Inserts an opaque access token (stored by its SHA-256; `Conflict` if the hash
    /// exists) and, for a user's token, raises its grant's `expires_at`, and that of the
    /// grant's revocation record if there is one, to at least the token's `expires_at`, in
    /// one transaction: a grant must outlive its tokens for revoking it to reach them.
    async fn insert_opaque_access_token(&self, token: &OpaqueAccessTokenRecord) -> Result<()>;
    /// The token by hash; `None` if unknown, revoked, or expired at `now` (`expires_at <=
    /// now`). Whether its grant is revoked is the caller's to ask (`is_grant_revoked`).
    async fn opaque_access_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<OpaqueAccessTokenRecord>>;
    /// Revokes the token for every node at once (the row is deleted). `false` if there was
    /// no such token.
    async fn revoke_opaque_access_token(&self, hash: &TokenHash) -> Result<bool>;
}
