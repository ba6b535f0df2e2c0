//! Applications' logos, fetched by Valet and served from its own origin at
//! `/logo/{client_id}` (issue 15): a page never makes the browser contact a host an
//! application named, and the page CSP keeps `img-src 'self'`. Only the `logo_uri` of an
//! application an admin vouches for is fetched (`consent::vouched_for`, checklist M4), so
//! no caller chooses what Valet fetches; the fetch is the metadata fetcher's
//! (`cimd/fetch.rs`: public addresses only, pinned, TLS verified, no redirects, timeouts),
//! at most `MAX_LOGO_BYTES`, and what comes back must be a PNG, JPEG, GIF or WebP by its
//! bytes (`image.rs`; never a third party's SVG). Kept in memory by the node's clock
//! (`LOGO_TTL`; a failure for `FAILURE_TTL`, so a dead host is not asked on every page),
//! bounded in count and bytes; one fetch per URL however many ask (`Flights`), at most
//! `MAX_FETCHES` at once on a node. A logo not fetched, or not fetchable, is shown as the
//! application's initial.

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use valet_protocol::application::Application;
use valet_protocol::consent;

use crate::catalog::Lookup;
use crate::cimd::cache::{Cache, Flights};
use crate::cimd::fetch::{Fetcher, Target, Wanted};
use crate::clock::Clock;
use crate::state::Shared;

pub const MAX_LOGO_BYTES: usize = 100 * 1024;
/// Seconds a fetched logo is kept, and a failed fetch remembered.
pub const LOGO_TTL: i64 = 3600;
pub const FAILURE_TTL: i64 = 300;
/// Logos kept at most, and the bytes they may hold together.
pub const MAX_LOGOS: usize = 256;
pub const MAX_CACHE_BYTES: usize = 8 * 1024 * 1024;
/// Fetches in progress on one node at most; beyond, the page shows the initial.
pub const MAX_FETCHES: usize = 4;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a page waits for a logo it does not have yet; the fetch goes on past it, for
/// the next page.
pub const PAGE_WAIT: Duration = Duration::from_millis(400);

/// A logo as an application's server gives it; the type is judged by the bytes after.
const IMAGE: Wanted = Wanted {
    what: "the logo",
    accept: "image/png, image/jpeg, image/gif, image/webp",
    media: |m| m.starts_with("image/") || m == "application/octet-stream",
    max_bytes: MAX_LOGO_BYTES,
};

/// What a client_id keeps of itself in a path segment: RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Served to the browser as an image and nothing else: no script, no embedding elsewhere.
const LOGO_CSP: &str = "default-src 'none'; sandbox";

pub struct Logo {
    body: axum::body::Bytes,
    content_type: &'static str,
    /// A digest of the body: in the page's URL, so a changed logo is a new URL.
    version: String,
}

/// What is kept for a URL: the logo, or `None` when its fetch failed.
type Kept = Option<Arc<Logo>>;

pub struct Logos {
    fetcher: Fetcher,
    cache: Cache<Kept>,
    flights: Flights<Kept>,
    fetches: Semaphore,
    clock: Arc<dyn Clock>,
}

impl Logos {
    pub fn new(fetcher: Fetcher, clock: Arc<dyn Clock>) -> Self {
        Self {
            fetcher,
            cache: Cache::bounded(MAX_LOGOS, MAX_CACHE_BYTES),
            flights: Flights::default(),
            fetches: Semaphore::new(MAX_FETCHES),
            clock,
        }
    }

    /// The logo `app` may show: the `logo_uri` of an application an admin vouches for.
    fn source(app: &Application) -> Option<&str> {
        app.logo_uri
            .as_deref()
            .filter(|_| consent::vouched_for(app))
    }

    /// Where a page shows `app`'s logo: Valet's own `/logo/…` once fetched; `None` (the
    /// page shows the initial) when there is none, its fetch failed, or it did not arrive
    /// within `wait` (then it goes on, for the next page).
    pub async fn page_url(self: &Arc<Self>, app: &Application, wait: Duration) -> Option<String> {
        let uri = Self::source(app)?;
        let logo = match self.cache.get(uri, self.clock.now()) {
            Some(kept) => kept?,
            None => {
                let (this, uri) = (self.clone(), uri.to_owned());
                let fetch = tokio::spawn(async move { this.fetch(&uri).await });
                tokio::time::timeout(wait, fetch).await.ok()?.ok()??
            }
        };
        Some(format!(
            "/logo/{}?v={}",
            percent_encoding::utf8_percent_encode(&app.client_id, SEGMENT),
            logo.version
        ))
    }

    /// The logo at `uri`, kept or fetched now.
    async fn get(&self, uri: &str) -> Kept {
        match self.cache.get(uri, self.clock.now()) {
            Some(kept) => kept,
            None => self.fetch(uri).await,
        }
    }

    async fn fetch(&self, uri: &str) -> Kept {
        let outcome = self
            .flights
            .run(uri, || async {
                // A flight that ended between our look and this one kept its outcome.
                if let Some(kept) = self.cache.get(uri, self.clock.now()) {
                    return Ok(kept);
                }
                // Busy: nothing is kept, a later page asks again.
                let _permit = self
                    .fetches
                    .try_acquire()
                    .map_err(|_| "too many logo fetches at once".to_owned())?;
                let kept = match self.download(uri).await {
                    Ok(logo) => Some(Arc::new(logo)),
                    Err(why) => {
                        let shown: String = uri.chars().take(200).collect();
                        tracing::info!(logo_uri = ?shown, reason = %why, "application logo not fetched");
                        None
                    }
                };
                let now = self.clock.now();
                let (ttl, size) = match &kept {
                    Some(logo) => (LOGO_TTL, logo.body.len()),
                    None => (FAILURE_TTL, 0),
                };
                self.cache.insert(uri, kept.clone(), size, now + ttl, now);
                Ok(kept)
            })
            .await;
        outcome.ok().flatten()
    }

    async fn download(&self, uri: &str) -> Result<Logo, String> {
        let target = Target::https(uri).ok_or("the logo_uri is not an https URL")?;
        let fetched = self.fetcher.fetch(&target, &IMAGE).await?;
        let content_type = crate::image::raster_type(&fetched.body)
            .ok_or("the logo is not a PNG, JPEG, GIF or WebP image")?;
        Ok(Logo {
            version: crate::brand::version(&fetched.body),
            body: fetched.body.into(),
            content_type,
        })
    }
}

impl Logo {
    fn response(&self) -> Response {
        let mut r = self.body.clone().into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(LOGO_CSP),
        );
        // Valet's pages only: not an image proxy for other sites.
        h.insert(
            "cross-origin-resource-policy",
            HeaderValue::from_static("same-origin"),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        r
    }
}

/// `GET /logo/{client_id}`: the application's logo, kept or fetched now; 404 when it has
/// none that can be shown.
pub async fn serve(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
) -> Response {
    // A metadata document client is resolved as at the authorization endpoint: a fetch
    // counts against the caller.
    let client = match state.catalog.lookup(&client_id, peer.ip()).await {
        Ok(Lookup::Found(c)) => c,
        Ok(_) | Err(crate::cimd::CimdError::Refused(_)) => {
            return StatusCode::NOT_FOUND.into_response();
        }
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let Some(uri) = Logos::source(&client.app) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match state.logos.get(uri).await {
        Some(logo) => logo.response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
