//! Reading an access token that claims to be Valet's. A JWT: signature with a published
//! key pinned to its algorithm, then the RFC 9068 checks in `valet_protocol::access_token`.
//! An opaque token: the claims stored under its hash, then `valet_protocol::opaque_token`.

use valet_protocol::access_token::{AccessTokenClaims, OWN_EXP_LEEWAY};
use valet_protocol::id_token::HintClaims;
use valet_protocol::opaque_token;
use valet_protocol::scope::Scope;
use valet_protocol::withdraw::{self, Narrowed};
use valet_store::StoreError;

use crate::crypto::sha256;
use crate::error::ApiError;
use crate::state::AppState;

/// The claims of a live access token issued by this Valet, or `None`. Revocation is not
/// checked here: callers that need it ask the store.
pub fn verify_access_token(state: &AppState, token: &str, now: i64) -> Option<AccessTokenClaims> {
    let header = valet_jose::header(token).ok()?;
    let kid = header.kid.as_deref()?;
    let keys = state.keys.snapshot();
    let key = keys.verifier(kid, now)?;
    let payload = key.verify(token, &header).ok()?;
    let claims: AccessTokenClaims = serde_json::from_slice(&payload).ok()?;
    // Valet's own clock issued the token: it is dead at `exp`, no leeway (issue 12 item 8).
    match claims.check(
        header.typ.as_deref(),
        &state.settings.issuer,
        now,
        OWN_EXP_LEEWAY,
    ) {
        Ok(()) => Some(claims),
        Err(why) => {
            tracing::debug!(reason = why, "access token refused");
            None
        }
    }
}

/// The claims stored for an opaque access token that is live by its own record: known,
/// not revoked (revoking deletes it), not expired, of this issuer. Its grant is not
/// checked here. `None` for anything that is not shaped like an opaque token.
pub async fn opaque_access_token(
    state: &AppState,
    token: &str,
    now: i64,
) -> Result<Option<AccessTokenClaims>, StoreError> {
    if !opaque_token::looks_opaque(token) {
        return Ok(None);
    }
    let Some(record) = state
        .store
        .opaque_access_token(&sha256(token.as_bytes()), now)
        .await?
    else {
        return Ok(None);
    };
    let claims: AccessTokenClaims = serde_json::from_str(&record.claims)
        .map_err(|e| StoreError::Corrupt(format!("opaque access token claims: {e}")))?;
    Ok(opaque_token::is_active(&claims, &state.settings.issuer, now).then_some(claims))
}

/// A token that is live right now: a JWT that verifies and passes the RFC 9068 checks and
/// is not revoked, or an opaque token found in the store; its application still exists
/// (within the catalog's `cache_ttl`) and its grant, if any, is not revoked. Store trouble
/// is an error (callers answer 503): a token is never "live" by default.
pub async fn live_access_token(
    state: &AppState,
    token: &str,
    now: i64,
) -> Result<Option<AccessTokenClaims>, StoreError> {
    let opaque = opaque_token::looks_opaque(token);
    let claims = if opaque {
        opaque_access_token(state, token, now).await?
    } else {
        verify_access_token(state, token, now)
    };
    let Some(claims) = claims else {
        return Ok(None);
    };
    if state.catalog.client(&claims.client_id).await?.is_none() {
        return Ok(None);
    }
    // A revoked opaque token is gone from the store already; a JWT's revocation is a record.
    // Both, and the grant's standing, in one read.
    let jti = (!opaque).then_some(claims.jti.as_str());
    if jti.is_none() && claims.grant_id.is_none() {
        return Ok(Some(claims));
    }
    let (revoked, g) = state
        .store
        .access_token_standing(jti, claims.grant_id.as_deref())
        .await?;
    if revoked {
        return Ok(None);
    }
    // A user's token dies with its grant: consent withdrawn, code replayed, refresh token
    // reused (checklist D1, G1); and with a scope of it the user withdrew, if it was
    // minted before or carries it (`withdraw::access_token_stands`).
    if claims.grant_id.is_some() {
        if g.revoked {
            return Ok(None);
        }
        let narrowed = g
            .narrowed
            .map(|(scope, at)| (Scope::parse(&scope).unwrap_or_default(), at));
        let narrowed = narrowed
            .as_ref()
            .map(|(scope, at)| Narrowed { scope, at: *at });
        if !withdraw::access_token_stands(claims.scope.as_deref(), claims.iat, narrowed) {
            return Ok(None);
        }
    }
    Ok(Some(claims))
}

/// Whether the user a live token acts for may still use it. A user's token (it carries a
/// grant: code, refresh, password or implicit) is live only while its user exists and may
/// sign in, asked of their store each time, a directory included (ARCHITECTURE invariant
/// 10; issue 12 item 9). A token without a grant (client_credentials) has no user to ask. A
/// store that cannot answer is an error (503), never a yes.
pub async fn users_token_is_live(
    state: &AppState,
    claims: &AccessTokenClaims,
) -> Result<bool, ApiError> {
    if claims.grant_id.is_none() {
        return Ok(true);
    }
    Ok(state.users.by_sub(&claims.sub).await?.is_some())
}

/// The claims of an `id_token_hint`: one of this issuer's ID tokens, verified with a
/// published key pinned to its algorithm (so `alg: none`, a foreign key or a tampered
/// token fail; a rotated-out key still published works). Expiry does not matter for a
/// hint (OIDC Core §3.1.2.1).
pub fn verify_id_token_hint(state: &AppState, token: &str, now: i64) -> Option<HintClaims> {
    let header = valet_jose::header(token).ok()?;
    let kid = header.kid.as_deref()?;
    let keys = state.keys.snapshot();
    let key = keys.verifier(kid, now)?;
    let payload = key.verify(token, &header).ok()?;
    let claims: HintClaims = serde_json::from_slice(&payload).ok()?;
    claims
        .check(header.typ.as_deref(), &state.settings.issuer)
        .ok()?;
    Some(claims)
}
