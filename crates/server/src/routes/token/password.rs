//! The resource owner password credentials grant (RFC 6749 §4.3). Legacy (RFC 9700 §2.4):
//! off unless an admin enabled it for a confidential application, and guarded by the same
//! per-account and per-address backoff as the login page (checklist H1). An unknown user
//! and a wrong password get the same answer after the same work. A user with a second
//! factor, or one where a second factor is required, cannot use it (issue 16).

use std::net::IpAddr;
use valet_protocol::OAuthError;
use valet_protocol::application::Application;
use valet_protocol::mfa;
use valet_protocol::params::Params;
use valet_protocol::password;
use valet_store::GrantRecord;

use crate::crypto::random_token;
use crate::error::ApiError;
use crate::issue::{self, TokenResponse};
use crate::state::AppState;

pub async fn grant(
    state: &AppState,
    app: &Application,
    params: &Params,
    jkt: Option<&str>,
    ip: IpAddr,
    now: i64,
) -> Result<TokenResponse, ApiError> {
    let apis = state.catalog.apis().await?;
    let request = password::decide(app, params, &apis, &state.settings.issuer)?;
    let user = crate::users::check_password(state, request.username, request.password(), ip, now)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the username or password is wrong"))?;
    // A password alone never stands in for a second factor (issue 16): not for a user who
    // has one, nor where one is required.
    let policy = state.settings.mfa;
    if policy == mfa::Policy::Required
        || (policy != mfa::Policy::Off
            && (app.require_mfa || crate::mfa::enrolled(state, &user.id).await?))
        || (policy == mfa::Policy::Off && app.require_mfa)
    {
        return Err(OAuthError::invalid_grant(
            "this sign-in needs a second factor, which the password grant cannot carry; \
             use the authorization code flow",
        )
        .into());
    }
    let grant_id = random_token(16)?;
    state
        .store
        .insert_grant(&GrantRecord {
            grant_id: grant_id.clone(),
            client_id: app.client_id.clone(),
            user_id: user.id.clone(),
            scope: request.selection.scope.to_wire(),
            session: None,
            created_at: now,
            expires_at: issue::grant_until(state, now),
        })
        .await?;
    let mut issuance = request.issuance(app, &user.id, &grant_id, now);
    issuance.bind_dpop(jkt, !app.is_confidential());
    let issued = issue::execute(state, app, &issuance, None, now)
        .await?
        .issued()?;
    tracing::info!(target: "valet::audit", client_id = %app.client_id, sub = %user.id, "password grant");
    issued.response()
}
