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
    pub throttle: crate::throttle::Throttle,
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
