//! DPoP proofs at Valet's own endpoints (RFC 9449): the token and PAR endpoints (§5,
//! §10.1) and UserInfo (§7). One `DPoP` header, a JWS signed by the public key in its own
//! header (valet-jose), the claims `protocol::dpop` checks, a nonce when configured
//! (§8: stateless, an HMAC of the current five-minute window, so every node gives and
//! accepts the same ones), and a `jti` used once across nodes (§11.1: the store
//! remembers it for the proof's window).

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use valet_protocol::UnixTime;
use valet_protocol::dpop::{self, Expected, ProofClaims};

use crate::crypto::{b64, sha256};
use crate::error::ApiError;
use crate::state::AppState;

/// The header a proof travels in, and the one a nonce is given in.
pub const DPOP: HeaderName = HeaderName::from_static("dpop");
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");
/// How long one nonce window lasts; the current and the previous one are accepted.
const NONCE_WINDOW: i64 = 300;
/// The algorithms a proof may be signed with (discovery's
/// `dpop_signing_alg_values_supported`).
pub const ALGS: &[&str] = &["ES256", "PS256", "EdDSA", "RS256"];

/// A checked proof: the RFC 7638 thumbprint of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
    /// The proof's `alg`.
    pub alg: String,
}

/// FAPI 2.0 Security Profile §5.4.1: PS256, ES256 or EdDSA, never RS256.
pub fn fapi2_allows(alg: &str) -> bool {
    alg != "RS256"
}

/// The request's `DPoP` header values.
pub fn headers(h: &HeaderMap) -> Vec<Vec<u8>> {
    h.get_all(DPOP)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect()
}

/// Where a proof is checked.
pub struct At<'a> {
    pub method: &'a str,
    /// The endpoint's URL (issuer + path).
    pub uri: &'a str,
    /// The access token sent with the proof (UserInfo), for `ath`.
    pub access_token: Option<&'a str>,
    /// Whether this endpoint asks for a nonce when the server is configured to.
    pub nonce: bool,
    /// The caller follows the FAPI 2.0 profile (its algorithms only).
    pub fapi2: bool,
}

/// The proof of a request, if it sent one. Errors are `invalid_dpop_proof` or
/// `use_dpop_nonce` (with a fresh `DPoP-Nonce`).
pub async fn check(
    state: &AppState,
    values: &[Vec<u8>],
    at: &At<'_>,
    now: UnixTime,
) -> Result<Option<Proof>, ApiError> {
    let value = match values {
        [] => return Ok(None),
        [one] => one,
        _ => return Err(dpop::invalid("send one DPoP header, not several").into()),
    };
    let token = std::str::from_utf8(value)
        .map_err(|_| ApiError::from(dpop::invalid("the DPoP header is not a JWT")))?;
    let jws = valet_jose::verify_embedded_jwk(token.trim())
        .map_err(|e| ApiError::from(dpop::invalid(format!("the DPoP proof: {e}"))))?;
    if !ALGS.contains(&jws.header.alg.as_str()) {
        return Err(dpop::invalid("the DPoP proof's alg is not one this server accepts").into());
    }
    if at.fapi2 && !fapi2_allows(&jws.header.alg) {
        return Err(dpop::invalid(
            "under the FAPI 2.0 profile a DPoP proof is signed with PS256, ES256 or EdDSA",
        )
        .into());
    }
    let claims: ProofClaims = serde_json::from_slice(&jws.payload)
        .map_err(|_| ApiError::from(dpop::invalid("the DPoP proof's claims are malformed")))?;
    let ath = at.access_token.map(|t| b64(sha256(t.as_bytes()).as_ref()));
    let accepted = dpop::check(
        jws.header.typ.as_deref(),
        &claims,
        &Expected {
            method: at.method,
            uri: at.uri,
            ath: ath.as_deref(),
            now,
        },
    )?;
    if at.nonce && state.settings.dpop_nonce {
        let fresh = accepted
            .nonce
            .as_deref()
            .is_some_and(|n| nonce_is_valid(state, n, now));
        if !fresh {
            return Err(with_nonce(state, dpop::use_nonce().into(), now));
        }
    }
    let id = format!(
        "{}:{}",
        jws.thumbprint,
        b64(sha256(accepted.jti.as_bytes()).as_ref())
    );
    if !state.store.first_use("dpop", &id, accepted.until).await? {
        return Err(
            dpop::invalid("this DPoP proof was used before: make a new one per request").into(),
        );
    }
    Ok(Some(Proof {
        jkt: jws.thumbprint,
        alg: jws.header.alg,
    }))
}

/// The nonce of the window `now` is in (§8.1).
pub fn nonce(state: &AppState, now: UnixTime) -> String {
    nonce_of(state, now.div_euclid(NONCE_WINDOW))
}

fn nonce_of(state: &AppState, window: i64) -> String {
    b64(&state.dpop_nonces.hash(&format!("dpop-nonce:{window}")).0[..18])
}

fn nonce_is_valid(state: &AppState, n: &str, now: UnixTime) -> bool {
    let w = now.div_euclid(NONCE_WINDOW);
    n == nonce_of(state, w) || n == nonce_of(state, w - 1)
}

/// `error` with the `DPoP-Nonce` to use next.
pub fn with_nonce(state: &AppState, error: ApiError, now: UnixTime) -> ApiError {
    match HeaderValue::from_str(&nonce(state, now)) {
        Ok(v) => error.with_header(DPOP_NONCE, v),
        Err(_) => error,
    }
}
