//! The users of the built-in user store.

use async_trait::async_trait;

use crate::{Result, UserRecord};

#[async_trait]
pub trait Users {
    /// Inserts a user; `Conflict` if the id or the username (in any case) is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<()>;
    /// Looks a user up by login name, ignoring case.
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>>;
    async fn user(&self, id: &str) -> Result<Option<UserRecord>>;
    async fn users(&self) -> Result<Vec<UserRecord>>;
    /// Deletes by login name (ignoring case). `false` if there is no such user.
    async fn delete_user(&self, username: &str) -> Result<bool>;
}
