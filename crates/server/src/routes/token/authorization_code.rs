//! The authorization_code grant (RFC 6749 §4.1.3–§4.1.4, RFC 7636 §4.6). The store redeems
//! a code once, atomically; a second redemption revokes everything the first one issued
//! (RFC 6749 §4.1.2, §10.5; checklist D1, D2). A code whose grant was revoked, or whose
//! browser session ended, before it came back yields nothing (issue 12 item 5).

use valet_protocol::OAuthError;
use valet_protocol::application::Application;
use valet_protocol::authorization_code::{self, CodeDetails};
use valet_protocol::params::Params;
use valet_store::CodeUse;

use crate::crypto::{s256, sha256};
use crate::error::ApiError;
use crate::fault::Fault;
use crate::issue::{self, TokenResponse};
use crate::state::AppState;

const INVALID: &str = "the authorization code is invalid, expired or already used (a code \
                       works once, within 60 seconds, and reusing it revokes the tokens it \
                       issued); start a new authorization request";
// The message names the code lifetime.
const _: () = assert!(authorization_code::CODE_TTL == 60);

pub async fn grant(
    state: &AppState,
    app: &Application,
    params: &Params,
    jkt: Option<&str>,
    now: i64,
) -> Result<TokenResponse, ApiError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let (record, standing) = match state
        .store
        .consume_code(&sha256(code.as_bytes()), now)
        .await?
    {
        CodeUse::Fresh(r, standing) => (r, standing),
        CodeUse::Replayed(r) => {
            // Someone holds a copy of a used code: end the whole grant it started.
            state
                .store
                .revoke_grant(&r.grant_id, issue::grant_until(state, now))
                .await?;
            tracing::warn!(target: "valet::audit", client_id = %r.client_id, grant_id = %r.grant_id,
                "authorization code used twice; its grant is revoked");
            state.audit.event(
                now,
                "code.replay",
                format!("client:{}", r.client_id),
                None,
                format!("grant:{}", r.grant_id),
                serde_json::json!({ "grant_revoked": true }),
            );
            return Err(OAuthError::invalid_grant(INVALID).into());
        }
        CodeUse::Unknown => return Err(OAuthError::invalid_grant(INVALID).into()),
    };
    let details: CodeDetails =
        serde_json::from_str(&record.details).map_err(Fault::corrupt("code"))?;
    authorization_code::check(app, &record.client_id, &details, params, s256)?;
    authorization_code::check_dpop(&details, jkt)?;
    // The code is burned; it yields tokens only if its grant and its session still stood
    // when it was (read in the redemption's own transaction, so a racing replay that
    // revokes the grant afterwards does not undo the one winner: checklist D2).
    if let Err(e) = authorization_code::grant_still_stands(standing) {
        tracing::info!(target: "valet::audit", client_id = %app.client_id, grant_id = %record.grant_id,
            revoked = standing.revoked, session_ended = standing.session_ended,
            "authorization code refused: its grant or session ended before it was redeemed");
        return Err(e.into());
    }
    let user = issue::grant_user(state, &details.user_id).await?;
    let mut issuance = authorization_code::issuance(app, &details, &record.grant_id);
    issuance.bind_dpop(jkt, !app.is_confidential());
    let issued = issue::execute(state, app, &issuance, None, now)
        .await?
        .issued()?;
    tracing::info!(target: "valet::audit", client_id = %app.client_id, sub = %user.id,
        grant_id = %record.grant_id, "authorization code redeemed");
    issued.response()
}
