//! `POST /oauth2/token` (RFC 6749 §3.2, §5): authenticate the application, then one file
//! per grant. Every answer, success or error, is JSON with `Cache-Control: no-store`
//! (RFC 6749 §5.1, checklist F3).

mod authorization_code;
mod client_credentials;
mod device_code;
mod jwt_bearer;
mod password;
mod refresh_token;
mod token_exchange;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use valet_protocol::OAuthError;
use valet_protocol::application::GrantType;

use crate::client_auth::authenticate;
use crate::dpop;
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
    // RFC 9449 §5: a proof binds the tokens to its key; some applications must send one.
    let token_url = format!("{}/oauth2/token", state.settings.issuer);
    let at = dpop::At {
        method: "POST",
        uri: &token_url,
        access_token: None,
        nonce: true,
        fapi2: client.app.is_fapi2() || state.settings.fapi2,
    };
    let proof = dpop::check(&state, &form.dpop, &at, now).await?;
    if proof.is_none() && (client.app.requires_dpop() || state.settings.fapi2) {
        return Err(valet_protocol::dpop::invalid(
            "this application's tokens are bound to a DPoP key: send a DPoP proof with the \
             token request (RFC 9449 §5)",
        )
        .into());
    }
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
    let (app, params) = (&client.app, &form.params);
    let parsed = grant.parse::<GrantType>();
    let response: TokenResponse = match parsed {
        Ok(GrantType::ClientCredentials) => {
            client_credentials::grant(&state, app, params, jkt, now).await?
        }
        Ok(GrantType::AuthorizationCode) => {
            authorization_code::grant(&state, app, params, jkt, now).await?
        }
        Ok(GrantType::RefreshToken) => refresh_token::grant(&state, app, params, jkt, now).await?,
        Ok(GrantType::Password) => {
            password::grant(&state, app, params, jkt, peer.ip(), now).await?
        }
        Ok(GrantType::DeviceCode) => device_code::grant(&state, app, params, jkt, now).await?,
        Ok(GrantType::TokenExchange) => {
            token_exchange::grant(&state, app, params, jkt, peer.ip(), now).await?
        }
        Ok(GrantType::JwtBearer) => {
            jwt_bearer::grant(&state, app, params, jkt, peer.ip(), now).await?
        }
        Ok(GrantType::Implicit) | Err(_) => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "this server does not support the {grant} grant at the token endpoint"
            ))
            .into());
        }
    };
    if let Ok(g) = parsed {
        state.metrics.issued(&crate::metrics::IssuedTokens {
            grant: grant_label(g),
            // A JWT has two dots (RFC 7515 §7.1); an opaque token, being base64url, none.
            access_format: if response.access_token.contains('.') {
                "jwt"
            } else {
                "opaque"
            },
            refresh: response.refresh_token.is_some(),
            id_token: response.id_token.is_some(),
        });
    }
    Ok(no_store(Json(response).into_response()))
}

/// The grant as a metric label: short, one of a fixed few.
fn grant_label(g: GrantType) -> &'static str {
    match g {
        GrantType::AuthorizationCode => "authorization_code",
        GrantType::ClientCredentials => "client_credentials",
        GrantType::RefreshToken => "refresh_token",
        GrantType::Password => "password",
        GrantType::DeviceCode => "device_code",
        GrantType::TokenExchange => "token_exchange",
        GrantType::JwtBearer => "jwt_bearer",
        GrantType::Implicit => "implicit",
    }
}
