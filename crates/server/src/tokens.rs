//! Reading a JWT access token that claims to be Valet's: signature with a published key
//! pinned to its algorithm, then the RFC 9068 checks in `valet_protocol::access_token`.

use valet_protocol::access_token::AccessTokenClaims;
use valet_store::StoreError;

use crate::state::{AppState, now};

/// The claims of a live access token issued by this Valet, or `None`. Revocation is not
/// checked here: callers that need it ask the store.
pub fn verify_access_token(state: &AppState, token: &str) -> Option<AccessTokenClaims> {
    let header = valet_jose::header(token).ok()?;
    let kid = header.kid.as_deref()?;
    let now = now();
    let keys = state.keys.snapshot();
    let key = keys.verifier(kid, now)?;
    let payload = key.verify(token, &header).ok()?;
    let claims: AccessTokenClaims = serde_json::from_slice(&payload).ok()?;
    match claims.check(header.typ.as_deref(), &state.settings.issuer, now) {
        Ok(()) => Some(claims),
        Err(why) => {
            tracing::debug!(reason = why, "access token refused");
            None
        }
    }
}

/// A token that is live right now: it verifies, passes the RFC 9068 checks, its
/// application still exists (within the catalog's `cache_ttl`), and it is not revoked.
/// Store trouble is an error (callers answer 503): a token is never "live" by default.
pub async fn live_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<AccessTokenClaims>, StoreError> {
    let Some(claims) = verify_access_token(state, token) else {
        return Ok(None);
    };
    if state.catalog.client(&claims.client_id).await?.is_none() {
        return Ok(None);
    }
    if state.store.is_access_token_revoked(&claims.jti).await? {
        return Ok(None);
    }
    Ok(Some(claims))
}
