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
    /// Forgets every consent given to `client_id` and revokes all its grants, in one
    /// transaction. Returns how many grants were revoked.
    async fn revoke_client_grants(&self, client_id: &str, now: UnixTime) -> Result<u64>;
}
