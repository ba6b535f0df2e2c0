//! What every handler shares, the clock included.

use std::sync::Arc;
use valet_store::Store;

use crate::catalog::Catalog;
use crate::clock::Clock;
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
    /// Keys the stored form of device user codes and the device page's throttle counters.
    pub user_codes: SecretHasher,
    /// Keys CSRF tokens of session-bound forms.
    pub csrf: SecretHasher,
    /// Seals authorization requests into forms and refresh responses kept for retries.
    pub interactions: Sealer,
    /// The keys of second factors (`mfa/`).
    pub mfa: crate::mfa::Mfa,
    /// The WebAuthn relying party, for passkeys (`passkeys.rs`).
    pub passkeys: crate::passkeys::Passkeys,
    pub pages: crate::pages::Pages,
    /// Applications' logos, fetched and served by Valet (`logos.rs`).
    pub logos: Arc<crate::logos::Logos>,
    /// Concurrent readiness probes share one store write (`routes/health.rs`).
    pub readiness: crate::routes::health::Readiness,
    /// The node's one clock: a handler reads it once per request and passes `now` down.
    pub clock: Arc<dyn Clock>,
    /// Security events into the audit trail (`audit.rs`).
    pub audit: crate::audit::AuditLog,
    /// Email, when `smtp_url` is set (`mail/`).
    pub mailer: Option<crate::mail::Mailer>,
    /// Upstream identity providers people may sign in with (`upstream/`).
    pub upstreams: crate::upstream::Upstreams,
    /// Back-channel logout POSTs (`backchannel/`).
    pub backchannel: crate::backchannel::Poster,
    /// Applications' registered public keys (`client_keys.rs`).
    pub client_keys: crate::client_keys::ClientKeys,
    /// Keys the DPoP nonces (`dpop.rs`).
    pub dpop_nonces: SecretHasher,
    /// Keys pairwise subjects (`pairwise.rs`).
    pub pairwise: SecretHasher,
    /// Refused requests kept in the audit trail this second (`request_id.rs`).
    pub refusals: crate::request_id::RefusalBudget,
    /// Prometheus metrics (`metrics.rs`).
    pub metrics: crate::metrics::Metrics,
}

pub type Shared = Arc<AppState>;

impl AppState {
    /// Administration by `actor` on this node (its caches follow each change at once).
    pub fn admin(self: &Arc<Self>, actor: crate::admin::Actor) -> crate::admin::Admin {
        crate::admin::Admin::on_node(self, actor)
    }
}
