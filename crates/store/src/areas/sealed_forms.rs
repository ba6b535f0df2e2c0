//! Sealed forms (login, consent) already submitted: each counts once.

use async_trait::async_trait;

use crate::{Result, UnixTime};

#[async_trait]
pub trait SealedForms {
    /// Records that the sealed form value `id` (a login or consent form) was submitted,
    /// kept until `expires_at`, when the value stops opening anyway. One atomic
    /// insert-if-absent: of any number of concurrent callers on any number of nodes,
    /// exactly one ever gets `true`; every later call gets `false` until the record is
    /// purged (after `expires_at`).
    async fn consume_sealed_form(&self, id: &str, expires_at: UnixTime) -> Result<bool>;
}
