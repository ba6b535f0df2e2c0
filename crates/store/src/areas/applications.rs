//! Applications (OAuth clients): their registration and their secret.

use async_trait::async_trait;

use crate::{ClientRecord, Result, SecretHash, UnixTime};

#[async_trait]
pub trait Applications {
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
    /// Whether `origin` is one of some stored application's `Application::web_origins`
    /// (exact string match), answered by key from an index the store keeps in the same
    /// transaction as every write of a registration (here and in `Registrations`), so it
    /// never disagrees with `clients()` and never scans them.
    async fn is_web_origin(&self, origin: &str) -> Result<bool>;
}
