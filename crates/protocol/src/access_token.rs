//! JWT access tokens (RFC 9068): the claims Valet puts in them and the checks a token
//! must pass before Valet treats it as its own. Signing is `valet-jose`'s job.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::UnixTime;
use crate::audience::Selection;

/// RFC 9068 §2.1: the JOSE `typ` of an access token.
pub const TYP: &str = "at+jwt";

/// Clock skew tolerated on `nbf` and `iat` (checklist K5: +8 s passes, +60 s fails): a
/// token may come from another node whose clock runs a little ahead. On `exp` it is only
/// for a clock other than the issuer's (an API checking tokens locally, `valet-resource`):
/// at Valet a token is dead at its `exp` (issue 12 item 8), see [`AccessTokenClaims::check`].
pub const LEEWAY: i64 = 30;

/// The `exp` leeway of Valet's own checks: none. `exp <= now` is expired (RFC 7519 §4.1.4:
/// "on or after"), exactly when introspection said the token would end.
pub const OWN_EXP_LEEWAY: i64 = 0;

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
    /// The key a sender-constrained token is bound to (RFC 7800 §3.1; RFC 9449 §6.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Cnf>,
    /// The party acting for `sub`, on a token made by token exchange (RFC 8693 §4.1): the
    /// current actor on top, earlier ones nested inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// RFC 8693 §4.1 `act`: who acts (`sub`, and the application it acts through), and, nested,
/// who acted before it in a chain of exchanges. §4.1: only the outermost actor is the
/// current one; the nested ones are history, never consulted for access decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// How many actors the chain names, this one included.
    pub fn depth(&self) -> usize {
        1 + self.act.as_ref().map_or(0, |a| a.depth())
    }
}

/// RFC 7800 `cnf` of a DPoP-bound token: the JWK SHA-256 thumbprint (RFC 9449 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cnf {
    pub jkt: String,
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
            cnf: None,
            act: None,
        }
    }

    /// Checks that a signature-verified token is a live access token of this issuer
    /// (RFC 9068 §4; RFC 7519 §4.1.4–4.1.6). `exp_leeway` is how long after `exp` the token
    /// still passes: [`OWN_EXP_LEEWAY`] (none) wherever Valet checks its own tokens,
    /// [`LEEWAY`] at most for a reader on another clock. Returns why not, for logs only:
    /// callers answer "inactive" or `invalid_token` without detail.
    pub fn check(
        &self,
        typ: Option<&str>,
        issuer: &str,
        now: UnixTime,
        exp_leeway: i64,
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
        if self.exp <= now - exp_leeway.clamp(0, LEEWAY) {
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
        let own = |now| c.check(Some("at+jwt"), iss, now, OWN_EXP_LEEWAY);
        assert!(own(NOW).is_ok());
        assert!(c.check(Some("JWT"), iss, NOW, OWN_EXP_LEEWAY).is_err());
        assert!(c.check(None, iss, NOW, OWN_EXP_LEEWAY).is_err());
        assert!(c.check(Some("at+jwt"), "https://other", NOW, 0).is_err());
        // Valet's own check: dead at exp (issue 12 item 8).
        assert!(own(NOW + 600 - 1).is_ok());
        assert!(own(NOW + 600).is_err());
        assert!(own(NOW + 601).is_err());
        // Another clock (an API): at most LEEWAY after exp, whatever it asks for.
        let api = |now, leeway| c.check(Some("at+jwt"), iss, now, leeway);
        assert!(api(NOW + 600 + LEEWAY - 1, LEEWAY).is_ok());
        assert!(api(NOW + 600 + LEEWAY, LEEWAY).is_err());
        assert!(api(NOW + 600 + LEEWAY, 3600).is_err(), "bounded");
        assert!(api(NOW + 600, -5).is_err(), "never negative");
        // nbf 8 s ahead of our clock passes, 60 s ahead fails (checklist K5), for both.
        assert!(own(NOW - 8).is_ok());
        assert!(own(NOW - 60).is_err());
        assert!(api(NOW - 60, LEEWAY).is_err());
    }

    #[test]
    fn scope_lookup_is_by_token() {
        let c = claims();
        assert!(c.has_scope("a"));
        assert!(!c.has_scope("a b"));
        assert!(!c.has_scope("c"));
    }
}
