//! Authorization codes and grants: a grant is the family of every token issued from one
//! decision of a user, and revoking it kills the whole family.

use async_trait::async_trait;

use crate::{CodeRecord, CodeUse, GrantRecord, GrantScope, Result, TokenHash, UnixTime};

#[async_trait]
pub trait Grants {
    /// Inserts a code and, when given, the grant it starts (`code.grant_id`), in one
    /// transaction.
    async fn insert_code(&self, code: &CodeRecord, grant: Option<&GrantRecord>) -> Result<()>;
    /// Inserts a grant that starts without a code (the password grant).
    async fn insert_grant(&self, grant: &GrantRecord) -> Result<()>;
    async fn grant(&self, grant_id: &str) -> Result<Option<GrantRecord>>;
    /// Redeems a code at `now`. One atomic statement decides: of any number of concurrent
    /// callers on any number of nodes, exactly one ever gets `Fresh`. In the same
    /// transaction the winner reads its grant's standing at `now` (the grant exists, is
    /// not revoked, and the session it was made in, if any, is live), so a racing replay
    /// that revokes the grant afterwards cannot make the winner's own check fail.
    async fn consume_code(&self, hash: &TokenHash, now: UnixTime) -> Result<CodeUse>;
    /// Every token of `grant_id` is dead from now on; the record is kept until `until`.
    async fn revoke_grant(&self, grant_id: &str, until: UnixTime) -> Result<()>;
    async fn is_grant_revoked(&self, grant_id: &str) -> Result<bool>;
    /// Whether the grant is revoked and, if its user narrowed it, to what and when: what
    /// introspection, UserInfo and a refresh need to know of a grant, in one read.
    async fn grant_scope(&self, grant_id: &str) -> Result<GrantScope>;
    /// The grants live at `now` (not revoked, a token still unexpired) of the user and/or
    /// the application given (both `None`: every grant), newest first, at most `limit`,
    /// created before the grant `before` names when given (the cursor of the next page).
    async fn live_grants(
        &self,
        user_id: Option<&str>,
        client_id: Option<&str>,
        now: UnixTime,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>>;
}
