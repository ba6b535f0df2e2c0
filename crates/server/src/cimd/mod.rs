//! Client ID Metadata Documents, the server half: a client_id that is an `https` URL is
//! resolved cache → fetch → validate (`valet_protocol::cimd`). Anyone can send such a
//! client_id, so every fetch is bounded: per caller address in the store's throttle
//! (`PER_ADDRESS` per `WINDOW`, shared by every node; 429 with `Retry-After`), at most
//! `MAX_FETCHES` at once on a node (then 503), one fetch per URL however many ask
//! (`cache::Flights`), each within `CONNECT_TIMEOUT` / `TOTAL_TIMEOUT` and 5 KB
//! (`fetch.rs`), only from public addresses (`addr.rs`).

pub mod addr;
pub mod cache;
pub mod fetch;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use valet_protocol::application::Application;
use valet_protocol::{UnixTime, cimd};
use valet_store::{Store, StoreError, ThrottleDecision, ThrottleRule};

use crate::crypto::{SecretHasher, b64};
use crate::throttle::address_key;

/// Fetches one address may cause per window (cache hits are free), and the window.
pub const PER_ADDRESS: u32 = 30;
pub const WINDOW: i64 = 60;
/// Fetches in progress on one node at most.
pub const MAX_FETCHES: usize = 16;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a metadata client could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum CimdError {
    /// The URL, the fetch or the document is not acceptable; the sentence says why.
    #[error("{0}")]
    Refused(String),
    /// This address caused too many fetches; retry after so many seconds.
    #[error("too many metadata document fetches from this address")]
    Throttled(u64),
    /// `MAX_FETCHES` are under way on this node.
    #[error("too many metadata document fetches at once")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Cimd {
    store: Arc<dyn Store>,
    fetcher: fetch::Fetcher,
    cache: cache::Cache,
    flights: cache::Flights,
    fetches: Semaphore,
    /// Keys the throttle counters (no address is stored).
    hasher: SecretHasher,
}

impl Cimd {
    pub fn new(store: Arc<dyn Store>, fetcher: fetch::Fetcher, hasher: SecretHasher) -> Self {
        Self {
            store,
            fetcher,
            cache: cache::Cache::default(),
            flights: cache::Flights::default(),
            fetches: Semaphore::new(MAX_FETCHES),
            hasher,
        }
    }

    /// The application the document at `url` describes, from the cache or fetched now.
    /// `caller` is the address a fetch is counted against (`None` for rechecks of a
    /// request that was counted when it began). `api_scopes`: `cimd::application`.
    pub async fn resolve(
        &self,
        url: &str,
        caller: Option<IpAddr>,
        now: UnixTime,
        api_scopes: &[String],
    ) -> Result<Application, CimdError> {
        let parsed = cimd::parse_client_id(url).map_err(CimdError::Refused)?;
        let body = match self.cache.get(url, now) {
            Some(body) => body,
            None => {
                if let Some(ip) = caller {
                    self.count(ip, now).await?;
                }
                let _permit = self.fetches.try_acquire().map_err(|_| CimdError::Busy)?;
                self.flights
                    .run(url, || async {
                        let fetched = self
                            .fetcher
                            .fetch(&(&parsed).into(), &fetch::METADATA_DOCUMENT)
                            .await?;
                        // Checked before it is kept: a bad document is never cached.
                        cimd::application(url, &fetched.body, api_scopes)?;
                        let body = Arc::new(fetched.body);
                        if let Some(ttl) = cimd::cache_ttl(fetched.cache_control.as_deref()) {
                            let size = body.len();
                            self.cache.insert(url, body.clone(), size, now + ttl, now);
                        }
                        Ok(body)
                    })
                    .await
                    .map_err(|why| {
                        // The URL is the caller's: quoted (escaped) and cut short.
                        let shown: String = url.chars().take(200).collect();
                        tracing::info!(target: "valet::audit", client_id = ?shown,
                            ip = ?caller, reason = %why, "metadata document refused");
                        CimdError::Refused(why)
                    })?
            }
        };
        cimd::application(url, &body, api_scopes).map_err(CimdError::Refused)
    }

    /// Drops the kept document of `url` (an admin changed what Valet knows about it).
    pub fn forget(&self, url: &str) {
        self.cache.forget(url);
    }

    async fn count(&self, ip: IpAddr, now: UnixTime) -> Result<(), CimdError> {
        let rule = ThrottleRule {
            key: b64(&self
                .hasher
                .hash(&format!("cimd-fetch\u{0}{}", address_key(ip)))
                .0),
            window: WINDOW,
            limit: PER_ADDRESS,
            free: u32::MAX,
            max_spacing: 0,
        };
        match self.store.throttle_attempt(&[rule], now).await? {
            ThrottleDecision::Allowed => Ok(()),
            ThrottleDecision::Refused { retry_after } => {
                tracing::info!(target: "valet::audit", %ip, retry_after,
                    "metadata document fetches throttled");
                Err(CimdError::Throttled(
                    u64::try_from(retry_after).unwrap_or(1),
                ))
            }
        }
    }
}

impl From<CimdError> for crate::error::ApiError {
    fn from(e: CimdError) -> Self {
        use crate::error::ApiError;
        match e {
            CimdError::Refused(why) => {
                ApiError::OAuth(valet_protocol::OAuthError::invalid_client(why))
            }
            CimdError::Throttled(secs) => ApiError::Throttled(
                secs,
                "too many metadata document fetches from this address; retry later",
            ),
            CimdError::Busy => ApiError::Throttled(
                1,
                "too many metadata document fetches at once; retry shortly",
            ),
            CimdError::Store(e) => ApiError::Store(e),
        }
    }
}
