//! `/admin/api/…`: the admin REST API, a thin face over `crate::admin::Admin` (issue 15).
//!
//! Who may call: a live access token whose `aud` is `{issuer}/admin/api` and whose scope
//! holds `valet:admin` (RFC 6750 §3.1 errors otherwise), or the browser session of a
//! user with a role (`viewer` reads, `admin` changes). A session caller's changes must
//! come from Valet's own origin (`Origin` or `Sec-Fetch-Site`) and carry the session's
//! CSRF token in `X-CSRF-Token`: a cookie alone never changes anything.
//!
//! Shapes: JSON bodies; lists are JSON arrays, paginated by `limit` with a `Link: <…>;
//! rel="next"` header (RFC 8288) when more follow; a single record carries an `ETag`,
//! and `PATCH` with `If-Match` fails with 412 when the record changed meanwhile; a value
//! that breaks a rule answers 400 with `fields: {name: message}`. One file per resource;
//! openapi.rs describes them all at `/admin/api/openapi.json`.

use axum::Json;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::extract::rejection::JsonRejection;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::net::SocketAddr;
use valet_protocol::user::Role;
use valet_protocol::{ErrorCode, OAuthError};

use crate::admin::{Actor, Admin, AdminError};
use crate::catalog::ADMIN_SCOPE;
use crate::error::ApiError;
use crate::state::Shared;
use crate::tokens::{live_access_token, users_token_is_live};

mod apis;
mod audit;
mod clients;
mod explain;
mod grants;
pub(crate) mod keys;
pub mod openapi;
mod upstreams;
mod users;

pub fn router() -> Router<Shared> {
    Router::new()
        .merge(clients::router())
        .merge(apis::router())
        .merge(users::router())
        .merge(keys::router())
        .merge(grants::router())
        .merge(audit::router())
        .merge(upstreams::router())
        .merge(explain::router())
        .route("/openapi.json", axum::routing::get(openapi::document))
}

/// Who is calling, with what role, and the request's `now` (the clock is read once, here).
pub struct AdminCaller {
    pub actor: Actor,
    pub role: Role,
    pub now: i64,
    state: Shared,
}

impl AdminCaller {
    /// Administration as this caller: read-only unless the caller's role is `admin`.
    pub fn admin(&self) -> Admin {
        self.state.admin(self.actor.clone())
    }

    pub fn sealer(&self) -> &crate::crypto::Sealer {
        &self.state.sealer
    }

    pub fn settings(&self) -> &crate::config::Settings {
        &self.state.settings
    }

    /// As `admin`, for a change: a viewer gets 403.
    pub fn change(&self) -> Result<Admin, ApiError> {
        if !self.role.can_write() {
            return Err(ApiError::Forbidden(
                "your role is viewer: you can read, not change".into(),
            ));
        }
        Ok(self.admin())
    }
}

impl FromRequestParts<Shared> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let now = state.clock.now();
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let invalid =
            |d: &'static str| ApiError::Bearer(OAuthError::new(ErrorCode::InvalidToken, d), None);
        let Some(header) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return by_session(parts, state, now, address).await;
        };
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .ok_or_else(|| invalid("use the Bearer scheme"))?;
        let claims = live_access_token(state, token, now)
            .await?
            .ok_or_else(|| invalid("the access token is not valid"))?;
        let admin_aud = state.settings.admin_audience();
        if !claims.aud.contains(&admin_aud) || !claims.has_scope(ADMIN_SCOPE) {
            return Err(ApiError::Bearer(
                OAuthError::new(
                    ErrorCode::InsufficientScope,
                    "the token lacks the valet:admin scope",
                ),
                Some(ADMIN_SCOPE),
            ));
        }
        // A user's token dies with the user (issue 12 item 9).
        if !users_token_is_live(state, &claims).await? {
            return Err(invalid("the access token is not valid"));
        }
        Ok(Self {
            actor: Actor::client(&claims.client_id, address),
            role: Role::Admin,
            now,
            state: state.clone(),
        })
    }
}

/// A browser session of a user with a role (the console's own calls).
async fn by_session(
    parts: &Parts,
    state: &Shared,
    now: i64,
    address: Option<String>,
) -> Result<AdminCaller, ApiError> {
    let missing = || {
        ApiError::Bearer(
            OAuthError::new(
                ErrorCode::InvalidToken,
                "a Bearer access token with the valet:admin scope is required",
            ),
            None,
        )
    };
    let browser = crate::session::Browser::from_headers(state, &parts.headers, now)
        .await?
        .ok_or_else(missing)?;
    // Asked of the user's store at each request (`Browser::from_headers`): a role taken
    // away, or a directory group left, counts at once.
    let role = browser.user.role;
    if !role.can_read() {
        return Err(ApiError::Forbidden(
            "this account has no administrative role".into(),
        ));
    }
    if crate::routes::console::needs_two_factors(state, &browser) {
        return Err(ApiError::Forbidden(
            "administration from a browser needs a session signed in with two factors \
             (an authenticator app's code or a passkey)"
                .into(),
        ));
    }
    if parts.method != Method::GET && parts.method != Method::HEAD {
        let same_origin = parts
            .headers
            .get("sec-fetch-site")
            .map(|v| v == "same-origin")
            .or_else(|| {
                parts
                    .headers
                    .get(header::ORIGIN)
                    .map(|o| o.as_bytes() == issuer_origin(&state.settings.issuer).as_bytes())
            })
            .unwrap_or(false);
        let csrf = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        if !same_origin || !browser.check_csrf(state, csrf) {
            return Err(ApiError::Forbidden(
                "a change from a browser session must come from this server's own pages, \
                 with the session's X-CSRF-Token"
                    .into(),
            ));
        }
    }
    Ok(AdminCaller {
        actor: Actor::user(&browser.user.username, address),
        role,
        now,
        state: state.clone(),
    })
}

