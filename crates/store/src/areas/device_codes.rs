//! Device codes of the device authorization grant (RFC 8628).

use async_trait::async_trait;

use crate::{DeviceCodeRecord, DeviceDecision, Result, TokenHash, UnixTime};

#[async_trait]
pub trait DeviceCodes {
    /// Inserts a device code; `Conflict` if its device hash or its user-code hash is
    /// taken (by any row not purged yet: the caller draws another user code and retries).
    async fn insert_device_code(&self, code: &DeviceCodeRecord) -> Result<()>;
    /// The device code of `device_hash` in whatever state, until it is purged
    /// (`DEVICE_CODE_MEMORY` after it expired).
    async fn device_code(&self, device_hash: &TokenHash) -> Result<Option<DeviceCodeRecord>>;
    /// The device code of `user_code_hash` if it is still pending and not expired at `now`
    /// (`expires_at <= now` is expired); an answered or expired code reads as `None`.
    async fn pending_device_code(
        &self,
        user_code_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<DeviceCodeRecord>>;
    /// Records a user's answer to the pending device code of `user_code_hash` and
    /// `client_id`: one atomic `UPDATE … WHERE status = 'pending' AND expires_at > now`, so
    /// of any number of answers (two tabs, two nodes) exactly one counts; an approval
    /// inserts its grant in the same transaction. `false`, and nothing written, if the
    /// code is not pending any more, expired, or of another client.
    async fn decide_device_code(
        &self,
        user_code_hash: &TokenHash,
        client_id: &str,
        decision: &DeviceDecision,
        now: UnixTime,
    ) -> Result<bool>;
    /// Records a poll at `now` that redeems nothing (`authorization_pending`, `slow_down`):
    /// `last_poll_at = now` and the gap becomes `interval`, in one atomic statement that
    /// matches only while `last_poll_at` is still `seen` and the code is not redeemed.
    /// `false` if another poll was recorded in between (the caller answers `slow_down`).
    async fn record_device_poll(
        &self,
        device_hash: &TokenHash,
        seen: UnixTime,
        interval: i64,
        now: UnixTime,
    ) -> Result<bool>;
    /// Redeems an approved device code at `now`: one atomic `UPDATE … WHERE status =
    /// 'approved' AND redeemed_at IS NULL AND expires_at > now … RETURNING`. Of any number
    /// of concurrent callers on any number of nodes exactly one gets the record; every
    /// other call, then and later, gets `None`.
    async fn redeem_device_code(
        &self,
        device_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<DeviceCodeRecord>>;
}
