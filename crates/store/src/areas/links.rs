//! One-time links sent by email (issue 16): a password reset, an address verification.
//! Stored as the SHA-256 of the link's secret; used once.

use async_trait::async_trait;

use crate::{Result, TokenHash, UnixTime};

#[derive(Clone, PartialEq, Eq)]
pub struct LinkRecord {
    pub hash: TokenHash,
    /// `reset_password` or `verify_email`: a link opens only what it was made for.
    pub purpose: String,
    pub user_id: String,
    /// What the link was made about (the address a verification link confirms).
    pub data: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for LinkRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkRecord")
            .field("hash", &self.hash)
            .field("purpose", &self.purpose)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[async_trait]
pub trait Links {
    /// Stores a link, and forgets every earlier link of the same user and purpose (only
    /// the newest link of each kind works), in one transaction.
    async fn create_link(&self, link: &LinkRecord) -> Result<()>;
    /// Uses the link: one atomic statement, so of two racing uses exactly one gets it;
    /// `None` if unknown, used, expired at `now`, or made for another purpose.
    async fn consume_link(
        &self,
        hash: &TokenHash,
        purpose: &str,
        now: UnixTime,
    ) -> Result<Option<LinkRecord>>;
    /// The link, unless unknown, expired or of another purpose (to show its page before
    /// it is used).
    async fn link(
        &self,
        hash: &TokenHash,
        purpose: &str,
        now: UnixTime,
    ) -> Result<Option<LinkRecord>>;
}
