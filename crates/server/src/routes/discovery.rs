//! `/.well-known/openid-configuration`, `/.well-known/oauth-authorization-server`
//! (RFC 8414 §3) and `/oauth2/jwks` (RFC 7517 §5).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use valet_protocol::discovery;

use crate::catalog::ADMIN_SCOPE;
use crate::error::ApiError;
use crate::fault::Fault;
use crate::state::Shared;

pub async fn metadata(State(state): State<Shared>) -> Result<Response, ApiError> {
    let apis = state.catalog.apis().await?;
    let scopes = apis
        .iter()
        .flat_map(|a| a.scopes.iter().map(|s| s.name.clone()))
        .filter(|s| s != ADMIN_SCOPE)
        .collect();
    let mut metadata = discovery::metadata(&state.settings.issuer, scopes);
    metadata.require_pushed_authorization_requests = state.settings.require_par;
    // Dynamic client registration (issue 14), unless the operator turned it off.
    if state.settings.registration.mode != crate::registration::Mode::Off {
        metadata.registration_endpoint = Some(format!("{}/oauth2/register", state.settings.issuer));
    }
    let mut body = serde_json::to_value(metadata).map_err(Fault::encode("discovery metadata"))?;
    // Claims a user store adds (a directory's groups) are supported too: the metadata
    // tells the truth (OIDC Discovery §3).
    if let Some(list) = body
        .get_mut("claims_supported")
        .and_then(serde_json::Value::as_array_mut)
    {
        for claim in state.users.extra_claims() {
            let claim = serde_json::Value::String(claim);
            if !list.contains(&claim) {
                list.push(claim);
            }
        }
    }
    let mut r = axum::Json(body).into_response();
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
