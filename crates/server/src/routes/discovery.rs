//! `/.well-known/openid-configuration`, `/.well-known/oauth-authorization-server`
//! (RFC 8414 §3) and `/oauth2/jwks` (RFC 7517 §5).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use valet_protocol::discovery;

use crate::catalog::ADMIN_SCOPE;
use crate::error::ApiError;
use crate::state::Shared;

pub async fn metadata(State(state): State<Shared>) -> Result<Response, ApiError> {
    let apis = state.catalog.apis().await?;
    let scopes = apis
        .iter()
        .flat_map(|a| a.scopes.iter().map(|s| s.name.clone()))
        .filter(|s| s != ADMIN_SCOPE)
        .collect();
    let mut r = axum::Json(discovery::metadata(&state.settings.issuer, scopes)).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(r)
}

pub async fn jwks(State(state): State<Shared>) -> Response {
    let keys = state.keys.snapshot();
    let mut r = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        keys.jwks().to_owned(),
    )
        .into_response();
    if let Ok(v) =
        HeaderValue::from_str(&format!("public, max-age={}", state.settings.jwks_max_age))
    {
        r.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    r
}
