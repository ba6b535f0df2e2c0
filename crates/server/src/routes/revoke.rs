//! `POST /oauth2/revoke` (RFC 7009). A JWT access token is revoked by recording its `jti`
//! until its `exp`. Unknown tokens, and tokens of another client, get 200 and change
//! nothing (§2.2; docs/security.md L5).

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use valet_protocol::OAuthError;
use valet_protocol::revocation;

use crate::client_auth::authenticate;
use crate::error::{ApiError, no_store};
use crate::form::OAuthForm;
use crate::state::Shared;
use crate::tokens::verify_access_token;

pub async fn revoke(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &form, peer.ip()).await?;
    let token = form
        .params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    revocation::check_hint(&form.params)?;
    if let Some(c) = verify_access_token(&state, token) {
        if revocation::may_revoke(&caller.app, &c) {
            // The response waits for the commit: a 200 means the revocation is durable.
            state.store.revoke_access_token(&c.jti, c.exp).await?;
            tracing::info!(target: "valet::audit", client_id = %c.client_id, jti = %c.jti, "access token revoked");
        }
    }
    Ok(no_store(StatusCode::OK.into_response()))
}
