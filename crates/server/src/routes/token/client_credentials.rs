//! The client_credentials grant (RFC 6749 §4.4): no user, no refresh token (§4.4.3).

use valet_protocol::application::Application;
use valet_protocol::client_credentials::{self, Context};
use valet_protocol::params::Params;

use crate::crypto::random_token;
use crate::error::ApiError;
use crate::issue::{self, TokenResponse};
use crate::state::AppState;

pub async fn grant(
    state: &AppState,
    app: &Application,
    params: &Params,
    now: i64,
) -> Result<TokenResponse, ApiError> {
    let apis = state.catalog.apis().await?;
    let ctx = Context {
        issuer: &state.settings.issuer,
        default_audience: &state.settings.issuer,
        apis: &apis,
        now,
        access_token_ttl: state.settings.access_token_ttl,
    };
    let jti = random_token(16).map_err(ApiError::Internal)?;
    let claims = client_credentials::decide(app, params, &ctx, jti)?;
    let access_token = issue::mint_access_token(state, app, &claims, now).await?;
    tracing::debug!(client_id = %claims.client_id, jti = %claims.jti, "issued access token");
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: claims.exp - claims.iat,
        scope: claims.scope,
        refresh_token: None,
        id_token: None,
    })
}
