//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3.1, RFC 7591 §2): what credentials a request presents and whether the
//! method matches the registration. Checking the secret itself is the server's job (it
//! holds the hashing key).

use base64::Engine;
use std::fmt;

use crate::OAuthError;
use crate::application::{Application, AuthMethod};
use crate::params::{self, Params};

/// Credentials as the request presented them.
#[derive(PartialEq, Eq)]
pub enum Presented {
    Basic {
        client_id: String,
        secret: String,
    },
    Post {
        client_id: String,
        secret: String,
    },
    /// RFC 7523 §2.2: a signed JWT; `client_id` from the body or, absent there, the one
    /// the assertion claims (its signature not yet checked).
    Jwt {
        client_id: String,
        assertion: String,
    },
    None {
        client_id: String,
    },
}

impl fmt::Debug for Presented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { client_id, .. } => write!(f, "Basic({client_id}, [redacted])"),
            Self::Post { client_id, .. } => write!(f, "Post({client_id}, [redacted])"),
            Self::Jwt { client_id, .. } => write!(f, "Jwt({client_id}, [redacted])"),
            Self::None { client_id } => write!(f, "None({client_id})"),
        }
    }
}

impl Presented {
    pub fn client_id(&self) -> &str {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::Jwt { client_id, .. }
            | Self::None { client_id } => client_id,
        }
    }

    pub fn secret(&self) -> Option<&str> {
        match self {
            Self::Basic { secret, .. } | Self::Post { secret, .. } => Some(secret),
            Self::Jwt { .. } | Self::None { .. } => None,
        }
    }

    pub fn method(&self) -> AuthMethod {
        match self {
            Self::Basic { .. } => AuthMethod::ClientSecretBasic,
            Self::Post { .. } => AuthMethod::ClientSecretPost,
            Self::Jwt { .. } => AuthMethod::PrivateKeyJwt,
            Self::None { .. } => AuthMethod::None,
        }
    }
}

/// Reads the credentials of a request from its `Authorization` header and form body.
///
/// - One method per request (RFC 6749 §2.3.1): Basic *and* `client_secret` → `invalid_request`.
/// - Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1), so `:` `%` `+`
///   round-trip.
/// - An empty `client_secret` is a failed authentication, not "no secret".
pub fn presented(authorization: Option<&[u8]>, params: &Params) -> Result<Presented, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    if params.contains("client_assertion") || params.contains("client_assertion_type") {
        if authorization.is_some() || body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method: a client_assertion, Basic or \
                 client_secret, not several",
            ));
        }
        return assertion(params);
    }
    if params.is_empty_value("client_secret") {
        return Err(OAuthError::invalid_client(
            "client_secret must not be empty",
        ));
    }
    if let Some(header) = authorization {
        let (client_id, secret) = parse_basic(header)?;
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method: Basic or client_secret, not both",
            ));
        }
        if body_id.is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the Basic credentials",
            ));
        }
        return Ok(Presented::Basic { client_id, secret });
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(Presented::Post {
            client_id: id.to_owned(),
            secret: secret.to_owned(),
        }),
        (Some(id), None) => Ok(Presented::None {
            client_id: id.to_owned(),
        }),
        (None, _) => Err(OAuthError::invalid_client(
            "client authentication is required (HTTP Basic or client_id and client_secret)",
        )),
    }
}

/// RFC 7521 §4.2: `client_assertion_type` and `client_assertion` together.
fn assertion(params: &Params) -> Result<Presented, OAuthError> {
    use crate::client_assertion::{ASSERTION_TYPE, claimed_client_id};
    match params.get("client_assertion_type") {
        Some(ASSERTION_TYPE) => {}
        Some(other) => {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type `{other}` is not supported; use {ASSERTION_TYPE}"
            )));
        }
        None => {
            return Err(OAuthError::invalid_request(
                "client_assertion needs client_assertion_type (RFC 7521 §4.2)",
            ));
        }
    }
    let Some(jwt) = params.get("client_assertion") else {
        return Err(OAuthError::invalid_request(
            "client_assertion_type needs a client_assertion (RFC 7521 §4.2)",
        ));
    };
    let claimed = jwt
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|p| claimed_client_id(&p));
    let client_id = match (params.get("client_id"), claimed) {
        (Some(id), _) => id.to_owned(),
        (None, Some(id)) => id,
        (None, None) => {
            return Err(OAuthError::invalid_client(
                "the client_assertion names no client (no sub or iss)",
            ));
        }
    };
    Ok(Presented::Jwt {
        client_id,
        assertion: jwt.to_owned(),
    })
}

