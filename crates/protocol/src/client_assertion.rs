//! Client authentication with a signed JWT (RFC 7523 §2.2, §3; RFC 7521 §4.2; OIDC Core
//! §9 `private_key_jwt`): what the assertion's claims must say once the server has
//! checked its signature with one of the application's registered keys.

use serde::Deserialize;

use crate::OAuthError;
use crate::UnixTime;

/// RFC 7523 §2.2: the one `client_assertion_type` for JWTs.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest an assertion may be valid for, counted from now: a signed assertion is a
/// credential, so it is short-lived (RFC 7523 §3 item 4). An hour covers the clients that
/// sign one per hour (authlib's default); Valet remembers each `jti` until its `exp`.
pub const MAX_LIFETIME: i64 = 3600;
/// FAPI 2.0 Security Profile §5.3.2.1 (clock skew): an `iat` or `nbf` up to 10 seconds
/// ahead is accepted, more than 60 refused; Valet accepts up to this many seconds ahead.
pub const MAX_FUTURE: i64 = 60;
/// Leeway past `exp` for the caller's clock.
pub const EXP_LEEWAY: i64 = 30;
/// Longest `jti` remembered.
const MAX_JTI_LEN: usize = 256;

/// RFC 7519 §4.1.3: `aud` is one string or an array of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims Valet reads from an assertion (RFC 7523 §3).
#[derive(Debug, Deserialize)]
pub struct AssertionClaims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Option<Audience>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
}

/// What the assertion must match.
pub struct Expected<'a> {
    pub client_id: &'a str,
    /// The server's issuer identifier (RFC 8414).
    pub issuer: &'a str,
    /// The URLs of the endpoints an `aud` may also name: the token endpoint, and the
    /// endpoint the assertion was sent to (PAR, introspection, revocation).
    pub endpoints: &'a [&'a str],
    /// FAPI 2.0 §5.3.2.1: the issuer alone, as a string.
    pub issuer_only: bool,
    pub now: UnixTime,
}

/// A checked assertion: its `jti` must now be used once, until `exp`.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub jti: String,
    pub exp: UnixTime,
}

/// The `sub` (else `iss`) of an assertion's payload, read without trusting it: which
/// application claims to have signed it, so its keys can be found (RFC 7523 §3 item 2).
pub fn claimed_client_id(payload: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Who {
        sub: Option<String>,
        iss: Option<String>,
    }
    let who: Who = serde_json::from_slice(payload).ok()?;
    who.sub.or(who.iss).filter(|s| !s.is_empty())
}

/// RFC 7523 §3 items 1–7, with the description of the first failure (for the log; the
/// server answers every failure with one `invalid_client`).
pub fn check(claims: &AssertionClaims, want: &Expected<'_>) -> Result<Accepted, OAuthError> {
    let fail = |why: String| Err(OAuthError::invalid_client(why));
    // Items 1 and 2: the application is both the issuer and the subject.
    if claims.iss.as_deref() != Some(want.client_id) {
        return fail("the assertion's iss is not the client_id".into());
    }
    if claims.sub.as_deref() != Some(want.client_id) {
        return fail("the assertion's sub is not the client_id".into());
    }
    // Item 3: the audience identifies this server.
    let audience_ok = match (&claims.aud, want.issuer_only) {
        (Some(Audience::One(a)), true) => a == want.issuer,
        (_, true) => false,
        (Some(Audience::One(a)), false) => names_us(a, want),
        (Some(Audience::Many(all)), false) => all.iter().any(|a| names_us(a, want)),
        (None, false) => false,
    };
    if !audience_ok {
        return fail(if want.issuer_only {
            format!(
                "the assertion's aud must be the issuer `{}` alone, as a string (FAPI 2.0 \
                 §5.3.2.1)",
                want.issuer
            )
        } else {
            format!(
                "the assertion's aud must name this server: its issuer `{}` or the endpoint's URL",
                want.issuer
            )
        });
    }
    // Items 4–6.
    let exp = match times(claims.exp, claims.nbf, claims.iat, want.now) {
        Ok(exp) => exp,
        Err(why) => return fail(why),
    };
    // Item 7 and OIDC Core §9: a `jti`, used once.
    let Some(jti) = claims.jti.as_deref().filter(|j| !j.is_empty()) else {
        return fail("the assertion has no jti".into());
    };
    if jti.len() > MAX_JTI_LEN {
        return fail("the assertion's jti is too long".into());
    }
    Ok(Accepted {
        jti: jti.to_owned(),
        exp: exp.max(want.now) + EXP_LEEWAY,
    })
}

fn names_us(aud: &str, want: &Expected<'_>) -> bool {
    aud == want.issuer || want.endpoints.contains(&aud)
}