/// `https://host[:port]` of the issuer (RFC 6454 §6.1 serialization).
fn issuer_origin(issuer: &str) -> &str {
    let after_scheme = issuer.find("://").map_or(0, |i| i + 3);
    match issuer[after_scheme..].find('/') {
        Some(i) => &issuer[..after_scheme + i],
        None => issuer,
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(m) => ApiError::BadInput(m),
            AdminError::Field { field, message } => ApiError::Field { field, message },
            AdminError::NotFound(m) => ApiError::NotFound(m),
            AdminError::Conflict(m) => ApiError::Conflict(m),
            AdminError::Stale(what) => ApiError::Stale(e_stale(what)),
            AdminError::Store(e) => ApiError::Store(e),
            AdminError::Internal(f) => ApiError::Internal(f),
        }
    }
}

fn e_stale(what: &str) -> String {
    format!("the {what} changed since it was read (If-Match); read it again and retry")
}

pub(super) fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::BadInput(e.body_text()))
}

/// `If-Match`, when sent: one entity tag (a list or `*` is refused rather than guessed).
pub(super) fn if_match(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::BadInput("If-Match must be one entity tag".into()))?
        .trim();
    if v.contains(',') || v == "*" || !v.starts_with('"') {
        return Err(ApiError::BadInput(
            "If-Match must be one strong entity tag, as the ETag header gave it".into(),
        ));
    }
    Ok(Some(v.to_owned()))
}

/// One record as JSON with its `ETag`.
pub(super) fn tagged(v: &impl Serialize) -> Response {
    let mut r = Json(v).into_response();
    if let Ok(tag) = HeaderValue::from_str(&crate::admin::etag(v)) {
        r.headers_mut().insert(header::ETAG, tag);
    }
    r
}

/// The query of a list: `limit` (default 100, at most `MAX_PAGE`) and the other
/// parameters, each at most once.
pub(super) struct ListQuery {
    pub params: Vec<(String, String)>,
    pub limit: u32,
}

impl ListQuery {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut params: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if params.iter().any(|(seen, _)| *seen == k) {
                return Err(ApiError::BadInput(format!("{k} is given more than once")));
            }
            params.push((k.into_owned(), v.into_owned()));
        }
        let q = Self { params, limit: 0 };
        let limit = match q.get("limit") {
            None => 100,
            Some(l) => l
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=crate::admin::MAX_PAGE).contains(l))
                .ok_or_else(|| {
                    ApiError::BadInput(format!(
                        "limit must be between 1 and {}",
                        crate::admin::MAX_PAGE
                    ))
                })?,
        };
        Ok(Self { limit, ..q })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A page of a list: the items, and when there may be more, a `Link` to the next page
/// (the same query with `cursor` set to `next`).
pub(super) fn page<T: Serialize>(
    path: &str,
    q: &ListQuery,
    items: Vec<T>,
    next: Option<String>,
) -> Response {
    let link = next_link(path, q, items.len(), next);
    let mut r = Json(items).into_response();
    if let Some(l) = link {
        r.headers_mut().insert(header::LINK, l);
    }
    r
}

/// `Link: <…>; rel="next"` when the page is full (RFC 8288 §3).
pub(super) fn next_link(
    path: &str,
    q: &ListQuery,
    count: usize,
    next: Option<String>,
) -> Option<HeaderValue> {
    let cursor = next.filter(|_| count as u64 >= u64::from(q.limit))?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &q.params {
        if k != "cursor" {
            query.append_pair(k, v);
        }
    }
    query.append_pair("cursor", &cursor);
    HeaderValue::from_str(&format!(
        "</admin/api{path}?{}>; rel=\"next\"",
        query.finish()
    ))
    .ok()
}

/// A list held whole (applications, users, APIs): the page after `cursor` (a key of the
/// previous page's last item), at most `limit`.
pub(super) fn window<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    q: &ListQuery,
) -> (Vec<T>, Option<String>) {
    let start = match q.get("cursor") {
        Some(c) => items.iter().position(|i| key(i) == c).map_or(0, |p| p + 1),
        None => 0,
    };
    let page: Vec<T> = items
        .into_iter()
        .skip(start)
        .take(q.limit as usize)
        .collect();
    let next = page.last().map(&key);
    (page, next)
}
