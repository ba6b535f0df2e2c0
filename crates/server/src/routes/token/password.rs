//! The resource owner password credentials grant (RFC 6749 §4.3). Legacy (RFC 9700 §2.4):
//! off unless an admin enabled it for a confidential application, and guarded by the same
//! per-account and per-address backoff as the login page (checklist H1). An unknown user
//! and a wrong password get the same answer after the same work.

use std::net::IpAddr;
use valet_protocol::OAuthError;
use valet_protocol::application::{Application, GrantType};
use valet_protocol::audience;
use valet_protocol::params::Params;
use valet_protocol::scope::Scope;
use valet_store::GrantRecord;

use crate::crypto::random_token;
use crate::error::ApiError;
use crate::issue::{self, ForUser, TokenResponse};
use crate::state::AppState;

pub async fn grant(
    state: &AppState,
    app: &Application,
    params: &Params,
    ip: IpAddr,
    now: i64,
) -> Result<TokenResponse, ApiError> {
    if !app.is_confidential() || !app.allows_grant(GrantType::Password) {
        return Err(OAuthError::unauthorized_client(
            "this application may not use the password grant",
        )
        .into());
    }
    let (Some(username), Some(password)) = (params.get("username"), params.get("password")) else {
        return Err(OAuthError::invalid_request("username and password are required").into());
    };
    let requested = params.get("scope").map(Scope::parse).transpose()?;
    let apis = state.catalog.apis().await?;
    let resources: Vec<&str> = params.all("resource").collect();
    let selection = audience::select(
        requested.as_ref(),
        &resources,
        &app.allowed_scopes(),
        &apis,
        &state.settings.issuer,
    )?;
    let user = crate::routes::login::check_password(state, username, password, ip, now)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the username or password is wrong"))?;
    let grant_id = random_token(16).map_err(ApiError::Internal)?;
    state
        .store
        .insert_grant(&GrantRecord {
            grant_id: grant_id.clone(),
            client_id: app.client_id.clone(),
            user_id: user.id.clone(),
            scope: selection.scope.to_wire(),
            session: None,
            created_at: now,
            expires_at: issue::grant_until(state, now),
        })
        .await?;
    let t = ForUser {
        app,
        user: &user,
        grant_id: &grant_id,
        selection: &selection,
        auth_time: now,
        nonce: None,
    };
    let refresh = issue::stored_refresh_token(state, &t, now).await?;
    tracing::info!(target: "valet::audit", client_id = %app.client_id, sub = %user.id, "password grant");
    issue::response(state, &t, now, refresh).await
}
