//! Valet's storage contract. `Store` is the one trait every backend implements (SQLite
//! for one machine, PostgreSQL for several nodes); the rules written on each method hold for every backend and are
//! checked by one shared suite (`tests/conformance.rs`). Only this crate knows SQL.
//!
//! Rules for all backends:
//! - Every method is one transaction: it happens entirely or not at all (`purge_expired`
//!   excepted: each of its deletions stands alone, and any subset of them is harmless).
//! - Single use is a storage guarantee: a consuming method is one atomic statement whose
//!   winner is decided by the database, so two nodes racing cannot both win.
//! - Errors that mean "try again later" are `StoreError::Unavailable`; callers answer 503.

pub mod copy;
mod error;
mod model;
pub mod postgres;
pub mod sqlite;
mod throttle;

use async_trait::async_trait;

pub use error::StoreError;
pub use model::{
    ApiRecord, ClientRecord, CodeRecord, CodeUse, ConsentRecord, DeviceCodeRecord, DeviceDecision,
    DeviceStatus, GrantRecord, OpaqueAccessTokenRecord, PasswordHash, RefreshTokenRecord, Rotation,
    SecretHash, SessionRecord, SigningKeyRecord, UserRecord,
};
pub use throttle::{ThrottleDecision, ThrottleRule, ThrottleState};
pub use valet_protocol::UnixTime;
pub use valet_protocol::authorization_code::GrantState;

pub type Result<T> = std::result::Result<T, StoreError>;

/// How long a consumed or expired code is kept, so that a late replay is still recognised
/// as one (and the grant it produced revoked) rather than looking unknown.
pub const CODE_REPLAY_MEMORY: i64 = 600;

/// How long a device code is kept past its expiry, so that a late poll still reads
/// `expired_token` (and a poll after redemption `invalid_grant`) rather than unknown.
pub const DEVICE_CODE_MEMORY: i64 = 600;

