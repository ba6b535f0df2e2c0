//! Every provider a node offers: the file's, fixed at startup, and the database's,
//! reloaded (`Upstreams::reload`).

use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::sync::Semaphore;
use valet_jose::KeySet;
use valet_protocol::UnixTime;

use super::config::{SecretSource, UpstreamSettings};
use super::{CONCURRENT, Provider, UpstreamError, http};

/// Every provider: the file's `[[upstreams]]` (fixed at startup) and those added through
/// the administration (`admin/upstreams.rs`), reloaded from the store when this node
/// changes one and every few seconds otherwise (`reload`). A provider whose settings did
/// not change keeps its state (discovery, keys) across reloads.
#[derive(Default)]
pub struct Upstreams {
    file: Vec<Arc<Provider>>,
    stored: ArcSwap<Vec<Arc<Provider>>>,
    /// Ids a stored provider may not take: user stores' names.
    reserved: Vec<String>,
}

fn provider(s: &UpstreamSettings, secret: String) -> Result<Provider, String> {
    Ok(Provider {
        settings: s.clone(),
        secret,
        http: http::client(s.timeout)?,
        metadata: ArcSwapOption::empty(),
        metadata_lock: tokio::sync::Mutex::new(()),
        keys: ArcSwap::from_pointee(KeySet::default()),
        keys_fetched: tokio::sync::Mutex::new(None),
        down_until: Mutex::new(None),
        gate: Semaphore::new(CONCURRENT),
    })
}

impl Upstreams {
    /// The providers of `settings`, their secrets read (files and environment variables
    /// are read here, by `valet serve` only); `reserved` are the user stores' names.
    pub fn new(settings: &[UpstreamSettings], reserved: Vec<String>) -> Result<Self, String> {
        let mut file = Vec::new();
        for s in settings {
            let secret = match &s.secret {
                SecretSource::Inline(v) => v.clone(),
                SecretSource::File(p) => std::fs::read_to_string(p)
                    .map_err(|e| {
                        format!(
                            "upstreams `{}`: client_secret_file {}: {e}",
                            s.id,
                            p.display()
                        )
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
                SecretSource::Env(v) => std::env::var(v).map_err(|_| {
                    format!("upstreams `{}`: client_secret_env: ${v} is not set", s.id)
                })?,
            };
            file.push(Arc::new(provider(s, secret)?));
        }
        Ok(Self {
            file,
            stored: ArcSwap::from_pointee(Vec::new()),
            reserved,
        })
    }

    /// At startup: each file provider's discovery document. One that names another issuer
    /// is refused (the error says so); one that cannot be reached is logged and tried again
    /// at the first sign-in.
    pub async fn check_at_start(&self, now: UnixTime) -> Result<(), String> {
        for p in &self.file {
            if p.issuer().is_none() {
                continue;
            }
            match p.metadata(now).await {
                Ok(_) => {}
                Err(UpstreamError::Refused(why)) => {
                    return Err(format!("upstreams `{}`: {why}", p.id()));
                }
                Err(UpstreamError::Unavailable { why, .. }) => {
                    // Not held against the first sign-in: it tries again at once.
                    *p.down_until.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    tracing::warn!(
                        upstream = %p.id(),
                        error = %why,
                        "an upstream identity provider is not answering; \
                         its sign-ins wait until it does"
                    );
                }
            }
        }
        Ok(())
    }

    /// Reads the stored providers again. One that does not read or check out, or whose id
    /// is taken, is skipped and logged; a store that cannot answer keeps what was loaded.
    pub async fn reload(&self, store: &dyn valet_store::Store, sealer: &crate::crypto::Sealer) {
        let records = match store.upstream_providers().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "stored upstream providers could not be read");
                return;
            }
        };
        let current = self.stored.load_full();
        let mut next = Vec::with_capacity(records.len());
        for r in &records {
            let settings = match crate::admin::stored_settings(r, |aad, sealed| {
                String::from_utf8(sealer.open(aad, sealed).ok()?).ok()
            }) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "a stored upstream provider is skipped");
                    continue;
                }
            };
            if self.file.iter().any(|f| f.id() == settings.id)
                || self.reserved.contains(&settings.id)
            {
                tracing::warn!(upstream = %settings.id, "a stored upstream provider's id is taken; it is skipped");
                continue;
            }
            let secret = match &settings.secret {
                SecretSource::Inline(s) => s.clone(),
                _ => continue,
            };
            match current.iter().find(|p| p.settings == settings) {
                Some(same) => next.push(same.clone()),
                None => match provider(&settings, secret) {
                    Ok(p) => next.push(Arc::new(p)),
                    Err(e) => tracing::warn!(error = %e, "a stored upstream provider is skipped"),
                },
            }
        }
        self.stored.store(Arc::new(next));
    }

    pub fn get(&self, id: &str) -> Option<Arc<Provider>> {
        self.get_by(|p| p.id() == id)
    }

    /// The first provider, the file's before the stored ones, that `pred` accepts (no list
    /// is built: the login page and every round trip ask).
    pub fn get_by(&self, pred: impl Fn(&Provider) -> bool) -> Option<Arc<Provider>> {
        let stored = self.stored.load();
        self.file
            .iter()
            .chain(stored.iter())
            .find(|p| pred(p))
            .cloned()
    }

    /// The file's providers, then the stored ones.
    pub fn all(&self) -> Vec<Arc<Provider>> {
        let stored = self.stored.load();
        self.file.iter().chain(stored.iter()).cloned().collect()
    }

    /// Home-realm discovery: the provider offered for the domain of `login`, if any.
    pub fn for_login(&self, login: &str) -> Option<Arc<Provider>> {
        self.get_by(|p| p.serves(login))
    }
}
