//! Per-node caches of applications, APIs and CORS origins (`answers.rs`). Each answer
//! lives at most `cache_ttl` seconds of the node's clock, which bounds how long a deleted
//! application, a rotated secret or a changed redirect URI can still work on a node that
//! did not make the change (the node that made it drops its answers at once); each is
//! looked up by key and loaded by one caller at a time, in maps bounded in entries.
//! A client_id that is an `https` URL is a Client ID Metadata Document client, resolved
//! through `cimd/` (`metadata_client`).

mod answers;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use valet_protocol::application::Origin;
use valet_protocol::audience::{Api, ApiScope};
use valet_store::{ClientRecord, Store, StoreError};

use crate::cimd::{Cimd, CimdError};
use crate::clock::Clock;
use answers::Answers;

/// The scope of Valet's own admin API.
pub use valet_protocol::scope::ADMIN_SCOPE;

/// Applications kept per node; beyond, the least recently used goes. Unknown client ids
/// are never kept.
const MAX_CLIENTS: usize = 10_000;

/// Answers about origins kept per node (whether an origin is some application's, yes or
/// no); beyond, the least recently used goes.
const MAX_ORIGINS: usize = 10_000;

pub struct Catalog {
    store: Arc<dyn Store>,
    admin_api: Api,
    /// By client_id; `None` (unknown) is given to the callers of one lookup, not kept.
    clients: Answers<Option<Arc<ClientRecord>>>,
    /// Every API, under the one key "".
    apis: Answers<Arc<Vec<Api>>>,
    /// By origin: whether it is some application's (`Applications::is_web_origin`, an
    /// index the store keeps), yes and no alike.
    origins: Answers<bool>,
    cimd: Cimd,
    clock: Arc<dyn Clock>,
}

/// What a client_id names.
pub enum Lookup {
    Found(Arc<ClientRecord>),
    /// No application has this client_id.
    Unknown,
    /// A metadata document client that cannot be used; the sentence says why.
    Refused(String),
}

impl Catalog {
    pub fn new(
        store: Arc<dyn Store>,
        ttl: Duration,
        admin_audience: String,
        cimd: Cimd,
        clock: Arc<dyn Clock>,
    ) -> Self {
        // The node's clock counts whole seconds, as `cache_ttl` does.
        let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        Self {
            cimd,
            clock,
            store,
            admin_api: Api {
                audience: admin_audience,
                scopes: vec![ApiScope {
                    name: ADMIN_SCOPE.into(),
                    description:
                        "Administer this sign-in service: applications, APIs, users and keys".into(),
                }],
                access_token_format: Default::default(),
                // Valet's own audience: only a token's own application introspects it.
                introspectors: vec![],
                token_exchange: vec![],
            },
            clients: Answers::new(secs, MAX_CLIENTS),
            apis: Answers::new(secs, 1),
            origins: Answers::new(secs, MAX_ORIGINS),
        }
    }

    /// The application with this client_id, a metadata document client included (then
    /// fetched without counting a caller: `lookup` counts, where a request begins).
    pub async fn client(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        if !valet_protocol::cimd::is_metadata_url(client_id) {
            return self.stored_client(client_id).await;
        }
        match self.metadata_client(client_id, None).await {
            Ok(Lookup::Found(c)) => Ok(Some(c)),
            Ok(_) => Ok(None),
            Err(CimdError::Store(e)) => Err(e),
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        }
    }

    /// As `client`, where a request begins (authorization, client authentication): a
    /// metadata document fetch counts against `caller`, and a refused document says why.
    pub async fn lookup(&self, client_id: &str, caller: IpAddr) -> Result<Lookup, CimdError> {
        if !valet_protocol::cimd::is_metadata_url(client_id) {
            return Ok(match self.stored_client(client_id).await? {
                Some(c) => Lookup::Found(c),
                None => Lookup::Unknown,
            });
        }
        self.metadata_client(client_id, Some(caller)).await
    }

    /// A metadata document client: the document is the source of its registration; an
    /// admin's decision about it (verified, quarantined) is a stored record of origin
    /// `cimd`, whose flags are laid over the document. A stored record of another origin
    /// under an `https` client_id is an admin's registration and wins outright.
    async fn metadata_client(
        &self,
        url: &str,
        caller: Option<IpAddr>,
    ) -> Result<Lookup, CimdError> {
        let stored = self.stored_client(url).await?;
        if let Some(s) = stored
            .as_ref()
            .filter(|s| s.app.registration.origin != Origin::Cimd)
        {
            return Ok(Lookup::Found(s.clone()));
        }
        let api_scopes: Vec<String> = self
            .apis()
            .await?
            .iter()
            .flat_map(|a| a.scopes.iter().map(|s| s.name.clone()))
            .filter(|s| s != ADMIN_SCOPE)
            .collect();
        let now = self.clock.now();
        let mut app = match self.cimd.resolve(url, caller, now, &api_scopes).await {
            Ok(app) => app,
            Err(CimdError::Refused(why)) => return Ok(Lookup::Refused(why)),
            Err(e) => return Err(e),
        };
        if let Some(s) = &stored {
            app.registration.verified = s.app.registration.verified;
            app.registration.quarantined = s.app.registration.quarantined;
        }
        if app.registration.quarantined {
            return Ok(Lookup::Refused(
                "an administrator has put this application in quarantine until approved".into(),
            ));
        }
        Ok(Lookup::Found(Arc::new(ClientRecord {
            app,
            secret: None,
            previous_secret: None,
            created_at: stored.as_ref().map_or(now, |s| s.created_at),
            updated_at: now,
        })))
    }

    async fn stored_client(
        &self,
        client_id: &str,
    ) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        let now = self.clock.now();
        self.clients
            .get(client_id, now, Option::is_some, || async {
                Ok(self.store.client(client_id).await?.map(Arc::new))
            })
            .await
    }

    pub fn forget_client(&self, client_id: &str) {
        self.clients.forget(client_id);
        self.cimd.forget(client_id);
    }

    /// Drops the cached answers about CORS origins: an application registered itself or
    /// was changed through this node, and its browser calls the token endpoint next.
    pub fn forget_origins(&self) {
        self.origins.clear();
    }

    /// Drops the cached APIs: the next request reads them again (an API was registered
    /// through this node).
    pub fn forget_apis(&self) {
        self.apis.clear();
    }

    /// Whether browsers at `origin` may call Valet's API endpoints: the origin of some
    /// application's redirect URI, or one an admin added (CORS). One lookup by key in the
    /// store's index of origins, its answer kept for `cache_ttl`.
    pub async fn is_web_origin(&self, origin: &str) -> Result<bool, StoreError> {
        let now = self.clock.now();
        self.origins
            .get(origin, now, |_| true, || self.store.is_web_origin(origin))
            .await
    }

    /// Every API, Valet's own admin API first.
    pub async fn apis(&self) -> Result<Arc<Vec<Api>>, StoreError> {
        let now = self.clock.now();
        self.apis
            .get(
                "",
                now,
                |_| true,
                || async {
                    let mut all = vec![self.admin_api.clone()];
                    all.extend(self.store.apis().await?.into_iter().map(|r| r.api));
                    Ok(Arc::new(all))
                },
            )
            .await
    }
}
