//! The purge of records that no longer matter.

use async_trait::async_trait;

use crate::{Result, UnixTime};

#[async_trait]
pub trait Housekeeping {
    /// Deletes at most `batch` records per table that no longer matter at `now`
    /// (revocations of expired tokens, expired codes, grants, refresh tokens, opaque access
    /// tokens, sessions — queueing a Back-Channel Logout delivery for each application holding a
    /// live grant of an expired session, in the same transaction —, logout deliveries past
    /// `LOGOUT_DELIVERY_MEMORY`, throttle counters, used sealed forms, one-time values seen
    /// (`Replays`) and pushed requests past their `expires_at`, keys no longer published,
    /// device codes `DEVICE_CODE_MEMORY` after they expired, initial access tokens, and
    /// self-registered applications past their registration's `expires_at`, and signed-up
    /// users still pending past their `pending_until`)
    /// and forgets successors of refresh tokens rotated more than
    /// `REFRESH_SUCCESSOR_MEMORY` seconds ago. Returns how many went.
    async fn purge_expired(&self, now: UnixTime, batch: u32) -> Result<u64>;
}
