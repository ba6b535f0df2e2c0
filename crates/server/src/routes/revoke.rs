//! `POST /oauth2/revoke` (RFC 7009). A JWT access token is revoked by recording its `jti`
//! until its `exp`; an opaque access token by deleting it; a refresh token by revoking its
//! whole grant, so the access tokens of that grant read inactive too (§2.1; checklist L7). Unknown tokens, and tokens of
//! another client, get 200 and change nothing (§2.2; docs/security.md L5).

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use valet_protocol::OAuthError;
use valet_protocol::revocation;

use crate::client_auth::authenticate;
use crate::crypto::sha256;
use crate::error::{ApiError, no_store};
use crate::form::OAuthForm;
use crate::refresh_lookup::{self, Found};
use crate::state::Shared;
use crate::tokens::{opaque_access_token, verify_access_token};

pub async fn revoke(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let caller = authenticate(&state, &form, peer.ip(), now).await?;
    let token = form
        .params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    revocation::check_hint(&form.params)?;
    // The hint only orders the lookups; a wrong hint still finds the token (§2.1). An
    // opaque access token, a JWT and a refresh token never share a shape.
    if valet_protocol::opaque_token::looks_opaque(token) {
        if let Some(c) = opaque_access_token(&state, token, now).await? {
            if revocation::may_revoke(&caller.app, &c) {
                state
                    .store
                    .revoke_opaque_access_token(&sha256(token.as_bytes()))
                    .await?;
                tracing::info!(target: "valet::audit", client_id = %c.client_id, jti = %c.jti,
                    "opaque access token revoked");
            }
        }
    } else if let Some(c) = verify_access_token(&state, token, now) {
        if revocation::may_revoke(&caller.app, &c) {
            // The response waits for the commit: a 200 means the revocation is durable.
            state.store.revoke_access_token(&c.jti, c.exp).await?;
            tracing::info!(target: "valet::audit", client_id = %c.client_id, jti = %c.jti, "access token revoked");
        }
    } else if let Found::Stored(r) | Found::Reused(r) =
        refresh_lookup::find(&state, token, now).await?
    {
        // A rotated token (kept, or of an older generation) still names its grant: its
        // revocation ends the family, as its reuse would.
        if r.client_id == caller.app.client_id {
            state
                .store
                .revoke_grant(&r.grant_id, crate::issue::grant_until(&state, now))
                .await?;
            tracing::info!(target: "valet::audit", client_id = %r.client_id, grant_id = %r.grant_id,
                "refresh token revoked with its grant");
            state.audit.event(
                now,
                "grant.revoke",
                format!("client:{}", r.client_id),
                None,
                format!("grant:{}", r.grant_id),
                serde_json::json!({ "by": "refresh token revocation (RFC 7009)" }),
            );
        }
    }
    Ok(no_store(StatusCode::OK.into_response()))
}
