//! The client_credentials grant (RFC 6749 §4.4): no user, no refresh token (§4.4.3).

use valet_protocol::application::Application;
use valet_protocol::client_credentials;
use valet_protocol::params::Params;

use crate::error::ApiError;
use crate::issue::{self, TokenResponse};
use crate::state::AppState;

pub async fn grant(
    state: &AppState,
    app: &Application,
    params: &Params,
    jkt: Option<&str>,
    now: i64,
) -> Result<TokenResponse, ApiError> {
    let apis = state.catalog.apis().await?;
    let mut issuance = client_credentials::decide(app, params, &apis, &state.settings.issuer)?;
    issuance.bind_dpop(jkt, false);
    issue::execute(state, app, &issuance, None, now)
        .await?
        .issued()?
        .response()
}
