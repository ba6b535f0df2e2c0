//! DPoP (RFC 9449): what a proof's claims must say once its signature was checked with
//! the public key in its own header (§4.3), and how an access token's `cnf.jkt` binds it
//! to that key (§6.1, §7.1). The token endpoint, UserInfo and valet-resource all check
//! proofs through [`check`], so they agree on every rule.

use serde::Deserialize;

use crate::error::ErrorCode;
use crate::{OAuthError, UnixTime};

/// §4.2: the `typ` of a proof's header.
pub const TYP: &str = "dpop+jwt";
/// §11.1: how old (`iat`) a proof may be. Its `jti` is remembered this long.
pub const MAX_AGE: i64 = 300;
/// How far ahead a proof's `iat` may be (FAPI 2.0 §5.3.2.1 clock skew: 10 s must be
/// accepted, more than 60 refused).
pub const MAX_FUTURE: i64 = 60;
/// Longest `jti` remembered.
const MAX_JTI_LEN: usize = 256;

/// The claims of a proof (§4.2).
#[derive(Debug, Deserialize)]
pub struct ProofClaims {
    pub jti: Option<String>,
    pub htm: Option<String>,
    pub htu: Option<String>,
    pub iat: Option<i64>,
    /// At a resource: base64url(SHA-256(access token)).
    pub ath: Option<String>,
    /// §8, §9: the server-provided nonce, when one is required.
    pub nonce: Option<String>,
}

/// What one request's proof must match.
pub struct Expected<'a> {
    /// The request's method (§4.3 item 8).
    pub method: &'a str,
    /// The request's URI as the server is known by (§4.3 item 9).
    pub uri: &'a str,
    /// At a resource: the `ath` of the access token presented with the proof (§4.3 item
    /// 12, §7.1); `None` at the authorization server's token and PAR endpoints.
    pub ath: Option<&'a str>,
    pub now: UnixTime,
}

/// A proof whose claims hold: its `jti` must now be used once, remembered until `until`.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub jti: String,
    pub until: UnixTime,
    pub nonce: Option<String>,
}

/// `invalid_dpop_proof` (§5, §7.1).
pub fn invalid(why: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, why)
}

/// `use_dpop_nonce` (§8, §9): the caller adds the `DPoP-Nonce` header.
pub fn use_nonce() -> OAuthError {
    OAuthError::new(
        ErrorCode::UseDpopNonce,
        "the DPoP proof must carry the nonce this server gives in the DPoP-Nonce header",
    )
}

/// §4.3 items 3, 4, 8, 9, 11, 12 (items 5–7, the signature with the header's public key,
/// are the JOSE layer's; item 10, the nonce, and the `jti` replay are the server's).
pub fn check(
    typ: Option<&str>,
    claims: &ProofClaims,
    want: &Expected<'_>,
) -> Result<Accepted, OAuthError> {
    if typ != Some(TYP) {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    let (Some(jti), Some(htm), Some(htu), Some(iat)) = (
        claims.jti.as_deref(),
        claims.htm.as_deref(),
        claims.htu.as_deref(),
        claims.iat,
    ) else {
        return Err(invalid("the DPoP proof needs jti, htm, htu and iat"));
    };
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(invalid("the DPoP proof's jti is empty or too long"));
    }
    if htm != want.method {
        return Err(invalid(format!(
            "the DPoP proof's htm is `{htm}`, but this request is a {}",
            want.method
        )));
    }
    if !htu_matches(htu, want.uri) {
        return Err(invalid(format!(
            "the DPoP proof's htu must be {} (its query and fragment aside)",
            want.uri
        )));
    }
    if iat > want.now + MAX_FUTURE {
        return Err(invalid("the DPoP proof's iat is in the future"));
    }
    if iat + MAX_AGE < want.now {
        return Err(invalid(
            "the DPoP proof is too old: make a new one for each request",
        ));
    }
    match (want.ath, claims.ath.as_deref()) {
        (Some(expected), Some(ath)) if ath == expected => {}
        (Some(_), Some(_)) => {
            return Err(invalid(
                "the DPoP proof's ath is not the hash of this access token",
            ));
        }
        (Some(_), None) => {
            return Err(invalid(
                "a DPoP proof sent with an access token needs its ath",
            ));
        }
        (None, _) => {}
    }
    Ok(Accepted {
        jti: jti.to_owned(),
        until: iat.max(want.now) + MAX_AGE,
        nonce: claims.nonce.clone(),
    })
}

