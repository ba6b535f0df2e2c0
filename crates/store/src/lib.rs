//! Valet's storage contract. `Store` is the one trait every backend implements (SQLite
//! now, PostgreSQL next); the rules written on each method hold for every backend and are
//! checked by one shared suite (`tests/conformance.rs`). Only this crate knows SQL.
//!
//! Rules for all backends:
//! - Every method is one transaction: it happens entirely or not at all.
//! - Single use is a storage guarantee: a consuming method is one atomic statement whose
//!   winner is decided by the database, so two nodes racing cannot both win.
//! - Errors that mean "try again later" are `StoreError::Unavailable`; callers answer 503.

mod error;
mod model;
pub mod sqlite;

use async_trait::async_trait;

pub use error::StoreError;
pub use model::{
    ApiRecord, ClientRecord, CodeRecord, CodeUse, PasswordHash, SecretHash, SigningKeyRecord,
    UserRecord,
};
pub use valet_protocol::UnixTime;

pub type Result<T> = std::result::Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Name of the backend, for logs.
    fn backend(&self) -> &'static str;

    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> Result<()>;

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

    async fn insert_code(&self, code: &CodeRecord) -> Result<()>;
    /// Redeems a code at `now`. One atomic statement decides: of any number of concurrent
    /// callers on any number of nodes, exactly one ever gets `Fresh`.
    async fn consume_code(&self, hash: &[u8], now: UnixTime) -> Result<CodeUse>;
    /// Every token of `grant_id` is dead from now on; the record is kept until `until`.
    async fn revoke_grant(&self, grant_id: &str, until: UnixTime) -> Result<()>;
    async fn is_grant_revoked(&self, grant_id: &str) -> Result<bool>;

    // ---- housekeeping ----

    /// Deletes at most `batch` records that no longer matter at `now` (revocations of
    /// expired tokens, keys no longer published). Returns how many went.
    async fn purge_expired(&self, now: UnixTime, batch: u32) -> Result<u64>;
}
