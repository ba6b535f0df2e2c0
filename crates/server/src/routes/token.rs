//! `POST /oauth2/token` (RFC 6749 §3.2, §5). Grants served: client_credentials (§4.4).

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::net::SocketAddr;
use valet_jose::Algorithm;
use valet_protocol::OAuthError;
use valet_protocol::access_token::TYP;
use valet_protocol::application::GrantType;
use valet_protocol::client_credentials::{self, Context};

use crate::client_auth::authenticate;
use crate::crypto::random_token;
use crate::error::{ApiError, no_store};
use crate::form::OAuthForm;
use crate::state::{Shared, now};

/// RFC 6749 §5.1 successful response.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

pub async fn token(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: OAuthForm,
) -> Result<Response, ApiError> {
    let client = authenticate(&state, &form, peer.ip()).await?;
    let grant = form
        .params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    match grant.parse::<GrantType>() {
        Ok(GrantType::ClientCredentials) => {}
        _ => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "this server does not support the {grant} grant"
            ))
            .into());
        }
    }

    let apis = state.catalog.apis().await?;
    let now = now();
    let ctx = Context {
        issuer: &state.settings.issuer,
        default_audience: &state.settings.issuer,
        apis: &apis,
        now,
        access_token_ttl: state.settings.access_token_ttl,
    };
    let jti = random_token(16).map_err(ApiError::Internal)?;
    let claims = client_credentials::decide(&client.app, &form.params, &ctx, jti)?;
    let keys = state.keys.snapshot();
    let signer = keys
        .signer(Algorithm::ES256, now)
        .ok_or_else(|| ApiError::Internal("no ES256 signing key is active".into()))?;
    let access_token = signer
        .sign(TYP, &claims)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::debug!(client_id = %claims.client_id, jti = %claims.jti, "issued access token");
    Ok(no_store(
        Json(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: claims.exp - claims.iat,
            scope: claims.scope,
        })
        .into_response(),
    ))
}
