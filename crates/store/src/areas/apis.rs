//! APIs (resource servers, RFC 8707 audiences) and their scopes.

use async_trait::async_trait;

use crate::{ApiRecord, Result};

#[async_trait]
pub trait Apis {
    /// Inserts an API and its scopes; `Conflict` if the audience or a scope name is taken.
    async fn create_api(&self, api: &ApiRecord) -> Result<()>;
    async fn apis(&self) -> Result<Vec<ApiRecord>>;
    /// Replaces the API of `api.api.audience` (name, scopes, format, introspectors) in one
    /// transaction; `Conflict` if a scope name is another API's. `false` if there is none.
    async fn update_api(&self, api: &ApiRecord) -> Result<bool>;
    async fn delete_api(&self, audience: &str) -> Result<bool>;
}
