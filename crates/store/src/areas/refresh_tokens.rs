//! Refresh tokens and their rotation.

use async_trait::async_trait;

use crate::{GrantScope, RefreshTokenRecord, Result, Rotation, TokenHash, UnixTime};

#[async_trait]
pub trait RefreshTokens {
    /// Inserts a refresh token and raises its grant's `expires_at` to at least
    /// `grant_until`, in one transaction. If the grant is already revoked, the revocation
    /// record is kept at least as long (so a token issued while its grant was being revoked
    /// can never outlive the record that kills it); `rotate_refresh_token` does the same.
    async fn insert_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        grant_until: UnixTime,
    ) -> Result<()>;
    /// The token by hash, rotated or not; `None` if unknown or expired at `now`.
    async fn refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<RefreshTokenRecord>>;
    /// As `refresh_token`, with its grant's standing (`Grants::grant_scope`): what a
    /// refresh decides on, in one read (one round trip on PostgreSQL).
    async fn refresh_token_standing(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<(RefreshTokenRecord, GrantScope)>>;
    /// The newest unexpired token of `chain` (the highest generation), rotated or not:
    /// what a token of an older generation, no longer stored, is judged against.
    async fn refresh_chain_head(
        &self,
        chain: &str,
        now: UnixTime,
    ) -> Result<Option<RefreshTokenRecord>>;
    /// Rotates `old_hash` at `now`: one atomic statement marks it rotated (only if it was
    /// not) and stores `successor` (the sealed response, for the retry window); in the same
    /// transaction `new` is inserted and the grant's `expires_at` raised to `grant_until`.
    /// Of any number of concurrent callers on any number of nodes, exactly one ever gets
    /// `Rotated`; the others get `AlreadyRotated` with the winner's successor. A winner
    /// whose `new` names a chain also deletes that chain's tokens older than `old_hash`'s
    /// generation, in the same transaction: a chain keeps two rows however often it
    /// rotates (the current token and the one it replaced, for the retry window).
    async fn rotate_refresh_token(
        &self,
        old_hash: &TokenHash,
        new: &RefreshTokenRecord,
        successor: &[u8],
        grant_until: UnixTime,
        now: UnixTime,
    ) -> Result<Rotation>;
}
