//! The device_code grant (RFC 8628 §3.4–§3.5): a device polls with its device code. The
//! rules of each answer are `protocol::device::poll`'s; here the poll is recorded (a
//! `slow_down` raises the interval for that device code) and an approved code is
//! redeemed by one atomic statement, so of any number of concurrent polls exactly one
//! gets tokens. A device code of another application reads exactly like a made-up one.

use valet_protocol::OAuthError;
use valet_protocol::application::Application;
use valet_protocol::device::{self, DeviceDetails, Poll, PollState, invalid_device_code};
use valet_protocol::params::Params;

use crate::crypto::sha256;
use crate::error::ApiError;
use crate::fault::Fault;
use crate::issue::{self, TokenResponse};
use crate::state::AppState;

pub async fn grant(
    state: &AppState,
    app: &Application,
    params: &Params,
    jkt: Option<&str>,
    now: i64,
) -> Result<TokenResponse, ApiError> {
    let code = params
        .get("device_code")
        .ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
    let hash = sha256(code.as_bytes());
    let Some(record) = state.store.device_code(&hash).await? else {
        return Err(invalid_device_code().into());
    };
    if record.client_id != app.client_id {
        tracing::warn!(target: "valet::audit", client_id = %app.client_id,
            "device code of another application presented");
        return Err(invalid_device_code().into());
    }
    let seen = PollState {
        status: record.status,
        interval: record.interval,
        last_poll_at: record.last_poll_at,
        expires_at: record.expires_at,
        redeemed: record.redeemed_at.is_some(),
    };
    let answer = device::poll(&seen, now);
    match answer {
        Poll::Issue => {}
        Poll::Pending => {
            // Another poll recorded in between: this one came too soon.
            let recorded = state
                .store
                .record_device_poll(&hash, record.last_poll_at, record.interval, now)
                .await?;
            let answer = if recorded {
                answer
            } else {
                Poll::SlowDown {
                    interval: record.interval,
                }
            };
            return Err(answer.error().unwrap_or_else(invalid_device_code).into());
        }
        Poll::SlowDown { interval } => {
            state
                .store
                .record_device_poll(&hash, record.last_poll_at, interval, now)
                .await?;
            return Err(answer.error().unwrap_or_else(invalid_device_code).into());
        }
        Poll::Denied | Poll::Expired | Poll::Redeemed => {
            return Err(answer.error().unwrap_or_else(invalid_device_code).into());
        }
    }
    // The one statement that decides which poll gets the tokens; a loser reads as a code
    // already redeemed.
    let Some(record) = state.store.redeem_device_code(&hash, now).await? else {
        return Err(invalid_device_code().into());
    };
    let (Some(user_id), Some(grant_id), Some(auth_time)) =
        (&record.user_id, &record.grant_id, record.auth_time)
    else {
        return Err(ApiError::invariant(
            "an approved device code without its user or grant",
        ));
    };
    // Withdrawn in the meantime (the account page, an admin): nothing is issued.
    if state.store.is_grant_revoked(grant_id).await? {
        return Err(OAuthError::invalid_grant("the user withdrew this authorization").into());
    }
    let details: DeviceDetails =
        serde_json::from_str(&record.details).map_err(Fault::corrupt("device code"))?;
    // The registration may have narrowed since the request.
    if let Some(s) = details.scope.first_outside(&app.allowed_scopes()) {
        return Err(OAuthError::invalid_scope(format!(
            "this application may no longer request the scope {s}"
        ))
        .into());
    }
    let user = issue::grant_user(state, user_id).await?;
    let mut issuance = details.issuance(app, &user.id, grant_id, auth_time, &record.amr);
    issuance.bind_dpop(jkt, !app.is_confidential());
    let issued = issue::execute(state, app, &issuance, None, now)
        .await?
        .issued()?;
    tracing::info!(target: "valet::audit", client_id = %app.client_id, sub = %user.id,
        grant_id = %grant_id, "device code redeemed");
    issued.response()
}
