//! `POST /oauth2/introspect` (RFC 7662). The caller authenticates; the answer for any
//! token that is not live, or not the caller's to see, is `{"active":false}` only.

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use valet_protocol::OAuthError;
use valet_protocol::introspection::{self, Introspection};

use crate::client_auth::authenticate;
use crate::error::{ApiError, no_store};
use crate::form::OAuthForm;
use crate::state::Shared;
use crate::tokens::live_access_token;

pub async fn introspect(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &form, peer.ip()).await?;
    let token = form
        .params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // Fails closed: if the store cannot say, the answer is a 503, never "active".
    let claims = live_access_token(&state, token)
        .await?
        .filter(|c| introspection::may_see(&caller.app, c));
    let body = match &claims {
        Some(c) => Introspection::Active(c),
        None => Introspection::Inactive,
    };
    Ok(no_store(Json(body).into_response()))
}
