//! Consents: what a user allowed an application, remembered so the consent page is
//! skipped; withdrawing one revokes the grants it covered.

use async_trait::async_trait;

use crate::{ConsentRecord, Result, UnixTime};

#[async_trait]
pub trait Consents {
    async fn consent(&self, user_id: &str, client_id: &str) -> Result<Option<ConsentRecord>>;
    /// Inserts or replaces the consent of (user, client).
    async fn save_consent(&self, consent: &ConsentRecord) -> Result<()>;
    /// A user's consents, oldest first.
    async fn consents_of_user(&self, user_id: &str) -> Result<Vec<ConsentRecord>>;
    /// Forgets the consent of (user, client) and revokes every grant of that pair, in one
    /// transaction. Returns how many grants were revoked.
    async fn revoke_consent(&self, user_id: &str, client_id: &str, now: UnixTime) -> Result<u64>;
    /// Withdraws the one scope token `scope` from the consent of (user, client) and from
    /// every live, unrevoked grant of that pair that holds it, in one transaction: each
    /// such grant's `scope` loses it and its `scope_changed_at` becomes `now`; a grant
    /// left with no scope is revoked. The caller decides what may be withdrawn
    /// (`valet_protocol::withdraw`). Returns how many grants changed; nothing changes
    /// when the consent does not hold the scope.
    async fn withdraw_scope(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: UnixTime,
    ) -> Result<u64>;
    /// Forgets every consent given to `client_id` and revokes all its grants, in one
    /// transaction. Returns how many grants were revoked.
    async fn revoke_client_grants(&self, client_id: &str, now: UnixTime) -> Result<u64>;
}
