//! Signed authorization requests (RFC 9101, JAR) and pushed ones (RFC 9126, PAR): what a
//! request object's claims must say once the server has checked its signature with one of
//! the application's keys, the authorization parameters they become (the only ones
//! honoured, §6.3), and the `request_uri` a pushed request is referred to by.

use serde_json::Value;

use crate::error::ErrorCode;
use crate::params::Params;
use crate::{OAuthError, UnixTime};

/// RFC 9126 §2.2: the prefix of the `request_uri` of a pushed request.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// RFC 9126 §2.2 `expires_in`: a pushed request lasts this long (the contract: ≤ 60 s).
pub const PUSHED_LIFETIME: i64 = 60;
/// FAPI 2.0 Message Signing §5.3.1 (and JAR practice): a request object lives at most an
/// hour from `nbf` to `exp`.
pub const MAX_OBJECT_LIFETIME: i64 = 3600;
/// Accepted clock skew for `nbf`/`iat` ahead of now (FAPI 2.0 §5.3.2.1).
pub const MAX_FUTURE: i64 = 60;

/// The JWT claims of a request object that are not authorization parameters.
const JWT_CLAIMS: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti", "sub"];

fn invalid(why: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestObject, why)
}

/// What a request object must match.
pub struct Expected<'a> {
    /// The `client_id` of the request that carries it (RFC 9101 §5: they must be equal).
    pub client_id: &'a str,
    pub issuer: &'a str,
    /// FAPI 2.0: `exp` and `nbf` required, at most an hour apart; `aud` required.
    pub strict: bool,
    pub now: UnixTime,
}

/// RFC 9101 §4, §5, §6.3: the parameters of a verified request object's payload.
pub fn parameters(payload: &[u8], want: &Expected<'_>) -> Result<Params, OAuthError> {
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(payload) else {
        return Err(invalid("the request object's payload is not a JSON object"));
    };
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    // §5: the client_id inside must be the one outside.
    if text("client_id") != Some(want.client_id) {
        return Err(invalid(
            "the request object's client_id must be the request's client_id",
        ));
    }
    if claims.get("iss").is_some() && text("iss") != Some(want.client_id) {
        return Err(invalid("the request object's iss must be the client_id"));
    }
    // §4: `aud` is the authorization server's issuer identifier.
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == want.issuer,
        Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(want.issuer)),
        None => !want.strict,
        Some(_) => false,
    };
    if !aud_ok {
        return Err(invalid(format!(
            "the request object's aud must be the issuer `{}`",
            want.issuer
        )));
    }
    let time = |name: &str| claims.get(name).and_then(Value::as_i64);
    let (exp, nbf) = (time("exp"), time("nbf"));
    if want.strict && (exp.is_none() || nbf.is_none()) {
        return Err(invalid("the request object needs exp and nbf"));
    }
    if exp.is_some_and(|e| e <= want.now) {
        return Err(invalid("the request object has expired"));
    }
    if [nbf, time("iat")]
        .into_iter()
        .flatten()
        .any(|t| t > want.now + MAX_FUTURE)
    {
        return Err(invalid("the request object is not valid yet (nbf or iat)"));
    }
    if let (Some(e), Some(n)) = (exp, nbf) {
        if e - n > MAX_OBJECT_LIFETIME {
            return Err(invalid(
                "the request object lives too long: exp at most an hour after nbf",
            ));
        }
    }
    // §6.3 / RFC 9126 §3: no request inside a request.
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err(invalid(
            "a request object must not carry request or request_uri",
        ));
    }
    let mut pairs = Vec::new();
    for (name, value) in &claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        match value {
            Value::String(s) => pairs.push((name.clone(), s.clone())),
            Value::Number(n) => pairs.push((name.clone(), n.to_string())),
            Value::Bool(b) => pairs.push((name.clone(), b.to_string())),
            Value::Null => {}
            // RFC 8707 in JAR: `resource` may be an array of URIs.
            Value::Array(items) if name == "resource" => {
                for item in items {
                    let Some(s) = item.as_str() else {
                        return Err(invalid("resource must hold strings"));
                    };
                    pairs.push((name.clone(), s.to_owned()));
                }
            }
            // OIDC Core §5.5 `claims` is a JSON object, sent as its JSON text.
            Value::Object(_) if name == "claims" => pairs.push((name.clone(), value.to_string())),
            _ => {
                return Err(invalid(format!(
                    "the request object's {name} has a type no authorization parameter has"
                )));
            }
        }
    }
    Params::from_pairs(pairs).map_err(|e| invalid(e.description().to_owned()))
}

