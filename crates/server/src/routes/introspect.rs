//! `POST /oauth2/introspect` (RFC 7662). The caller authenticates; the answer for any
//! token that is not live, or not the caller's to see, is `{"active":false}` only. Access
//! tokens and refresh tokens are both understood, whatever `token_type_hint` says. Who may
//! see what is `valet_protocol::introspection`'s: an access token its own application and
//! the introspectors of the APIs in its `aud`; a refresh token its own application only.

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use valet_protocol::OAuthError;
use valet_protocol::introspection::{self, Introspection, RefreshView};
use valet_protocol::refresh::RefreshDetails;
use valet_protocol::scope::Scope;
use valet_protocol::withdraw;

use crate::client_auth::authenticate;
use crate::error::{ApiError, no_store};
use crate::fault::Fault;
use crate::form::OAuthForm;
use crate::refresh_lookup::{self, Found};
use crate::state::Shared;
use crate::tokens::{live_access_token, users_token_is_live};

pub async fn introspect(
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
    // Fails closed: if the store (or a user's directory) cannot say, the answer is a 503,
    // never "active".
    let claims = live_access_token(&state, token, now).await?;
    let claims = match claims {
        Some(c) if c.client_id == caller.app.client_id => Some(c),
        Some(c) => {
            // RFC 7662 §2.2, §4: only the token's own application and its audience's
            // introspectors learn anything about it (issue 12 item 6).
            let apis = state.catalog.apis().await?;
            let admin = state.settings.admin_audience();
            let own = [state.settings.issuer.as_str(), admin.as_str()];
            introspection::may_see(&caller.app, &c, &apis, &own).then_some(c)
        }
        None => None,
    };
    if let Some(c) = &claims {
        // A deleted or disabled user's token is dead (issue 12 item 9), and says no more
        // than any other inactive token.
        if !users_token_is_live(&state, c).await? {
            return Ok(inactive());
        }
        return Ok(no_store(Json(Introspection::Active(c)).into_response()));
    }
    // Not a live access token: perhaps a refresh token (not rotated, grant not revoked).
    // A token of a chain's older generation was rotated: inactive like any other.
    let refresh = match refresh_lookup::find(&state, token, now).await? {
        Found::Stored(r)
            if r.rotated_at.is_none()
                && introspection::may_see_refresh_token(&caller.app, &r.client_id) =>
        {
            let g = state.store.grant_scope(&r.grant_id).await?;
            (!g.revoked).then_some((r, g.narrowed))
        }
        _ => None,
    };
    let Some((r, narrowed)) = refresh else {
        return Ok(inactive());
    };
    if state.users.by_sub(&r.user_id).await?.is_none() {
        return Ok(inactive());
    }
    let mut details: RefreshDetails =
        serde_json::from_str(&r.details).map_err(Fault::corrupt("refresh token"))?;
    // What it yields now: a scope the user withdrew is not shown.
    if let Some((scope, _)) = &narrowed {
        details = withdraw::refresh_within(&details, &Scope::parse(scope).unwrap_or_default());
    }
    let scope = details.scope.to_wire();
    let view = Introspection::Refresh(RefreshView {
        scope: &scope,
        client_id: &r.client_id,
        sub: &r.user_id,
        iat: r.issued_at,
        exp: r.expires_at,
    });
    Ok(no_store(Json(view).into_response()))
}

/// RFC 7662 §2.2: an inactive token is `{"active":false}` and nothing else.
fn inactive() -> Response {
    no_store(Json(Introspection::Inactive).into_response())
}
