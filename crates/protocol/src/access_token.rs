//! JWT access tokens (RFC 9068): the claims Valet puts in them and the checks a token
//! must pass before Valet treats it as its own. Signing is `valet-jose`'s job.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::UnixTime;
use crate::audience::Selection;

/// RFC 9068 §2.1: the JOSE `typ` of an access token.
pub const TYP: &str = "at+jwt";

/// Clock skew tolerated on `exp`, `nbf` and `iat` (checklist K5: +8 s passes, +60 s fails).
pub const LEEWAY: i64 = 30;

/// RFC 9068 §2.2 claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    #[serde(serialize_with = "one_or_many", deserialize_with = "string_or_list")]
    pub aud: Vec<String>,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub nbf: UnixTime,
    pub jti: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<UnixTime>,
    /// The grant a user's token belongs to: revoking the grant (consent withdrawn, code
    /// replayed, refresh token reused) makes the token inactive at introspection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
}

/// What the issuing flow decided; `jti` is fresh randomness supplied by the caller.
pub struct Issue<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub client_id: &'a str,
    pub selection: &'a Selection,
    pub now: UnixTime,
    pub ttl: i64,
    pub jti: String,
}

impl AccessTokenClaims {
    pub fn new(i: Issue<'_>) -> Self {
        let scope = (!i.selection.scope.is_empty()).then(|| i.selection.scope.to_wire());
        Self {
            iss: i.issuer.to_owned(),
            sub: i.subject.to_owned(),
            aud: i.selection.audience.clone(),
            exp: i.now + i.ttl,
            iat: i.now,
            nbf: i.now,
            jti: i.jti,
            client_id: i.client_id.to_owned(),
            scope,
            auth_time: None,
            grant_id: None,
        }
    }

    /// Checks that a signature-verified token is a live access token of this issuer
    /// (RFC 9068 §4; RFC 7519 §4.1.4–4.1.6). Returns why not, for logs only: callers
    /// answer "inactive" or `invalid_token` without detail.
    pub fn check(
        &self,
        typ: Option<&str>,
        issuer: &str,
        now: UnixTime,
    ) -> Result<(), &'static str> {
        // RFC 9068 §4 requires `at+jwt`; also accept the media-type form.
        if !typ.is_some_and(|t| {
            t.eq_ignore_ascii_case(TYP) || t.eq_ignore_ascii_case("application/at+jwt")
        }) {
            return Err("not an access token (typ)");
        }
        if self.iss != issuer {
            return Err("issued by someone else");
        }
        if self.exp <= now - LEEWAY {
            return Err("expired");
        }
        if self.nbf > now + LEEWAY {
            return Err("not yet valid");
        }
        if self.iat > now + LEEWAY {
            return Err("issued in the future");
        }
        Ok(())
    }

    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|t| t == wanted))
    }
}

fn one_or_many<S: Serializer>(aud: &[String], s: S) -> Result<S::Ok, S::Error> {
    match aud {
        [one] => s.serialize_str(one),
        many => many.serialize(s),
    }
}

pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;

    const NOW: UnixTime = 1_700_000_000;

    fn claims() -> AccessTokenClaims {
        let selection = Selection {
            scope: Scope::parse("a b").unwrap(),
            audience: vec!["https://api.example".into()],
        };
        AccessTokenClaims::new(Issue {
            issuer: "https://valet.example",
            subject: "svc",
            client_id: "svc",
            selection: &selection,
            now: NOW,
            ttl: 600,
            jti: "j1".into(),
        })
    }

    #[test]
    fn carries_rfc_9068_claims() {
        let v = serde_json::to_value(claims()).unwrap();
        for k in [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "client_id",
            "scope",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["aud"], "https://api.example");
        assert_eq!(v["exp"], NOW + 600);
        assert!(v.get("auth_time").is_none());
    }

    #[test]
    fn audience_parses_string_or_list() {
        let mut v = serde_json::to_value(claims()).unwrap();
        v["aud"] = serde_json::json!(["x", "y"]);
        let c: AccessTokenClaims = serde_json::from_value(v).unwrap();
        assert_eq!(c.aud, ["x", "y"]);
        assert_eq!(
            serde_json::to_value(&c).unwrap()["aud"],
            serde_json::json!(["x", "y"])
        );
    }

    #[test]
    fn time_and_type_checks() {
        let c = claims();
        let iss = "https://valet.example";
        assert!(c.check(Some("at+jwt"), iss, NOW).is_ok());
        assert!(c.check(Some("JWT"), iss, NOW).is_err());
        assert!(c.check(None, iss, NOW).is_err());
        assert!(c.check(Some("at+jwt"), "https://other", NOW).is_err());
        assert!(c.check(Some("at+jwt"), iss, NOW + 600 + LEEWAY).is_err());
        assert!(c.check(Some("at+jwt"), iss, NOW + 600 + LEEWAY - 1).is_ok());
        // nbf 8 s ahead of our clock passes, 60 s ahead fails (checklist K5).
        assert!(c.check(Some("at+jwt"), iss, NOW - 8).is_ok());
        assert!(c.check(Some("at+jwt"), iss, NOW - 60).is_err());
    }

    #[test]
    fn scope_lookup_is_by_token() {
        let c = claims();
        assert!(c.has_scope("a"));
        assert!(!c.has_scope("a b"));
        assert!(!c.has_scope("c"));
    }
}
