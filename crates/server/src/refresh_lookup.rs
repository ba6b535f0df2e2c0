//! Finding the refresh token a request presents: by its hash, as stored; or, for a token
//! of a chain's older generation (no longer stored, `protocol::refresh_chain`), by its
//! chain, which knows the token was rotated and so, come back, reused.

use valet_protocol::refresh_chain::{self, Place, Unknown};
use valet_store::{RefreshTokenRecord, StoreError};

use crate::crypto::sha256;
use crate::state::AppState;

pub enum Found {
    /// The token's own record (current, or rotated and kept for the retry window).
    Stored(RefreshTokenRecord),
    /// A token of this chain two or more generations back: rotated long since, now
    /// reused. The record is the chain's newest token (its grant, client and user).
    Reused(RefreshTokenRecord),
    /// Unknown, expired, or not a token Valet issued.
    Nothing,
}

pub async fn find(state: &AppState, token: &str, now: i64) -> Result<Found, StoreError> {
    if let Some(r) = state
        .store
        .refresh_token(&sha256(token.as_bytes()), now)
        .await?
    {
        return Ok(Found::Stored(r));
    }
    Ok(match older_generation(state, token, now).await? {
        Some(head) => Found::Reused(head),
        None => Found::Nothing,
    })
}

/// For a token not stored under its hash: its chain's newest token if it names a
/// generation two or more back (so was rotated, and is now reused).
pub async fn older_generation(
    state: &AppState,
    token: &str,
    now: i64,
) -> Result<Option<RefreshTokenRecord>, StoreError> {
    let Some(place) = Place::of(token) else {
        return Ok(None);
    };
    let Some(head) = state.store.refresh_chain_head(&place.chain, now).await? else {
        return Ok(None);
    };
    Ok(
        match refresh_chain::judge(place.generation, head.generation) {
            Unknown::Reused => Some(head),
            Unknown::Forged => None,
        },
    )
}
