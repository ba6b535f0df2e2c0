//! What every handler shares, and the one place the server reads the clock.

use std::sync::Arc;
use valet_store::Store;

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::crypto::{Sealer, SecretHasher};
use crate::keyring::Keyring;

pub struct AppState {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub keys: Keyring,
    pub catalog: Catalog,
    pub hasher: SecretHasher,
    pub sealer: Sealer,
    /// Client-authentication failures (checklist H4).
    pub throttle: crate::throttle::Throttle,
    /// Sign-in attempts, per account, address and both, across nodes (checklist H1).
    pub sign_ins: crate::users::signin::SignIns,
    /// The user stores, in their configured order (`users/`).
    pub users: crate::users::Users,
    /// Keys CSRF tokens of session-bound forms.
    pub csrf: SecretHasher,
    /// Seals authorization requests into forms and refresh responses kept for retries.
    pub interactions: Sealer,
    pub pages: crate::pages::Pages,
}

pub type Shared = Arc<AppState>;

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl AppState {
    pub fn admin(&self) -> crate::admin::Admin {
        crate::admin::Admin {
            store: self.store.clone(),
            hasher: self.hasher.clone(),
        }
    }
}
