//! Proof Key for Code Exchange (RFC 7636). The challenge is checked at the authorization
//! endpoint, the verifier at the token endpoint. SHA-256 comes in as a function so this
//! crate stays free of a crypto dependency.

use serde::{Deserialize, Serialize};

use crate::OAuthError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    #[serde(rename = "S256")]
    S256,
    #[serde(rename = "plain")]
    Plain,
}

/// A challenge as the authorization request sent it, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub value: String,
    pub method: Method,
}

/// RFC 7636 §4.1: `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`, 43 to 128 of them.
fn is_verifier_shaped(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Reads `code_challenge` and `code_challenge_method` (RFC 7636 §4.3, §4.4.1).
///
/// - A method without a challenge, an unknown method, or a malformed challenge is
///   `invalid_request` (checklist E7, E8).
/// - An omitted method means `plain` (§4.3), which is refused unless `allow_plain`.
pub fn challenge(
    value: Option<&str>,
    method: Option<&str>,
    allow_plain: bool,
) -> Result<Option<Challenge>, OAuthError> {
    let Some(value) = value else {
        if method.is_some() {
            return Err(OAuthError::invalid_request(
                "code_challenge_method was sent without code_challenge",
            ));
        }
        return Ok(None);
    };
    let method = match method {
        Some("S256") => Method::S256,
        Some("plain") | None if allow_plain => Method::Plain,
        Some("plain") | None => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256 (plain is not allowed for this application)",
            ));
        }
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256",
            ));
        }
    };
    let ok = match method {
        // §4.2: BASE64URL(SHA256(verifier)) is always 43 characters without padding.
        Method::S256 => {
            value.len() == 43
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        }
        Method::Plain => is_verifier_shaped(value),
    };
    if !ok {
        return Err(OAuthError::invalid_request(
            "code_challenge is malformed: S256 challenges are 43 base64url characters",
        ));
    }
    Ok(Some(Challenge {
        value: value.to_owned(),
        method,
    }))
}

/// Checks the `code_verifier` of a token request against the code's challenge
/// (RFC 7636 §4.6). `s256` is BASE64URL(SHA-256(input)) without padding.
///
/// - challenge and verifier → they must match (checklist E1-E3);
/// - challenge, no verifier → `invalid_grant` (E5);
/// - no challenge, a verifier → `invalid_grant`: a downgrade attempt (E4, RFC 9700 §4.8.2).
pub fn verify(
    challenge: Option<&Challenge>,
    verifier: Option<&str>,
    s256: impl Fn(&str) -> String,
) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier was sent but the authorization request had no code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (Some(c), Some(v)) => {
            if !is_verifier_shaped(v) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
                ));
            }
            let computed = match c.method {
                Method::S256 => s256(v),
                Method::Plain => v.to_owned(),
            };
            if constant_time_eq(computed.as_bytes(), c.value.as_bytes()) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ))
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn fake_s256(v: &str) -> String {
        if v == VERIFIER {
            CHALLENGE.into()
        } else {
            "x".repeat(43)
        }
    }

    fn s256() -> Challenge {
        challenge(Some(CHALLENGE), Some("S256"), false)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn challenge_rules() {
        assert_eq!(s256().method, Method::S256);
        assert!(challenge(None, None, false).unwrap().is_none());
        fn err(v: Option<&str>, m: Option<&str>, plain: bool) -> ErrorCode {
            challenge(v, m, plain).unwrap_err().code
        }
        // E7: plain or omitted method refused unless allowed; unknown method refused.
        assert_eq!(err(Some(VERIFIER), None, false), ErrorCode::InvalidRequest);
        assert_eq!(
            err(Some(VERIFIER), Some("plain"), false),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            err(Some(CHALLENGE), Some("S512"), true),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            challenge(Some(VERIFIER), None, true)
                .unwrap()
                .unwrap()
                .method,
            Method::Plain
        );
        // E8: malformed S256 challenges.
        for bad in [
            "short".to_owned(),
            "a".repeat(44),
            format!("{}=", &CHALLENGE[..42]),
        ] {
            assert_eq!(
                err(Some(&bad), Some("S256"), false),
                ErrorCode::InvalidRequest
            );
        }
        assert_eq!(err(None, Some("S256"), false), ErrorCode::InvalidRequest);
    }

    #[test]
    fn verifier_rules() {
        let c = s256();
        assert!(verify(Some(&c), Some(VERIFIER), fake_s256).is_ok());
        let grant =
            |c: Option<&Challenge>, v: Option<&str>| verify(c, v, fake_s256).unwrap_err().code;
        // E1, E2: length and alphabet.
        for bad in [
            "a".repeat(42),
            "a".repeat(129),
            format!("{}+", &"a".repeat(43)),
            format!("{} ", &"a".repeat(43)),
            format!("{}é", &"a".repeat(43)),
        ] {
            assert_eq!(
                grant(Some(&c), Some(&bad)),
                ErrorCode::InvalidGrant,
                "{bad}"
            );
        }
        // 43 and 128 characters are well-formed (and then simply wrong here).
        assert_eq!(
            grant(Some(&c), Some(&"a".repeat(43))),
            ErrorCode::InvalidGrant
        );
        let plain = challenge(Some(&"b".repeat(128)), Some("plain"), true)
            .unwrap()
            .unwrap();
        assert!(verify(Some(&plain), Some(&"b".repeat(128)), fake_s256).is_ok());
        // E3, E4, E5.
        assert_eq!(
            grant(Some(&c), Some(&"c".repeat(50))),
            ErrorCode::InvalidGrant
        );
        assert_eq!(grant(None, Some(VERIFIER)), ErrorCode::InvalidGrant);
        assert_eq!(grant(Some(&c), None), ErrorCode::InvalidGrant);
        assert!(verify(None, None, fake_s256).is_ok());
    }
}