fn parse_basic(header: &[u8]) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client("malformed Basic credentials");
    let header = std::str::from_utf8(header).map_err(|_| bad())?;
    let (scheme, rest) = header.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "the Authorization header must use the Basic scheme here",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())?;
    let colon = decoded.iter().position(|b| *b == b':').ok_or_else(bad)?;
    let id = params::decode(&decoded[..colon]).map_err(|_| bad())?;
    let secret = params::decode(&decoded[colon + 1..]).map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    if secret.is_empty() {
        return Err(OAuthError::invalid_client(
            "client_secret must not be empty",
        ));
    }
    Ok((id, secret))
}

/// RFC 7591 §2 / checklist F6: an application authenticates only with a method its
/// registration accepts (`Application::accepts_auth_method`). The description says why, for
/// the log: the server answers every failure with one message.
pub fn check_method(app: &Application, presented: &Presented) -> Result<(), OAuthError> {
    if app.accepts_auth_method(presented.method()) {
        return Ok(());
    }
    let how = |m: AuthMethod| match m {
        AuthMethod::ClientSecretBasic => "client_id and client_secret in an HTTP Basic header",
        AuthMethod::ClientSecretPost => "client_id and client_secret in the form body",
        AuthMethod::PrivateKeyJwt => "a client_assertion signed with one of its keys",
        AuthMethod::None => "client_id in the form body and no secret",
    };
    let (registered, used) = (app.token_endpoint_auth_method, presented.method());
    Err(OAuthError::invalid_client(format!(
        "this application is registered for {registered} ({}), but the request used {used} \
         ({})",
        how(registered),
        how(used)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn basic(id: &str, secret: &str) -> Vec<u8> {
        let enc = |s: &str| -> String { form_encode(s) };
        let raw = format!("{}:{}", enc(id), enc(secret));
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
        .into_bytes()
    }

    fn form_encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let p = Params::parse(b"", &[]).unwrap();
        let got = presented(Some(&basic("a:b%c", "s+e&c:r t")), &p).unwrap();
        assert_eq!(
            got,
            Presented::Basic {
                client_id: "a:b%c".into(),
                secret: "s+e&c:r t".into()
            }
        );
    }

    #[test]
    fn two_methods_at_once_is_invalid_request() {
        let p = Params::parse(b"client_secret=x", &[]).unwrap();
        let e = presented(Some(&basic("a", "b")), &p).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn empty_secret_is_invalid_client() {
        let p = Params::parse(b"client_id=a&client_secret=", &[]).unwrap();
        assert_eq!(
            presented(None, &p).unwrap_err().code,
            ErrorCode::InvalidClient
        );
        let p = Params::parse(b"", &[]).unwrap();
        let e = presented(Some(&basic("a", "")), &p).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidClient);
    }

    #[test]
    fn garbage_headers_are_invalid_client() {
        let p = Params::parse(b"", &[]).unwrap();
        for h in [
            &b"Basic !!!"[..],
            b"Bearer abc",
            b"Basic",
            b"\xff\xfe",
            b"Basic Zm9v",
        ] {
            assert_eq!(
                presented(Some(h), &p).unwrap_err().code,
                ErrorCode::InvalidClient
            );
        }
    }

    #[test]
    fn post_and_none() {
        let p = Params::parse(b"client_id=a&client_secret=s", &[]).unwrap();
        assert_eq!(
            presented(None, &p).unwrap().method(),
            AuthMethod::ClientSecretPost
        );
        let p = Params::parse(b"client_id=a", &[]).unwrap();
        assert_eq!(presented(None, &p).unwrap().method(), AuthMethod::None);
        let p = Params::parse(b"", &[]).unwrap();
        assert!(presented(None, &p).is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let p = Presented::Post {
            client_id: "a".into(),
            secret: "hunter2".into(),
        };
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
