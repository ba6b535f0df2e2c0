//! OpenID Connect ID tokens (OIDC Core §2, §3.1.3.6, §3.2.2.10) and the user claims
//! that scopes release (§5.4), for the ID token and UserInfo (§5.3).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::UnixTime;
use crate::scope::Scope;
use crate::user::UserClaims;

/// Authentication Context Class Reference of a password sign-in (OIDC Core §2 `acr`).
pub const ACR_PASSWORD: &str = "urn:valet:acr:password";
/// Authentication Context Class Reference of a sign-in with a password and a second
/// factor (`mfa::two_factor_amr`).
pub const ACR_MFA: &str = "urn:valet:acr:mfa";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub auth_time: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub acr: String,
    /// RFC 8176 authentication method references: `pwd`, and `otp`, `mfa` with a second
    /// factor.
    pub amr: Vec<String>,
    /// OIDC Core §2: the party the token was issued to.
    pub azp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c_hash: Option<String>,
    /// OIDC Back-Channel Logout 1.0 §2.1: the session the user signed in with, as logout
    /// tokens name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Profile claims, only when no access token lets the client call UserInfo
    /// (OIDC Core §5.4, `response_type=id_token`; checklist J9).
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}

pub struct IdToken<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub client_id: &'a str,
    pub now: UnixTime,
    pub ttl: i64,
    pub auth_time: UnixTime,
    pub acr: &'a str,
    pub amr: &'a [String],
    pub nonce: Option<&'a str>,
    /// `at_hash` and `c_hash`: the left half of the SHA-256 of the token, base64url
    /// (OIDC Core §3.1.3.6), computed by the caller.
    pub at_hash: Option<String>,
    pub c_hash: Option<String>,
    pub sid: Option<String>,
    pub claims: Map<String, Value>,
}

impl IdTokenClaims {
    pub fn new(t: IdToken<'_>) -> Self {
        // The members above are set here; an embedded user claim of the same name (`sub`
        // from `user_claims`) would put the member in the JSON twice (RFC 7519 §4).
        let mut claims = t.claims;
        for own in [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
            "at_hash",
            "c_hash",
            "sid",
        ] {
            claims.remove(own);
        }
        Self {
            iss: t.issuer.to_owned(),
            sub: t.subject.to_owned(),
            aud: t.client_id.to_owned(),
            exp: t.now + t.ttl,
            iat: t.now,
            auth_time: t.auth_time,
            nonce: t.nonce.map(str::to_owned),
            acr: t.acr.to_owned(),
            amr: t.amr.to_vec(),
            azp: t.client_id.to_owned(),
            at_hash: t.at_hash,
            c_hash: t.c_hash,
            sid: t.sid,
            claims,
        }
    }
}

/// The claims of the hint a relying party sends back as `id_token_hint` (OIDC Core
/// §3.1.2.1) or to logout: only what Valet checks.
#[derive(Debug, Clone, Deserialize)]
pub struct HintClaims {
    pub iss: String,
    pub sub: String,
    #[serde(deserialize_with = "crate::access_token::string_or_list")]
    pub aud: Vec<String>,
    /// Not checked for a hint; token exchange refuses an expired ID token.
    #[serde(default)]
    pub exp: Option<crate::UnixTime>,
}

impl HintClaims {
    /// A hint must be one of this issuer's ID tokens: typed `JWT` (or untyped), never an
    /// access token (RFC 8725 §3.11; checklist K6). Expiry does not matter for a hint.
    pub fn check(&self, typ: Option<&str>, issuer: &str) -> Result<(), &'static str> {
        if typ.is_some_and(|t| !t.eq_ignore_ascii_case("JWT")) {
            return Err("not an ID token (typ)");
        }
        if self.iss != issuer {
            return Err("issued by someone else");
        }
        Ok(())
    }
}

