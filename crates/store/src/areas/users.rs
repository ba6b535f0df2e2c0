//! The users of the built-in user store.

use async_trait::async_trait;

use crate::{Result, UnixTime, UserRecord};

#[async_trait]
pub trait Users {
    /// Inserts a user; `Conflict` if the id or the username (in any case) is taken. A
    /// user with `pending_until` (signed up, address not confirmed yet) is a user like any
    /// other here: the server refuses them sign-in, and the purge deletes them once
    /// `pending_until` passes (`Housekeeping`); `update_user` with `pending_until: None`
    /// makes them a user for good.
    async fn create_user(&self, user: &UserRecord) -> Result<()>;
    /// Looks a user up by login name, ignoring case.
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>>;
    async fn user(&self, id: &str) -> Result<Option<UserRecord>>;
    async fn users(&self) -> Result<Vec<UserRecord>>;
    /// The users whose `email` claim is `email`, ignoring case (a password reset asked for
    /// by address; addresses are not unique).
    async fn users_by_email(&self, email: &str) -> Result<Vec<UserRecord>>;
    /// Replaces the user of `user.id` (every field but `id` and `created_at`); `Conflict`
    /// if the new username is another user's. `false` if there is no such user.
    async fn update_user(&self, user: &UserRecord) -> Result<bool>;
    /// Deletes by login name (ignoring case) and, in the same transaction, ends everything
    /// the user holds: sessions deleted, consents forgotten, grants revoked (so refresh
    /// tokens and access tokens of those grants are dead). `false` if there is no such user.
    async fn delete_user(&self, username: &str, now: UnixTime) -> Result<bool>;
    /// Ends everything the user `user_id` holds, as `delete_user` does, keeping the user
    /// (disabling, a new password, "sign out everywhere"). Returns how many grants were
    /// revoked.
    async fn end_user_access(&self, user_id: &str, now: UnixTime) -> Result<u64>;
}