/// How long the response of a refresh-token rotation is kept (sealed) so that a retry of
/// the same token can be answered with the same pair. The retry window is at most this.
pub const REFRESH_SUCCESSOR_MEMORY: i64 = 60;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Name of the backend, for logs.
    fn backend(&self) -> &'static str;

    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> Result<()>;

    /// Succeeds when the database accepts a write: one small write that commits (the one
    /// row of `heartbeat` set to `now`). Readiness asks this rather than `ping`: a
    /// database that answers reads while refusing writes (read-only, full, a write lock
    /// held elsewhere for more than about a second) is not ready.
    async fn check_writable(&self, now: UnixTime) -> Result<()>;

    // ---- applications ----

    /// Inserts a new application; `Conflict` if its client_id exists.
    async fn create_client(&self, client: &ClientRecord) -> Result<()>;
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>>;
    async fn clients(&self) -> Result<Vec<ClientRecord>>;
    /// Replaces the registration (not the secret). `false` if there is no such application.
    async fn update_client(&self, client: &ClientRecord) -> Result<bool>;
    /// Sets a new secret hash; the current one stays valid until `previous_until` if given.
    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret: &SecretHash,
        previous_until: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<bool>;
    async fn delete_client(&self, client_id: &str) -> Result<bool>;

    // ---- users ----

    /// Inserts a user; `Conflict` if the id or the username (in any case) is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<()>;
    /// Looks a user up by login name, ignoring case.
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>>;
    async fn user(&self, id: &str) -> Result<Option<UserRecord>>;
    async fn users(&self) -> Result<Vec<UserRecord>>;
    /// Deletes by login name (ignoring case). `false` if there is no such user.
    async fn delete_user(&self, username: &str) -> Result<bool>;

    // ---- APIs ----

    /// Inserts an API and its scopes; `Conflict` if the audience or a scope name is taken.
    async fn create_api(&self, api: &ApiRecord) -> Result<()>;
    async fn apis(&self) -> Result<Vec<ApiRecord>>;
    async fn delete_api(&self, audience: &str) -> Result<bool>;

    // ---- signing keys ----

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>>;
    /// Inserts `key` only if no key of its `alg` exists, atomically: of several nodes
    /// starting at once, exactly one inserts. Returns whether this call inserted.
    async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> Result<bool>;
    /// Inserts `key` and sets `publish_until` on each retired kid, in one transaction.
    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire: &[(String, UnixTime)],
    ) -> Result<()>;

    // ---- revocation of JWT access tokens ----

    /// Records that the access token `jti` is revoked until `expires_at`. Idempotent.
    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> Result<()>;
    async fn is_access_token_revoked(&self, jti: &str) -> Result<bool>;

    // ---- authorization codes and grants ----

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
    async fn consume_code(&self, hash: &[u8], now: UnixTime) -> Result<CodeUse>;
    /// Every token of `grant_id` is dead from now on; the record is kept until `until`.
    async fn revoke_grant(&self, grant_id: &str, until: UnixTime) -> Result<()>;
    async fn is_grant_revoked(&self, grant_id: &str) -> Result<bool>;

    // ---- refresh tokens ----

    /// Inserts a refresh token and raises its grant's `expires_at` to at least
    /// `grant_until`, in one transaction. If the grant is already revoked, the revocation
    /// record is kept at least as long (so a token issued while its grant was being revoked
    /// can never outlive the record that kills it); `rotate_refresh_token` does the same.
    async fn insert_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        grant_until: UnixTime,
    ) -> Result<()>;
    /// The token by hash, rotated or not; `None` if unknown or expired at `now`.
    async fn refresh_token(&self, hash: &[u8], now: UnixTime)
    -> Result<Option<RefreshTokenRecord>>;
    /// Rotates `old_hash` at `now`: one atomic statement marks it rotated (only if it was
    /// not) and stores `successor` (the sealed response, for the retry window); in the same
    /// transaction `new` is inserted and the grant's `expires_at` raised to `grant_until`.
    /// Of any number of concurrent callers on any number of nodes, exactly one ever gets
    /// `Rotated`; the others get `AlreadyRotated` with the winner's successor.
    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new: &RefreshTokenRecord,
        successor: &[u8],
        grant_until: UnixTime,
        now: UnixTime,
    ) -> Result<Rotation>;

    // ---- opaque access tokens ----

    /// Inserts an opaque access token (stored by its SHA-256; `Conflict` if the hash
    /// exists) and, for a user's token, raises its grant's `expires_at`, and that of the
    /// grant's revocation record if there is one, to at least the token's `expires_at`, in
    /// one transaction: a grant must outlive its tokens for revoking it to reach them.
    async fn insert_opaque_access_token(&self, token: &OpaqueAccessTokenRecord) -> Result<()>;
    /// The token by hash; `None` if unknown, revoked, or expired at `now` (`expires_at <=
    /// now`). Whether its grant is revoked is the caller's to ask (`is_grant_revoked`).
    async fn opaque_access_token(
        &self,
        hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<OpaqueAccessTokenRecord>>;
    /// Revokes the token for every node at once (the row is deleted). `false` if there was
    /// no such token.
    async fn revoke_opaque_access_token(&self, hash: &[u8]) -> Result<bool>;

    // ---- consent ----

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

    // ---- browser sessions ----

    /// Inserts `session`; deletes the session `replaces` (the one the browser held before
    /// signing in: session ids rotate at login) in the same transaction.
    async fn create_session(&self, session: &SessionRecord, replaces: Option<&[u8]>) -> Result<()>;
    /// The session, unless unknown or expired at `now`.
    async fn session(&self, id_hash: &[u8], now: UnixTime) -> Result<Option<SessionRecord>>;
    /// Deletes the session and revokes the grants made in it whose scope lacks
    /// `offline_access`, in one transaction. `false` if there was no such session.
    async fn end_session(&self, id_hash: &[u8], now: UnixTime) -> Result<bool>;

    // ---- throttling ----

    /// One attempt against every rule, decided in one transaction (`throttle.rs`): either
    /// every counter takes it (`Allowed`), or none changes and the caller waits
    /// (`Refused`). Concurrent attempts on any number of nodes are counted one by one, so
    /// no more than a rule's limit is ever allowed in its window.
    async fn throttle_attempt(
        &self,
        rules: &[ThrottleRule],
        now: UnixTime,
    ) -> Result<ThrottleDecision>;
    /// Gives one attempt back to each counter (an attempt that succeeded, or whose work
    /// could not be done). A counter never goes below zero.
    async fn throttle_refund(&self, keys: &[String]) -> Result<()>;
    /// Remembers `key` until `until` (an address an account signed in from).
    async fn throttle_mark(&self, key: &str, now: UnixTime, until: UnixTime) -> Result<()>;
    /// Whether `key` is remembered at `now`.
    async fn throttle_marked(&self, key: &str, now: UnixTime) -> Result<bool>;

    // ---- sealed forms ----

    /// Records that the sealed form value `id` (a login or consent form) was submitted,
    /// kept until `expires_at`, when the value stops opening anyway. One atomic
    /// insert-if-absent: of any number of concurrent callers on any number of nodes,
    /// exactly one ever gets `true`; every later call gets `false` until the record is
    /// purged (after `expires_at`).
    async fn consume_sealed_form(&self, id: &str, expires_at: UnixTime) -> Result<bool>;

    // ---- device codes (RFC 8628) ----

    /// Inserts a device code; `Conflict` if its device hash or its user-code hash is
    /// taken (by any row not purged yet: the caller draws another user code and retries).
    async fn insert_device_code(&self, code: &DeviceCodeRecord) -> Result<()>;
    /// The device code of `device_hash` in whatever state, until it is purged
    /// (`DEVICE_CODE_MEMORY` after it expired).
    async fn device_code(&self, device_hash: &[u8]) -> Result<Option<DeviceCodeRecord>>;
    /// The device code of `user_code_hash` if it is still pending and not expired at `now`
    /// (`expires_at <= now` is expired); an answered or expired code reads as `None`.
    async fn pending_device_code(
        &self,
        user_code_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<DeviceCodeRecord>>;
    /// Records a user's answer to the pending device code of `user_code_hash` and
    /// `client_id`: one atomic `UPDATE … WHERE status = 'pending' AND expires_at > now`, so
    /// of any number of answers (two tabs, two nodes) exactly one counts; an approval
    /// inserts its grant in the same transaction. `false`, and nothing written, if the
    /// code is not pending any more, expired, or of another client.
    async fn decide_device_code(
        &self,
        user_code_hash: &[u8],
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
        device_hash: &[u8],
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
        device_hash: &[u8],
        now: UnixTime,
    ) -> Result<Option<DeviceCodeRecord>>;

    // ---- housekeeping ----

    /// Deletes at most `batch` records per table that no longer matter at `now`
    /// (revocations of expired tokens, expired codes, grants, refresh tokens, opaque access
    /// tokens, sessions, throttle counters and used sealed forms, keys no longer published,
    /// device codes `DEVICE_CODE_MEMORY` after they expired)
    /// and forgets successors of refresh tokens rotated more than
    /// `REFRESH_SUCCESSOR_MEMORY` seconds ago. Returns how many went.
    async fn purge_expired(&self, now: UnixTime, batch: u32) -> Result<u64>;
}
