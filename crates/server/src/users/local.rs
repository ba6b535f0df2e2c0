//! The built-in user store: users in Valet's own database, passwords as argon2id
//! (`passwords.rs`). An unknown user costs the same hashing as a known one (checklist
//! C10). A user's `sub` is their record's random id.

use std::sync::Arc;
use valet_store::Store;

use super::{Found, User, UsersError};
use crate::passwords::Passwords;

pub struct Database {
    store: Arc<dyn Store>,
    passwords: Arc<Passwords>,
}

impl Database {
    pub fn new(store: Arc<dyn Store>, passwords: Arc<Passwords>) -> Self {
        Self { store, passwords }
    }

    pub async fn authenticate(&self, login: &str, password: &str) -> Result<Found, UsersError> {
        let record = self.store.user_by_username(login).await?;
        let stored = record
            .as_ref()
            .filter(|u| !u.disabled)
            .and_then(|u| u.password_hash.clone());
        let ok = verify(&self.passwords, password, stored).await?;
        Ok(match record {
            None => Found::Unknown,
            // Signed up, address not confirmed yet: the right password says only that
            // (a wrong one is wrong, as for anyone).
            Some(u) if ok && u.pending_until.is_some() => Found::Pending,
            Some(u) if ok => Found::User(Box::new(u.into())),
            Some(_) => Found::Wrong,
        })
    }

    pub async fn by_id(&self, id: &str) -> Result<Option<User>, UsersError> {
        Ok(self
            .store
            .user(id)
            .await?
            .filter(|u| !u.disabled && u.pending_until.is_none())
            .map(User::from))
    }
}

/// argon2id takes tens of milliseconds of CPU and 19 MiB: off the async workers, through
/// the hashing gate (`passwords.rs`). `None` checks against the dummy hash and answers no.
pub async fn verify(
    passwords: &Arc<Passwords>,
    password: &str,
    stored: Option<valet_store::PasswordHash>,
) -> Result<bool, UsersError> {
    passwords
        .verify_gated(password, stored)
        .await
        .map_err(|_| UsersError::Busy)
}
