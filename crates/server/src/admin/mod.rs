//! Administration: every change to what Valet is configured with goes through `Admin`,
//! shared by the `valet` CLI, the admin REST API and the web console, so every face applies
//! the same rules, forgets the same cached records, and writes the same audit record
//! (issue 15). One file per resource: clients.rs, apis.rs, users.rs, keys.rs, grants.rs,
//! registrations.rs (self-registered applications); audit.rs is the trail itself.

use std::sync::Arc;
use valet_store::{Store, StoreError};

use crate::crypto::SecretHasher;
use crate::state::AppState;

/// OpenID Connect scopes every user-facing application may request by default.
pub use valet_protocol::scope::OIDC_SCOPES;

mod apis;
mod apply;
mod audit;
mod clients;
pub mod desired;
mod explain;
mod grants;
mod keys;
mod plan;
mod registrations;
mod upstreams;
mod users;

pub use apis::{ApiChanges, ApiView, NewApi};
pub use apply::Applied;
pub use audit::{Actor, Changes, MAX_PAGE, Target, audit_json};
pub use clients::{ClientChanges, NewClient, WithSecret, etag};
pub use explain::Explanation;
pub use grants::{GrantView, SessionView};
pub use registrations::{DEFAULT_INITIAL_TOKEN_TTL, MAX_INITIAL_TOKEN_TTL};
pub use upstreams::{NewUpstream, UpstreamChanges, UpstreamView, stored_settings};
pub use users::{NewUser, UserChanges, UserView};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    /// A value that breaks a rule, naming the field (the admin API's per-field errors).
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` named another version than the stored one (RFC 9110 §13.1.1).
    #[error("the {0} changed since it was read; read it again and retry")]
    Stale(&'static str),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Internal(#[from] crate::fault::Fault),
}

impl AdminError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Field {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Conflict(m),
            other => Self::Store(other),
        }
    }
}

/// Administration on behalf of one actor. The CLI makes one per command
/// (`Admin::new`, `Actor::cli`); a server makes one per request (`AppState::admin`), which
/// also forgets this node's cached copies of what it changed; other nodes (and a server
/// beside a CLI) see a change within `cache_ttl`.
#[derive(Clone)]
pub struct Admin {
    pub store: Arc<dyn Store>,
    pub hasher: SecretHasher,
    pub actor: Actor,
    node: Option<Arc<AppState>>,
    /// Outside a node (the CLI): what seals a stored provider's secret, and the settings
    /// that say which upstream ids are taken.
    sealer: Option<Arc<crate::crypto::Sealer>>,
    settings: Option<Arc<crate::config::Settings>>,
}

impl Admin {
    pub fn new(store: Arc<dyn Store>, hasher: SecretHasher, actor: Actor) -> Self {
        Self {
            store,
            hasher,
            actor,
            node: None,
            sealer: None,
            settings: None,
        }
    }

    /// Outside a node: the master key's sealer and the settings, for upstream providers.
    pub fn with_upstream_context(
        mut self,
        sealer: crate::crypto::Sealer,
        settings: &crate::config::Settings,
    ) -> Self {
        self.sealer = Some(Arc::new(sealer));
        self.settings = Some(Arc::new(settings.clone()));
        self
    }

    /// Administration from inside a running node: its caches are kept true at once.
    pub fn on_node(state: &Arc<AppState>, actor: Actor) -> Self {
        Self {
            store: state.store.clone(),
            hasher: state.hasher.clone(),
            actor,
            node: Some(state.clone()),
            sealer: None,
            settings: None,
        }
    }

    fn forget_client(&self, client_id: &str) {
        if let Some(n) = &self.node {
            n.catalog.forget_client(client_id);
            n.catalog.forget_origins();
        }
    }

    fn forget_apis(&self) {
        if let Some(n) = &self.node {
            n.catalog.forget_apis();
        }
    }
}
