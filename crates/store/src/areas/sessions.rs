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
    /// Records that the session was used at `now` if its `last_used_at` is at or before
    /// `now - interval`: one conditional UPDATE, so a busy session costs one write per
    /// interval and racing requests write once. `false` when nothing was written (too
    /// soon, or no such session).
    async fn touch_session(
        &self,
        id_hash: &TokenHash,
        now: UnixTime,
        interval: i64,
    ) -> Result<bool>;
    /// Ends every session of `user_id` but `keep`, live or expired, in one transaction.
    /// Without `every_grant`, each ends as `end_session` ends one ("sign out
    /// everywhere"): its applications' logouts queued, the grants made in it without
    /// `offline_access` revoked. With `every_grant` (a new password, checklist G11),
    /// every grant of the user not made in `keep` is revoked as well, `offline_access`
    /// and grants made without a session (the device grant) included, and the
    /// applications holding any of them are queued a logout. Returns how many sessions
    /// ended.
    async fn end_sessions_of_user(
        &self,
        user_id: &str,
        keep: Option<&TokenHash>,
        every_grant: bool,
        now: UnixTime,
    ) -> Result<u64>;
    /// The user's sessions live at `now`, newest first.
    async fn sessions_of_user(&self, user_id: &str, now: UnixTime) -> Result<Vec<SessionRecord>>;
    /// How many sessions are live at `now`.
    async fn count_sessions(&self, now: UnixTime) -> Result<u64>;
}