/// §4.3 item 9: `htu` and the request URI are equal once both are normalised (RFC 3986
/// §6.2.2, §6.2.3: scheme and host case, the default port) and their query and fragment
/// are dropped.
pub fn htu_matches(htu: &str, uri: &str) -> bool {
    match (normalise(htu), normalise(uri)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn normalise(uri: &str) -> Option<String> {
    let uri = uri.split(['?', '#']).next()?;
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let mut authority = authority.to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    if authority.ends_with(default) {
        authority.truncate(authority.len() - default.len());
    }
    Some(format!("{scheme}://{authority}{path}"))
}

/// §7.1: a DPoP-bound token (`cnf.jkt`) goes with a proof by that same key, under the
/// `DPoP` scheme; a bound token sent as a bearer token is refused.
pub fn check_binding(token_jkt: Option<&str>, proof_jkt: Option<&str>) -> Result<(), OAuthError> {
    match (token_jkt, proof_jkt) {
        (Some(t), Some(p)) if t == p => Ok(()),
        (Some(_), Some(_)) => Err(invalid(
            "the DPoP proof is signed by another key than the one the access token is bound to",
        )),
        (Some(_), None) => Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "this access token is bound to a DPoP key: send it with the DPoP scheme and a proof",
        )),
        (None, Some(_)) => Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "this access token is a bearer token, not bound to a DPoP key: send it with the \
             Bearer scheme",
        )),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;
    const URI: &str = "https://id.example/oauth2/token";

    fn claims(v: serde_json::Value) -> ProofClaims {
        serde_json::from_value(v).unwrap()
    }

    fn good() -> serde_json::Value {
        serde_json::json!({"jti": "p-1", "htm": "POST", "htu": URI, "iat": NOW})
    }

    fn want(ath: Option<&str>) -> Expected<'_> {
        Expected {
            method: "POST",
            uri: URI,
            ath,
            now: NOW,
        }
    }

    #[test]
    fn a_good_proof_is_remembered_for_its_window() {
        let a = check(Some(TYP), &claims(good()), &want(None)).unwrap();
        assert_eq!(a.jti, "p-1");
        assert_eq!(a.until, NOW + MAX_AGE);
    }

    #[test]
    fn each_rule_refuses() {
        let mut cases = Vec::new();
        for (k, v) in [
            ("htm", serde_json::json!("GET")),
            ("htu", serde_json::json!("https://id.example/oauth2/other")),
            (
                "htu",
                serde_json::json!("https://evil.example/oauth2/token"),
            ),
            ("iat", serde_json::json!(NOW + MAX_FUTURE + 1)),
            ("iat", serde_json::json!(NOW - MAX_AGE - 1)),
            ("jti", serde_json::json!("")),
        ] {
            let mut c = good();
            c[k] = v;
            cases.push(c);
        }
        for missing in ["jti", "htm", "htu", "iat"] {
            let mut c = good();
            c.as_object_mut().unwrap().remove(missing);
            cases.push(c);
        }
        for c in cases {
            let e = check(Some(TYP), &claims(c.clone()), &want(None)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidDpopProof, "{c}");
        }
        for typ in [None, Some("JWT")] {
            assert!(check(typ, &claims(good()), &want(None)).is_err());
        }
    }

    #[test]
    fn htu_ignores_query_fragment_case_and_default_port() {
        assert!(htu_matches(
            "HTTPS://ID.example:443/oauth2/token?x=1#f",
            URI
        ));
        assert!(!htu_matches("https://id.example/OAUTH2/token", URI));
        assert!(!htu_matches("https://id.example:8443/oauth2/token", URI));
        assert!(!htu_matches("not a uri", URI));
        assert!(htu_matches("http://localhost:80", "http://localhost/"));
    }

    #[test]
    fn at_a_resource_ath_must_be_the_tokens() {
        let mut c = good();
        assert!(check(Some(TYP), &claims(c.clone()), &want(Some("h"))).is_err());
        c["ath"] = "other".into();
        assert!(check(Some(TYP), &claims(c.clone()), &want(Some("h"))).is_err());
        c["ath"] = "h".into();
        assert!(check(Some(TYP), &claims(c), &want(Some("h"))).is_ok());
    }

    #[test]
    fn bound_tokens_need_their_key() {
        assert!(check_binding(Some("k"), Some("k")).is_ok());
        assert!(check_binding(None, None).is_ok());
        assert_eq!(
            check_binding(Some("k"), Some("j")).unwrap_err().code,
            ErrorCode::InvalidDpopProof
        );
        assert_eq!(
            check_binding(Some("k"), None).unwrap_err().code,
            ErrorCode::InvalidToken
        );
    }
}
