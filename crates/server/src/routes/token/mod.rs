//! `POST /oauth2/token` (RFC 6749 §3.2, §5): authenticate the application, then one file
//! per grant. Every answer, success or error, is JSON with `Cache-Control: no-store`
//! (RFC 6749 §5.1, checklist F3).

mod authorization_code;
mod client_credentials;
mod device_code;
mod password;
mod refresh_token;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use valet_protocol::OAuthError;
use valet_protocol::application::GrantType;

use crate::client_auth::authenticate;
use crate::error::{ApiError, no_store};
use crate::form::OAuthForm;
use crate::issue::TokenResponse;
use crate::state::Shared;

pub async fn token(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let client = authenticate(&state, &form, peer.ip(), now).await?;
    // Quarantine (issue 14): registered, unusable until an admin approves.
    if client.app.registration.quarantined {
        return Err(OAuthError::unauthorized_client(crate::registration::QUARANTINED).into());
    }
    let grant = form
        .params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    // RFC 6749 §5.2: a grant this application may not use is `unauthorized_client`
    // (checklist F10), whatever else is wrong with the request.
    if let Ok(g) = grant.parse::<GrantType>() {
        if g != GrantType::Implicit && !client.app.allows_grant(g) {
            return Err(OAuthError::unauthorized_client(format!(
                "this application may not use the {grant} grant"
            ))
            .into());
        }
    }
    let response: TokenResponse = match grant.parse::<GrantType>() {
        Ok(GrantType::ClientCredentials) => {
            client_credentials::grant(&state, &client.app, &form.params, now).await?
        }
        Ok(GrantType::AuthorizationCode) => {
            authorization_code::grant(&state, &client.app, &form.params, now).await?
        }
        Ok(GrantType::RefreshToken) => {
            refresh_token::grant(&state, &client.app, &form.params, now).await?
        }
        Ok(GrantType::Password) => {
            password::grant(&state, &client.app, &form.params, peer.ip(), now).await?
        }
        Ok(GrantType::DeviceCode) => {
            device_code::grant(&state, &client.app, &form.params, now).await?
        }
        Ok(GrantType::Implicit) | Err(_) => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "this server does not support the {grant} grant at the token endpoint"
            ))
            .into());
        }
    };
    Ok(no_store(Json(response).into_response()))
}
