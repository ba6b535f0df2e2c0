//! OIDC Back-Channel Logout deliveries: an outbox of (application, user, session) whose
//! logout an application has yet to hear of. Rows are written in the same transaction as
//! the logout itself (`Sessions::end_session`, `Users::end_user_access`,
//! `Users::delete_user`, and the purge of expired sessions), so any process — a node or
//! the CLI — may end sessions and every node's deliverer sends what is due.

use async_trait::async_trait;

use crate::{Result, TokenHash, UnixTime};

/// One logout to deliver: the logout token is signed at each attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutDelivery {
    pub id: i64,
    pub client_id: String,
    pub user_id: String,
    /// The session that ended (its `sid` is derived from it), when the grant had one.
    pub session: Option<TokenHash>,
    /// Attempts made so far, this one included once claimed.
    pub attempts: u32,
    /// Not sent after this: the application missed it.
    pub expires_at: UnixTime,
}

/// How long a logout is tried for.
pub const LOGOUT_DELIVERY_MEMORY: i64 = 86_400;

#[async_trait]
pub trait LogoutDeliveries {
    /// Claims at most `limit` deliveries due at `now` (one atomic statement: of several
    /// nodes, each row goes to one), counting the attempt and hiding them until
    /// `now + lease` (a node that dies mid-delivery leaves them to be retried then).
    async fn claim_logout_deliveries(
        &self,
        now: UnixTime,
        lease: i64,
        limit: u32,
    ) -> Result<Vec<LogoutDelivery>>;
    /// Delivered, or given up on: the row goes.
    async fn finish_logout_delivery(&self, id: i64) -> Result<()>;
    /// Failed: due again at `next_at`.
    async fn retry_logout_delivery(&self, id: i64, next_at: UnixTime) -> Result<()>;
}
