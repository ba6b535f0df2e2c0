//! The refresh_token grant (RFC 6749 §6; RFC 9700 §4.14.2). Public applications' tokens
//! rotate on every use (configurable for all). Of concurrent uses of one token exactly one
//! rotates it (the store decides, atomically). A retry within `refresh_retry_window` gets
//! the very pair the first use got, so a second tab or a lost response does not sign the
//! user out; a reuse after the window revokes the whole family (checklist G1-G3).

use valet_protocol::OAuthError;
use valet_protocol::application::Application;
use valet_protocol::params::Params;
use valet_protocol::refresh::{self, Decision, RefreshDetails, Reuse};
use valet_protocol::scope::Scope;
use valet_protocol::withdraw;
use valet_store::RefreshTokenRecord;

use crate::crypto::sha256;
use crate::error::ApiError;
use crate::fault::Fault;
use crate::issue::{self, Executed, TokenResponse};
use crate::refresh_lookup;
use crate::state::AppState;

const INVALID: &str = "the refresh token is invalid, expired, revoked or was issued to another \
                       application; sign the user in again to get a new one";

pub async fn grant(
    state: &AppState,
    app: &Application,
    params: &Params,
    jkt: Option<&str>,
    now: i64,
) -> Result<TokenResponse, ApiError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    // The token and its grant's standing in one read.
    let (record, grant) = match state
        .store
        .refresh_token_standing(&sha256(token.as_bytes()), now)
        .await?
    {
        Some(found) => found,
        None => {
            // A token rotated two or more generations ago: reuse, whatever the window.
            // Only its own application's use revokes the family; another's learns
            // nothing (G4).
            return match refresh_lookup::older_generation(state, token, now).await? {
                Some(head) if head.client_id == app.client_id => {
                    reused(state, &head, None, None, now).await
                }
                _ => Err(OAuthError::invalid_grant(INVALID).into()),
            };
        }
    };
    let mut details: RefreshDetails =
        serde_json::from_str(&record.details).map_err(Fault::corrupt("refresh token"))?;
    // A scope the user withdrew on /account is gone from this refresh and its successor.
    if let Some((scope, _)) = &grant.narrowed {
        details = withdraw::refresh_within(&details, &Scope::parse(scope).unwrap_or_default());
    }
    // RFC 9449 §5: a public application's refresh token bound to a DPoP key is used
    // only with a proof of that key (another application's learns nothing: G4).
    if record.client_id == app.client_id {
        if let Some(bound) = details.dpop_jkt.as_deref() {
            if jkt != Some(bound) {
                return Err(valet_protocol::dpop::invalid(
                    "this refresh token is bound to a DPoP key: send a DPoP proof signed by it",
                )
                .into());
            }
        }
    }
    let apis = state.catalog.apis().await?;
    let presented = refresh::Presented {
        client_id: &record.client_id,
        user_id: &record.user_id,
        grant_id: &record.grant_id,
        grant_revoked: grant.revoked,
        rotated_at: record.rotated_at,
        details: &details,
    };
    let policy = refresh::Policy {
        // FAPI 2.0 §5.3.2.1: no rotation for (confidential) fapi2 applications.
        rotates: state.settings.refresh_token_rotation.rotates(app) && !app.is_fapi2(),
        retry_window: state.settings.refresh_retry_window,
    };
    let issuance = match refresh::decide(
        app,
        &presented,
        params,
        &apis,
        &state.settings.issuer,
        policy,
        now,
    )? {
        // Another client learns nothing and can neither rotate nor revoke it (G4).
        Decision::Reject => return Err(OAuthError::invalid_grant(INVALID).into()),
        // Answered at once, without minting tokens that could never be sent.
        Decision::Revoke => {
            let at = record.rotated_at.unwrap_or(now);
            return reused(state, &record, Some(at), None, now).await;
        }
        // A retry goes on below all the same: the rotation statement refuses it and
        // hands back the winner's response.
        Decision::Retry(i) | Decision::Rotate(i) | Decision::Reissue(i) => i,
    };
    let mut issuance = issuance;
    issuance.bind_dpop(jkt, !app.is_confidential());
    issue::grant_user(state, &record.user_id).await?;
    match issue::execute(state, app, &issuance, Some(token), now).await? {
        Executed::Issued(issued) => issued.response(),
        Executed::AlreadyRotated { at, successor } => {
            reused(state, &record, Some(at), successor, now).await
        }
        Executed::RefreshTokenGone => Err(OAuthError::invalid_grant(INVALID).into()),
    }
}

/// A rotated token came back: a retry within the window gets the winner's response
/// again; anything else revokes the family. `rotated_at` is `None` for a token of an
/// older generation (no longer stored, so never retried).
async fn reused(
    state: &AppState,
    record: &RefreshTokenRecord,
    rotated_at: Option<i64>,
    successor: Option<Vec<u8>>,
    now: i64,
) -> Result<TokenResponse, ApiError> {
    let window = state.settings.refresh_retry_window;
    if rotated_at.is_some_and(|at| refresh::on_reuse(at, now, window) == Reuse::Retry) {
        if let Some(response) =
            successor.and_then(|s| issue::open_response(state, record.hash.as_bytes(), &s))
        {
            tracing::info!(client_id = %record.client_id, grant_id = %record.grant_id,
                "refresh token retried within the window; same pair returned");
            return Ok(response);
        }
    }
    state
        .store
        .revoke_grant(&record.grant_id, issue::grant_until(state, now))
        .await?;
    state.metrics.refresh_reused();
    tracing::warn!(target: "valet::audit", client_id = %record.client_id, sub = %record.user_id,
        grant_id = %record.grant_id, "rotated refresh token reused; its whole family is revoked");
    state.audit.event(
        now,
        "refresh_token.reuse",
        format!("client:{}", record.client_id),
        None,
        format!("grant:{}", record.grant_id),
        serde_json::json!({ "sub": record.user_id, "grant_revoked": true }),
    );
    Err(OAuthError::invalid_grant(INVALID).into())
}
