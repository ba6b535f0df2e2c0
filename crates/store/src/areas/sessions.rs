//! Browser sessions (single sign-on), stored by the SHA-256 of their cookie value.

use async_trait::async_trait;

use crate::{Result, SessionRecord, TokenHash, UnixTime};

#[async_trait]
pub trait Sessions {
    /// Inserts `session`; deletes the session `replaces` (the one the browser held before
    /// signing in: session ids rotate at login) in the same transaction.
    async fn create_session(
        &self,
        session: &SessionRecord,
        replaces: Option<&TokenHash>,
    ) -> Result<()>;
    /// The session, unless unknown or expired at `now`.
    async fn session(&self, id_hash: &TokenHash, now: UnixTime) -> Result<Option<SessionRecord>>;
    /// Deletes the session and revokes the grants made in it whose scope lacks
    /// `offline_access`, in one transaction. `false` if there was no such session.
    async fn end_session(&self, id_hash: &TokenHash, now: UnixTime) -> Result<bool>;
    /// The user's sessions live at `now`, newest first.
    async fn sessions_of_user(&self, user_id: &str, now: UnixTime) -> Result<Vec<SessionRecord>>;
    /// How many sessions are live at `now`.
    async fn count_sessions(&self, now: UnixTime) -> Result<u64>;
}