/// RFC 9126 §2.1: a pushed request carries no `request_uri` of its own.
pub fn check_pushed(params: &Params) -> Result<(), OAuthError> {
    if params.contains("request_uri") {
        return Err(OAuthError::invalid_request(
            "a pushed authorization request must not carry request_uri (RFC 9126 §2.1)",
        ));
    }
    Ok(())
}

/// The reference inside a `request_uri` this server issued, or `None` for any other
/// value (which is never fetched: RFC 9101 §5.2 is not supported).
pub fn pushed_reference(request_uri: &str) -> Option<&str> {
    request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .filter(|r| !r.is_empty() && r.len() <= 128)
}

/// RFC 9126 §4, OIDC Core §3.1.2.6 `invalid_request_uri`.
pub fn invalid_request_uri(why: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestUri, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;
    const ISS: &str = "https://id.example";

    fn want(strict: bool) -> Expected<'static> {
        Expected {
            client_id: "app",
            issuer: ISS,
            strict,
            now: NOW,
        }
    }

    fn good() -> Value {
        serde_json::json!({"iss": "app", "aud": ISS, "client_id": "app", "exp": NOW + 300,
            "nbf": NOW, "response_type": "code", "scope": "openid", "max_age": 60,
            "resource": ["https://a", "https://b"], "claims": {"userinfo": {"email": null}}})
    }

    fn run(v: &Value, strict: bool) -> Result<Params, OAuthError> {
        parameters(v.to_string().as_bytes(), &want(strict))
    }

    #[test]
    fn claims_become_the_parameters() {
        let p = run(&good(), true).unwrap();
        assert_eq!(p.get("response_type"), Some("code"));
        assert_eq!(p.get("max_age"), Some("60"));
        assert_eq!(p.all("resource").count(), 2);
        assert!(p.get("claims").unwrap().contains("userinfo"));
        assert_eq!(p.get("iss"), None, "JWT claims are not parameters");
    }

    #[test]
    fn every_rule_refuses() {
        for (k, v) in [
            ("client_id", serde_json::json!("other")),
            ("iss", serde_json::json!("other")),
            ("aud", serde_json::json!("https://other")),
            ("exp", serde_json::json!(NOW)),
            ("nbf", serde_json::json!(NOW + MAX_FUTURE + 1)),
            ("nbf", serde_json::json!(NOW - 4000)),
            ("request_uri", serde_json::json!("x")),
            ("scope", serde_json::json!(["openid"])),
        ] {
            let mut c = good();
            c[k] = v.clone();
            let e = run(&c, true).err().unwrap();
            assert_eq!(e.code, ErrorCode::InvalidRequestObject, "{k}={v}");
        }
        let mut c = good();
        c.as_object_mut().unwrap().remove("exp");
        assert!(run(&c, true).is_err());
        assert!(run(&c, false).is_ok(), "plain JAR: exp is optional");
        assert!(parameters(b"[1]", &want(false)).is_err());
    }

    #[test]
    fn pushed_references() {
        assert_eq!(
            pushed_reference("urn:ietf:params:oauth:request_uri:abc"),
            Some("abc")
        );
        assert_eq!(pushed_reference("https://client.example/req.jwt"), None);
        assert_eq!(pushed_reference(REQUEST_URI_PREFIX), None);
    }
}
