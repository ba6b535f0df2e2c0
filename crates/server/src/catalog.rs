//! Per-node caches of applications and APIs. Each entry lives at most `cache_ttl`
//! seconds, which bounds how long a deleted application or a rotated secret can still work
//! on a node that did not make the change (the node that made it drops its entry at once).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use valet_protocol::audience::{Api, ApiScope};
use valet_store::{ClientRecord, Store, StoreError};

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
}

impl Catalog {
    pub fn new(store: Arc<dyn Store>, ttl: Duration, admin_audience: String) -> Self {
        Self {
            store,
            ttl,
            admin_api: Api {
                audience: admin_audience,
                scopes: vec![ApiScope {
                    name: ADMIN_SCOPE.into(),
                    description: "Manage Valet: applications, APIs and keys".into(),
                }],
                access_token_format: Default::default(),
                // Valet's own audience: only a token's own application introspects it.
                introspectors: vec![],
            },
            clients: RwLock::new(HashMap::new()),
            apis: RwLock::new(None),
            origins: RwLock::new(None),
        }
    }

    pub async fn client(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        if let Ok(map) = self.clients.read() {
            if let Some((at, c)) = map.get(client_id) {
                if at.elapsed() < self.ttl {
                    return Ok(Some(c.clone()));
                }
            }
        }
        let Some(record) = self.store.client(client_id).await? else {
            self.forget_client(client_id);
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
        if let Ok(guard) = self.origins.read() {
            if let Some((at, set)) = guard.as_ref() {
                if at.elapsed() < self.ttl {
                    return Ok(set.contains(origin));
                }
            }
        }
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
