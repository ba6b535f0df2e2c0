//! Token introspection (RFC 7662). An inactive token — expired, revoked, unknown,
//! malformed, or one the caller may not see — is `{"active":false}` and nothing else
//! (RFC 7662 §2.2), so the answer leaks nothing about why.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::access_token::AccessTokenClaims;
use crate::application::Application;

/// Who may look inside a token (RFC 7662 §2.1 leaves it to the server): a confidential
/// application — typically an API's backend — may introspect any token of this issuer; a
/// public application only its own.
pub fn may_see(caller: &Application, token: &AccessTokenClaims) -> bool {
    caller.is_confidential() || caller.client_id == token.client_id
}

/// A refresh token is only ever its own application's business: an API has no reason to
/// look at one, so only the application it was issued to may introspect it.
pub fn may_see_refresh_token(caller: &Application, client_id: &str) -> bool {
    caller.client_id == client_id
}

/// A live refresh token, as introspection describes it.
pub struct RefreshView<'a> {
    pub scope: &'a str,
    pub client_id: &'a str,
    pub sub: &'a str,
    pub iat: crate::UnixTime,
    pub exp: crate::UnixTime,
}

/// The body of an introspection response.
pub enum Introspection<'a> {
    Inactive,
    Active(&'a AccessTokenClaims),
    /// RFC 7662 §2.2 `token_type` is a hint about the kind of token; here `refresh_token`.
    Refresh(RefreshView<'a>),
}

impl Serialize for Introspection<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Inactive => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("active", &false)?;
                m.end()
            }
            Self::Active(c) => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("active", &true)?;
                if let Some(scope) = &c.scope {
                    m.serialize_entry("scope", scope)?;
                }
                m.serialize_entry("client_id", &c.client_id)?;
                m.serialize_entry("token_type", "Bearer")?;
                m.serialize_entry("exp", &c.exp)?;
                m.serialize_entry("iat", &c.iat)?;
                m.serialize_entry("nbf", &c.nbf)?;
                m.serialize_entry("sub", &c.sub)?;
                match c.aud.as_slice() {
                    [one] => m.serialize_entry("aud", one)?,
                    many => m.serialize_entry("aud", many)?,
                }
                m.serialize_entry("iss", &c.iss)?;
                m.serialize_entry("jti", &c.jti)?;
                if let Some(t) = c.auth_time {
                    m.serialize_entry("auth_time", &t)?;
                }
                m.end()
            }
            Self::Refresh(r) => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("active", &true)?;
                m.serialize_entry("scope", r.scope)?;
                m.serialize_entry("client_id", r.client_id)?;
                m.serialize_entry("token_type", "refresh_token")?;
                m.serialize_entry("exp", &r.exp)?;
                m.serialize_entry("iat", &r.iat)?;
                m.serialize_entry("sub", r.sub)?;
                m.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_has_no_other_members() {
        let v = serde_json::to_value(Introspection::Inactive).unwrap();
        assert_eq!(v, serde_json::json!({"active": false}));
    }

    #[test]
    fn active_carries_the_claims() {
        let c = AccessTokenClaims {
            iss: "https://v".into(),
            sub: "s".into(),
            aud: vec!["https://api".into()],
            exp: 2,
            iat: 1,
            nbf: 1,
            jti: "j".into(),
            client_id: "c".into(),
            scope: Some("a b".into()),
            auth_time: None,
            grant_id: None,
        };
        let v = serde_json::to_value(Introspection::Active(&c)).unwrap();
        assert_eq!(v["active"], true);
        assert_eq!(v["scope"], "a b");
        assert_eq!(v["aud"], "https://api");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["client_id"], "c");
    }
}
