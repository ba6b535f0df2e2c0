//! APIs (resource servers, RFC 8707 audiences) and their scopes.

use async_trait::async_trait;

use crate::{ApiRecord, Result};

#[async_trait]
pub trait Apis {
    /// Inserts an API and its scopes; `Conflict` if the audience or a scope name is taken.
    async fn create_api(&self, api: &ApiRecord) -> Result<()>;
    async fn apis(&self) -> Result<Vec<ApiRecord>>;
    async fn delete_api(&self, audience: &str) -> Result<bool>;
}
