//! Reading a JWT access token that claims to be Valet's: signature with a published key
//! pinned to its algorithm, then the RFC 9068 checks in `valet_protocol::access_token`.

use valet_protocol::access_token::AccessTokenClaims;

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
