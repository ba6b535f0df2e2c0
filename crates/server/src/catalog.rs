//! Per-node caches of applications and APIs. Each entry lives at most `cache_ttl`
//! seconds, which bounds how long a deleted application or a rotated secret can still work
//! on a node that did not make the change (the node that made it drops its entry at once).
//! A client_id that is an `https` URL is a Client ID Metadata Document client, resolved
//! through `cimd/` (`metadata_client`).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use valet_protocol::application::Origin;
use valet_protocol::audience::{Api, ApiScope};
use valet_store::{ClientRecord, Store, StoreError};

use crate::cimd::{Cimd, CimdError};
use crate::clock::Clock;

/// The scope of Valet's own admin API.
pub use valet_protocol::scope::ADMIN_SCOPE;

/// Entries beyond this many are dropped wholesale: unknown client ids are never cached,
/// and the map cannot grow without bound.
const MAX_CLIENTS: usize = 10_000;

pub struct Catalog {
    store: Arc<dyn Store>,
    ttl: Duration,
    admin_api: Api,
    clients: RwLock<HashMap<String, (Instant, Arc<ClientRecord>)>>,
    apis: RwLock<Option<(Instant, Arc<Vec<Api>>)>>,
    origins: RwLock<Option<(Instant, Arc<HashSet<String>>)>>,
    /// Held while the origins are read from every application: one rebuild at a time on
    /// a node (single flight), never one per request that finds the set expired.
    origins_rebuild: tokio::sync::Mutex<()>,
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
        Self {
            cimd,
            clock,
            store,
            ttl,
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
            },
            clients: RwLock::new(HashMap::new()),
            apis: RwLock::new(None),
            origins: RwLock::new(None),
            origins_rebuild: tokio::sync::Mutex::new(()),
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
        if let Ok(map) = self.clients.read() {
            if let Some((at, c)) = map.get(client_id) {
                if at.elapsed() < self.ttl {
                    return Ok(Some(c.clone()));
                }
            }
        }
        let Some(record) = self.store.client(client_id).await? else {
            if let Ok(mut map) = self.clients.write() {
                map.remove(client_id);
            }
            return Ok(None);
        };
        let record = Arc::new(record);
        if let Ok(mut map) = self.clients.write() {
            if map.len() >= MAX_CLIENTS {
                map.clear();
            }
            map.insert(client_id.to_owned(), (Instant::now(), record.clone()));
        }
        Ok(Some(record))
    }

    pub fn forget_client(&self, client_id: &str) {
        if let Ok(mut map) = self.clients.write() {
            map.remove(client_id);
        }
        self.cimd.forget(client_id);
    }

    /// Drops the cached CORS origins: an application registered itself through this node,
    /// and its browser calls the token endpoint next.
    pub fn forget_origins(&self) {
        if let Ok(mut guard) = self.origins.write() {
            *guard = None;
        }
    }

    /// Drops the cached APIs: the next request reads them again (an API was registered
    /// through this node).
    pub fn forget_apis(&self) {
        if let Ok(mut guard) = self.apis.write() {
            *guard = None;
        }
    }

    /// Whether browsers at `origin` may call Valet's API endpoints: the origin of some
    /// application's redirect URI, or one an admin added (CORS).
    pub async fn is_web_origin(&self, origin: &str) -> Result<bool, StoreError> {
        let cached = || {
            self.origins.read().ok().and_then(|g| {
                g.as_ref()
                    .map(|(at, set)| (at.elapsed() < self.ttl, set.clone()))
            })
        };
        let stale = match cached() {
            Some((true, set)) => return Ok(set.contains(origin)),
            Some((false, set)) => Some(set),
            None => None,
        };
        // Expired: one caller rebuilds; the others answer from the set it replaces (stale
        // by at most one rebuild) rather than each reading every application. With no set
        // yet, they wait for the one being built.
        let _rebuilding = match (self.origins_rebuild.try_lock(), &stale) {
            (Ok(guard), _) => guard,
            (Err(_), Some(set)) => return Ok(set.contains(origin)),
            (Err(_), None) => {
                let guard = self.origins_rebuild.lock().await;
                if let Some((_, set)) = cached().filter(|(fresh, _)| *fresh) {
                    return Ok(set.contains(origin));
                }
                guard
            }
        };
        let set: HashSet<String> = self
            .store
            .clients()
            .await?
            .iter()
            .flat_map(|c| c.app.web_origins())
            .collect();
        let found = set.contains(origin);
        if let Ok(mut guard) = self.origins.write() {
            *guard = Some((Instant::now(), Arc::new(set)));
        }
        Ok(found)
    }

    /// Every API, Valet's own admin API first.
    pub async fn apis(&self) -> Result<Arc<Vec<Api>>, StoreError> {
        if let Ok(guard) = self.apis.read() {
            if let Some((at, apis)) = guard.as_ref() {
                if at.elapsed() < self.ttl {
                    return Ok(apis.clone());
                }
            }
        }
        let mut all = vec![self.admin_api.clone()];
        all.extend(self.store.apis().await?.into_iter().map(|r| r.api));
        let all = Arc::new(all);
        if let Ok(mut guard) = self.apis.write() {
            *guard = Some((Instant::now(), all.clone()));
        }
        Ok(all)
    }
}
