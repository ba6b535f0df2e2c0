//! Upstream identity providers added through the administration (issue 18), beside the
//! `[[upstreams]]` tables of the configuration file. The table as JSON (the server checks
//! it, the store only keeps it) and the client secret sealed by the server under the
//! master key.

use async_trait::async_trait;

use crate::{Result, UnixTime};

#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamProviderRecord {
    pub id: String,
    /// The provider's settings as JSON, without the secret.
    pub config: String,
    /// The client secret, sealed.
    pub secret: Vec<u8>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

impl std::fmt::Debug for UpstreamProviderRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamProviderRecord")
            .field("id", &self.id)
            .field("config", &self.config)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[async_trait]
pub trait UpstreamProviders {
    /// Every stored provider, by id.
    async fn upstream_providers(&self) -> Result<Vec<UpstreamProviderRecord>>;
    async fn upstream_provider(&self, id: &str) -> Result<Option<UpstreamProviderRecord>>;
    /// A new provider; an id taken is `StoreError::Conflict`.
    async fn create_upstream_provider(&self, p: &UpstreamProviderRecord) -> Result<()>;
    /// Replaces config, secret and `updated_at`; `false` if there is none of that id.
    async fn update_upstream_provider(&self, p: &UpstreamProviderRecord) -> Result<bool>;
    async fn delete_upstream_provider(&self, id: &str) -> Result<bool>;
}