/// The user claims a scope set releases (OIDC Core §5.4), `sub` included.
pub fn user_claims(
    sub: &str,
    username: &str,
    user: &UserClaims,
    scope: &Scope,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("sub".into(), sub.into());
    fn put(out: &mut Map<String, Value>, k: &str, v: Option<&String>) {
        if let Some(v) = v {
            out.insert(k.into(), Value::String(v.clone()));
        }
    }
    if scope.contains("profile") {
        put(&mut out, "name", user.name.as_ref());
        put(&mut out, "given_name", user.given_name.as_ref());
        put(&mut out, "family_name", user.family_name.as_ref());
        put(&mut out, "locale", user.locale.as_ref());
        put(&mut out, "preferred_username", Some(&username.to_owned()));
        if !user.groups.is_empty() {
            out.insert("groups".into(), user.groups.clone().into());
        }
    }
    if scope.contains("email") && user.email.is_some() {
        put(&mut out, "email", user.email.as_ref());
        out.insert("email_verified".into(), user.email_verified.into());
    }
    if scope.contains("phone") && user.phone_number.is_some() {
        put(&mut out, "phone_number", user.phone_number.as_ref());
        out.insert(
            "phone_number_verified".into(),
            user.phone_number_verified.into(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserClaims {
        UserClaims {
            name: Some("Alice Liddell".into()),
            email: Some("alice@example.com".into()),
            email_verified: true,
            ..Default::default()
        }
    }

    #[test]
    fn scopes_release_their_claims_only() {
        let only_openid = user_claims("u1", "alice", &user(), &Scope::parse("openid").unwrap());
        assert_eq!(
            only_openid,
            serde_json::json!({"sub": "u1"})
                .as_object()
                .unwrap()
                .clone()
        );
        let all = user_claims(
            "u1",
            "alice",
            &user(),
            &Scope::parse("openid profile email phone").unwrap(),
        );
        assert_eq!(all["name"], "Alice Liddell");
        assert_eq!(all["preferred_username"], "alice");
        assert_eq!(all["email_verified"], true);
        assert!(
            all.get("phone_number").is_none(),
            "absent claims are omitted"
        );
    }

    #[test]
    fn id_token_claims() {
        let c = IdTokenClaims::new(IdToken {
            issuer: "https://v",
            subject: "u1",
            client_id: "c1",
            now: 100,
            ttl: 600,
            auth_time: 90,
            acr: ACR_PASSWORD,
            amr: &["pwd".to_owned()],
            nonce: Some("n"),
            at_hash: Some("h".into()),
            c_hash: None,
            sid: None,
            claims: Map::new(),
        });
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["aud"], "c1");
        assert_eq!(v["azp"], "c1");
        assert_eq!(v["nonce"], "n");
        assert_eq!(v["exp"], 700);
        assert_eq!(v["acr"], ACR_PASSWORD);
        assert_eq!(v["amr"], serde_json::json!(["pwd"]));
        assert!(v.get("c_hash").is_none());
    }

    #[test]
    fn embedded_user_claims_never_repeat_a_member() {
        let claims = user_claims(
            "u1",
            "alice",
            &user(),
            &Scope::parse("openid email").unwrap(),
        );
        let c = IdTokenClaims::new(IdToken {
            issuer: "https://v",
            subject: "u1",
            client_id: "c1",
            now: 100,
            ttl: 600,
            auth_time: 90,
            acr: ACR_PASSWORD,
            amr: &["pwd".to_owned()],
            nonce: None,
            at_hash: None,
            c_hash: None,
            sid: None,
            claims,
        });
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json.matches("\"sub\"").count(), 1, "{json}");
        assert!(json.contains("\"email\""));
    }

    #[test]
    fn hints_must_be_id_tokens_of_this_issuer() {
        let h = HintClaims {
            iss: "https://v".into(),
            sub: "u1".into(),
            aud: vec!["c1".into()],
            exp: None,
        };
        assert!(h.check(Some("JWT"), "https://v").is_ok());
        assert!(h.check(None, "https://v").is_ok());
        assert!(h.check(Some("at+jwt"), "https://v").is_err());
        assert!(h.check(Some("JWT"), "https://other").is_err());
    }
}