/// RFC 7523 §3 items 4–6, for every assertion Valet takes (client authentication here, the
/// JWT bearer grant in `jwt_bearer`): an `exp`, not past (within `EXP_LEEWAY`) nor further
/// than `MAX_LIFETIME` ahead, and no `nbf` or `iat` beyond `MAX_FUTURE` from now.
pub(crate) fn times(
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    now: i64,
) -> Result<i64, String> {
    // Item 4: it expires, soon.
    let Some(exp) = exp else {
        return Err("the assertion has no exp".into());
    };
    if exp + EXP_LEEWAY <= now {
        return Err("the assertion has expired".into());
    }
    if exp > now + MAX_LIFETIME + MAX_FUTURE {
        return Err(format!(
            "the assertion is valid for too long: its exp may be at most {MAX_LIFETIME} seconds ahead"
        ));
    }
    // Item 5 (`nbf`) and item 6 (`iat`): not from the future, beyond the skew allowed.
    for (name, t) in [("nbf", nbf), ("iat", iat)] {
        if t.is_some_and(|t| t > now + MAX_FUTURE) {
            return Err(format!("the assertion's {name} is in the future"));
        }
    }
    Ok(exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    const NOW: i64 = 1_000_000;
    const ISS: &str = "https://id.example";
    const TOKEN: &str = "https://id.example/oauth2/token";

    fn claims(v: serde_json::Value) -> AssertionClaims {
        serde_json::from_value(v).unwrap()
    }

    fn good() -> serde_json::Value {
        serde_json::json!({"iss": "app", "sub": "app", "aud": ISS, "exp": NOW + 60,
            "iat": NOW, "jti": "j-1"})
    }

    fn want(issuer_only: bool) -> Expected<'static> {
        Expected {
            client_id: "app",
            issuer: ISS,
            endpoints: &[TOKEN],
            issuer_only,
            now: NOW,
        }
    }

    fn with(key: &str, v: serde_json::Value) -> AssertionClaims {
        let mut c = good();
        if v.is_null() {
            c.as_object_mut().unwrap().remove(key);
        } else {
            c[key] = v;
        }
        claims(c)
    }

    #[test]
    fn a_good_assertion_gives_its_jti_until_exp() {
        let a = check(&claims(good()), &want(false)).unwrap();
        assert_eq!(a.jti, "j-1");
        assert!(a.exp >= NOW + 60);
        // The token endpoint's URL and arrays naming us are audiences too.
        assert!(check(&with("aud", TOKEN.into()), &want(false)).is_ok());
        let many = serde_json::json!(["https://other", TOKEN]);
        assert!(check(&with("aud", many), &want(false)).is_ok());
    }

    #[test]
    fn every_rule_has_its_refusal() {
        for (key, value) in [
            ("iss", serde_json::json!("other")),
            ("sub", serde_json::json!("other")),
            ("iss", serde_json::Value::Null),
            ("aud", serde_json::json!("https://other.example")),
            ("aud", serde_json::Value::Null),
            ("exp", serde_json::Value::Null),
            ("exp", serde_json::json!(NOW - EXP_LEEWAY - 1)),
            (
                "exp",
                serde_json::json!(NOW + MAX_LIFETIME + MAX_FUTURE + 1),
            ),
            ("nbf", serde_json::json!(NOW + MAX_FUTURE + 1)),
            ("iat", serde_json::json!(NOW + MAX_FUTURE + 1)),
            ("jti", serde_json::Value::Null),
            ("jti", serde_json::json!("")),
            ("jti", serde_json::json!("x".repeat(300))),
        ] {
            let e = check(&with(key, value.clone()), &want(false)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidClient, "{key}={value}");
        }
        // A little skew is fine (FAPI 2.0: up to 10 s ahead must be accepted).
        assert!(check(&with("iat", (NOW + 10).into()), &want(false)).is_ok());
    }

    #[test]
    fn fapi2_takes_the_issuer_alone_as_a_string() {
        assert!(check(&claims(good()), &want(true)).is_ok());
        for aud in [serde_json::json!(TOKEN), serde_json::json!([ISS])] {
            assert!(check(&with("aud", aud), &want(true)).is_err());
        }
    }

    #[test]
    fn the_claimed_client_is_sub_then_iss() {
        assert_eq!(
            claimed_client_id(br#"{"sub":"a","iss":"b"}"#).as_deref(),
            Some("a")
        );
        assert_eq!(claimed_client_id(br#"{"iss":"b"}"#).as_deref(), Some("b"));
        assert_eq!(claimed_client_id(b"[]"), None);
    }
}
