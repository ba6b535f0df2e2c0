//! Authenticates the application behind a request (RFC 6749 §2.3.1): reads what it
//! presented, finds its registration, checks the method and the secret.

use std::net::IpAddr;
use std::sync::Arc;
use valet_protocol::OAuthError;
use valet_protocol::client_auth::{self, Presented};
use valet_store::ClientRecord;

use crate::error::ApiError;
use crate::form::OAuthForm;
use crate::state::{AppState, now};

/// Same message for every failure, so a caller learns nothing about which part was wrong.
const FAILED: &str = "client authentication failed";

pub async fn authenticate(
    state: &AppState,
    form: &OAuthForm,
    ip: IpAddr,
) -> Result<Arc<ClientRecord>, ApiError> {
    let presented = client_auth::presented(form.authorization.as_deref(), &form.params)?;
    let client_id = presented.client_id();
    state.throttle.check(client_id, ip).map_err(|secs| {
        ApiError::Throttled(secs, "too many failed client authentications; retry later")
    })?;
    let result = verify(state, &presented).await;
    if let Err(ApiError::OAuth(e)) = &result {
        if e.code == valet_protocol::ErrorCode::InvalidClient {
            state.throttle.failed(client_id, ip);
            // The id is caller-supplied: quoted (escaped) and cut short in the log.
            let shown: String = client_id.chars().take(64).collect();
            tracing::info!(target: "valet::audit", client_id = ?shown, %ip, "client authentication failed");
        }
    }
    result
}

async fn verify(state: &AppState, presented: &Presented) -> Result<Arc<ClientRecord>, ApiError> {
    let Some(client) = state.catalog.client(presented.client_id()).await? else {
        // Spend the same HMAC as a real check so unknown ids do not answer faster.
        if let Some(secret) = presented.secret() {
            let _ = state.hasher.hash(secret);
        }
        return Err(OAuthError::invalid_client(FAILED).into());
    };
    client_auth::check_method(&client.app, presented)?;
    if let Presented::Basic { secret, .. } | Presented::Post { secret, .. } = presented {
        let current = client
            .secret
            .as_ref()
            .is_some_and(|h| state.hasher.verify(secret, h));
        let previous = client
            .previous_secret
            .as_ref()
            .is_some_and(|(h, until)| now() < *until && state.hasher.verify(secret, h));
        if !(current || previous) {
            return Err(OAuthError::invalid_client(FAILED).into());
        }
    }
    Ok(client)
}
