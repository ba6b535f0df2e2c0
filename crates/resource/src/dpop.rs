//! DPoP at an API (RFC 9449 §7): a request under the `DPoP` scheme carries, beside its
//! access token, a proof signed by the key the token is bound to (`cnf.jkt`), made for
//! this very request (method, URI, `ath` of the token), fresh, and used once. The proof
//! is checked on every request — a token found in the verified-token cache still needs
//! its proof — by the rules `valet_protocol::dpop` shares with Valet. One API process
//! remembers the proofs it accepted for their window, bounded in number (fail closed:
//! when full of live proofs, new ones are refused until some expire).

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use valet_protocol::UnixTime;
use valet_protocol::dpop::{self, Expected, ProofClaims};

/// The algorithms a proof may be signed with (the challenge's `algs`).
pub const ALGS: &str = "ES256 PS256 EdDSA RS256";
/// Most proofs remembered at once.
const MAX_REMEMBERED: usize = 100_000;

/// Proofs already accepted: `jkt:jti` → until when.
#[derive(Default)]
pub(crate) struct Replays {
    seen: Mutex<HashMap<String, UnixTime>>,
}

impl Replays {
    /// True the first time; false for a replay, or when full of live proofs.
    fn first_use(&self, id: String, until: UnixTime, now: UnixTime) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        if seen.get(&id).is_some_and(|t| now <= *t) {
            return false;
        }
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, t| now <= *t);
            if seen.len() >= MAX_REMEMBERED {
                return false;
            }
        }
        seen.insert(id, until);
        true
    }
}

/// The thumbprint of the key of the one proof in `values`, checked for a request of
/// `method` to `uri` carrying `token`; or why it is refused.
pub(crate) fn check(
    values: &[&[u8]],
    method: &str,
    uri: &str,
    token: &str,
    now: UnixTime,
    replays: &Replays,
) -> Result<String, &'static str> {
    let value = match values {
        [] => return Err("the DPoP scheme needs a DPoP proof header"),
        [one] => *one,
        _ => return Err("send one DPoP header"),
    };
    let proof = std::str::from_utf8(value).map_err(|_| "the DPoP header is not a JWT")?;
    let jws = valet_jose::verify_embedded_jwk(proof.trim())
        .map_err(|_| "the DPoP proof's signature or key is not acceptable")?;
    if !ALGS.split(' ').any(|a| a == jws.header.alg) {
        return Err("the DPoP proof's alg is not accepted");
    }
    let claims: ProofClaims = serde_json::from_slice(&jws.payload)
        .map_err(|_| "the DPoP proof's claims are malformed")?;
    let ath = B64.encode(digest::digest(&digest::SHA256, token.as_bytes()));
    let accepted = dpop::check(
        jws.header.typ.as_deref(),
        &claims,
        &Expected {
            method,
            uri,
            ath: Some(&ath),
            now,
        },
    )
    .map_err(|_| "the DPoP proof does not match this request (htm, htu, iat or ath)")?;
    let id = format!("{}:{}", jws.thumbprint, accepted.jti);
    if !replays.first_use(id, accepted.until, now) {
        return Err("the DPoP proof was used before");
    }
    Ok(jws.thumbprint)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_proof_counts_once_within_its_window_and_the_memory_is_bounded() {
        let r = Replays::default();
        assert!(r.first_use("k:1".into(), 100, 0));
        assert!(!r.first_use("k:1".into(), 100, 50));
        assert!(
            r.first_use("k:1".into(), 300, 101),
            "forgotten after its window"
        );
        let full = Replays::default();
        {
            let mut seen = full.seen.lock().unwrap();
            for i in 0..MAX_REMEMBERED {
                seen.insert(i.to_string(), 10);
            }
        }
        assert!(!full.first_use("new".into(), 20, 5), "full of live proofs");
        assert!(
            full.first_use("new".into(), 20, 11),
            "expired ones make room"
        );
    }
}
