//! Accounts at upstream identity providers (issue 18): which user of Valet an upstream
//! subject signs in as. A provider's subject is linked to at most one user (the primary
//! key); a user may link several. Just-in-time creation writes the user and the link in
//! one transaction, so of two first sign-ins racing for one subject one creates the user
//! and the other finds the link. Gone with the user.

use async_trait::async_trait;

use crate::{Result, UnixTime, UserRecord};

#[derive(Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    /// The `[[upstreams]]` id.
    pub upstream: String,
    /// The provider's `sub` (or the claim mapped to it).
    pub subject: String,
    /// Valet's `sub` of the user it signs in as.
    pub user_id: String,
    /// The address the provider last asserted, shown on the account page.
    pub email: Option<String>,
    /// The provider's refresh token, sealed by the server, when the provider is set to
    /// keep it.
    pub refresh_token: Option<Vec<u8>>,
    pub created_at: UnixTime,
    pub last_used_at: UnixTime,
}

impl std::fmt::Debug for IdentityRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityRecord")
            .field("upstream", &self.upstream)
            .field("subject", &self.subject)
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("last_used_at", &self.last_used_at)
            .finish()
    }
}

#[async_trait]
pub trait Identities {
    /// The link of `subject` at `upstream`, if any.
    async fn identity(&self, upstream: &str, subject: &str) -> Result<Option<IdentityRecord>>;
    /// Every link of a user, by upstream then subject.
    async fn identities_of_user(&self, user_id: &str) -> Result<Vec<IdentityRecord>>;
    /// Links an upstream subject to an existing user: one insert-if-absent, `false` (and
    /// nothing written) when the subject is already linked, to anyone.
    async fn link_identity(&self, identity: &IdentityRecord) -> Result<bool>;
    /// Creates `user` and links `identity` to it, in one transaction: `false` (and
    /// nothing written) when the subject is already linked; a taken username is
    /// `StoreError::Conflict`, as for `create_user`.
    async fn create_user_with_identity(
        &self,
        user: &UserRecord,
        identity: &IdentityRecord,
    ) -> Result<bool>;
    /// A sign-in through the link: records when, the address asserted, and the sealed
    /// refresh token (`Some` replaces it; `None` keeps what is stored). `false` if the
    /// link is gone.
    async fn identity_used(
        &self,
        upstream: &str,
        subject: &str,
        email: Option<&str>,
        refresh_token: Option<&[u8]>,
        now: UnixTime,
    ) -> Result<bool>;
    /// Removes the link of `subject` at `upstream` from `user_id` (only that user's):
    /// `false` if there was none.
    async fn unlink_identity(&self, user_id: &str, upstream: &str, subject: &str) -> Result<bool>;
}
