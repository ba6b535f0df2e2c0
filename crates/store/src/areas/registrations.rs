//! Self-registered applications (RFC 7591, RFC 7592) and the registration firewall's
//! storage side (issue 14): registration with deduplication, the RFC 7592 registration
//! access token, the last use, and initial access tokens.

use async_trait::async_trait;

use crate::{ClientRecord, Result, TokenHash, UnixTime};

/// The last use of a self-registered application is written at most once per this many
/// seconds, so that issuing tokens does not write every time.
pub const TOUCH_INTERVAL: i64 = 3600;

/// The registration of a self-registered application (its `registrations` row).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RegistrationRecord {
    pub client_id: String,
    /// SHA-256 of the RFC 7592 registration access token (`Debug` redacts it).
    pub token_hash: TokenHash,
    /// What makes another registration identical (SHA-256 of the normalized metadata and
    /// the source address); `None`: never deduplicated.
    pub fingerprint: Option<TokenHash>,
    pub created_at: UnixTime,
    /// An identical registration before this instant returns this one.
    pub dedupe_until: UnixTime,
    pub last_used_at: Option<UnixTime>,
    /// The application (and this row) is purged after this instant; a use moves it on.
    pub expires_at: UnixTime,
}

/// What `register_client` did.
#[derive(Debug)]
pub enum Registered {
    /// A new application and registration were stored.
    Created,
    /// An identical registration within its window exists: its application, whose
    /// registration access token is now the one given.
    Existing(Box<ClientRecord>),
    /// The initial access token given is unknown, expired or used up: nothing written.
    TokenRefused,
}

#[async_trait]
pub trait Registrations {
    /// Registers `client` with `reg`, in one transaction decided by the database: first
    /// the initial access token, if given, is consumed (one use, `TokenRefused` and
    /// nothing written if it has none left or expired at `now`); then, if `reg` has a
    /// fingerprint and a registration with that fingerprint deduplicates at `now`
    /// (`dedupe_until > now`), that one's token hash becomes `reg.token_hash` and its
    /// application is returned (`Existing`); otherwise both rows are inserted. Of any
    /// number of identical registrations racing on any number of nodes, one inserts and
    /// the others get `Existing`.
    async fn register_client(
        &self,
        client: &ClientRecord,
        reg: &RegistrationRecord,
        initial_token: Option<&TokenHash>,
        now: UnixTime,
    ) -> Result<Registered>;
    /// The registration of `client_id`, if the application registered itself.
    async fn registration(&self, client_id: &str) -> Result<Option<RegistrationRecord>>;
    /// RFC 7592 §2.2: replaces the application's registration and rotates its token, in
    /// one statement matching only while the token hash is still `presented` (of two
    /// updates with one token, one wins). `false`, nothing written, otherwise.
    async fn update_registered_client(
        &self,
        client: &ClientRecord,
        presented: &TokenHash,
        new_token: &TokenHash,
    ) -> Result<bool>;
    /// RFC 7592 §2.3: deletes the application and its registration if the token hash is
    /// `presented`. `false`, nothing deleted, otherwise.
    async fn delete_registered_client(
        &self,
        client_id: &str,
        presented: &TokenHash,
    ) -> Result<bool>;
    /// Records a use at `now` and keeps the application until `until`, only if the last
    /// recorded use is older than `min_interval` seconds (or none): the read that decides
    /// it goes to a reader, so a recent use costs no write. `true` if it wrote.
    async fn touch_registration(
        &self,
        client_id: &str,
        now: UnixTime,
        until: UnixTime,
        min_interval: i64,
    ) -> Result<bool>;
    /// Stores an initial access token (RFC 7591 §3) by its hash: `uses` registrations
    /// (`None`: any number) until `expires_at`.
    async fn create_initial_access_token(
        &self,
        hash: &TokenHash,
        uses: Option<u32>,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> Result<()>;
}
