//! CORS for the endpoints a single-page application calls from its own origin: token,
//! revocation, introspection and UserInfo, for the origins of the applications' registered
//! redirect URIs plus origins an admin added — nothing more — cached per node for
//! `cache_ttl`; and discovery, JWKS and dynamic registration for any origin (`public`):
//! they are public, take no cookies, and a browser-based agent must read them before it
//! has registered anything (MCP clients such as the MCP Inspector run in a browser).
//! Checklist A11 keeps the authorization endpoint and every page out of both.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::Shared;

pub async fn cors(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = match &origin {
        Some(o) => match o.to_str() {
            Ok(text) => state.catalog.is_web_origin(text).await.unwrap_or(false),
            Err(_) => false,
        },
        None => false,
    };
    answer(req, next, origin, allowed).await
}

/// CORS for every origin: discovery, JWKS, registration. No credentials are ever allowed
/// (`Access-Control-Allow-Credentials` is never sent), so a page elsewhere reads only what
/// it could fetch without a browser.
pub async fn public(req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = origin.as_ref().is_some_and(|o| o.to_str().is_ok());
    answer(req, next, origin, allowed).await
}

async fn answer(req: Request, next: Next, origin: Option<HeaderValue>, allowed: bool) -> Response {
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut r = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = r.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if let (Some(origin), true) = (origin, allowed) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, PUT, DELETE"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        } else {
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("www-authenticate, retry-after"),
            );
        }
    }
    r
}
