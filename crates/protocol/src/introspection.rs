//! Token introspection (RFC 7662). An inactive token — expired, revoked, unknown,
//! malformed, or one the caller may not see — is `{"active":false}` and nothing else
//! (RFC 7662 §2.2), so the answer leaks nothing about why.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::access_token::AccessTokenClaims;
use crate::application::Application;
use crate::audience::Api;

/// Who may look inside an access token. RFC 7662 §2.2 makes the answer `active: false`
/// when "the protected resource is not allowed to introspect this particular token", and
/// §4 warns that an endpoint answering any authenticated caller about any token tells one
/// service about the tokens meant for another. So a caller may see a token only if
///
/// - it is the token's own application (`client_id`), public or confidential; or
/// - it is a confidential application that an API of the token's `aud` names among its
///   `introspectors` (`valet api create --introspector CLIENT_ID`): the API's own backend.
///
/// `own_audiences` are Valet's own (the issuer, the admin API): they name no
/// introspectors, whatever a registered API of the same audience would say, so only a
/// token's own application ever introspects an OpenID-only or an admin token.
pub fn may_see(
    caller: &Application,
    token: &AccessTokenClaims,
    apis: &[Api],
    own_audiences: &[&str],
) -> bool {
    if caller.client_id == token.client_id {
        return true;
    }
    caller.is_confidential()
        && apis.iter().any(|api| {
            !own_audiences.contains(&api.audience.as_str())
                && token.aud.contains(&api.audience)
                && api.introspectors.contains(&caller.client_id)
        })
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
                // RFC 9449 §6.2: a DPoP-bound token introspects as `DPoP`, with its `cnf`.
                m.serialize_entry(
                    "token_type",
                    if c.cnf.is_some() { "DPoP" } else { "Bearer" },
                )?;
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
                if let Some(cnf) = &c.cnf {
                    m.serialize_entry("cnf", cnf)?;
                }
                // RFC 8693 §4.1: the actor chain of an exchanged token.
                if let Some(act) = &c.act {
                    m.serialize_entry("act", act)?;
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
    use crate::application::{AuthMethod, Profile};
    use crate::audience::ApiScope;

    fn app(id: &str, method: AuthMethod) -> Application {
        Application {
            client_id: id.into(),
            name: id.into(),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile: Profile::Service,
            redirect_uris: vec![],
            grant_types: vec![],
            scopes: vec![],
            token_endpoint_auth_method: method,
            token_endpoint_auth_method_chosen: true,
            trusted: false,
            service_subject: None,
            post_logout_redirect_uris: vec![],
            allow_plain_pkce: false,
            require_pkce: false,
            require_mfa: false,
            id_token_on_refresh: true,
            cors_origins: vec![],
            access_token_format: Default::default(),
            registration: Default::default(),
            access_token_ttl: None,
            refresh_token_ttl: None,
            backchannel_logout_uri: None,
            assurance: Default::default(),
            backchannel_logout_session_required: false,
        }
    }

    fn api(aud: &str, introspectors: &[&str]) -> Api {
        Api {
            audience: aud.into(),
            scopes: vec![ApiScope {
                name: format!("{aud}.read"),
                description: String::new(),
            }],
            access_token_format: Default::default(),
            introspectors: introspectors.iter().map(|s| (*s).to_owned()).collect(),
            token_exchange: vec![],
        }
    }

    fn token(client_id: &str, aud: &[&str]) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://v".into(),
            sub: "s".into(),
            aud: aud.iter().map(|s| (*s).to_owned()).collect(),
            exp: 2,
            iat: 1,
            nbf: 1,
            jti: "j".into(),
            client_id: client_id.into(),
            scope: None,
            auth_time: None,
            grant_id: None,
            cnf: None,
            act: None,
        }
    }

    #[test]
    fn the_owner_and_the_audiences_introspectors_see_a_token_nobody_else() {
        let basic = AuthMethod::ClientSecretBasic;
        let apis = [
            api("https://a", &["rs-a", "spa"]),
            api("https://b", &["rs-b"]),
            // Registered over Valet's own audiences: names nobody.
            api("https://v", &["rs-a"]),
            api("https://v/admin/api", &["rs-a"]),
        ];
        let own = ["https://v", "https://v/admin/api"];
        let sees = |caller: &Application, t: &AccessTokenClaims| may_see(caller, t, &apis, &own);
        let t = token("svc", &["https://a"]);
        assert!(sees(&app("svc", basic), &t), "its own application");
        assert!(sees(&app("svc", AuthMethod::None), &t), "a public one too");
        assert!(sees(&app("rs-a", basic), &t), "the audience's introspector");
        assert!(!sees(&app("rs-b", basic), &t), "another API's introspector");
        assert!(
            !sees(&app("other", basic), &t),
            "any other confidential app"
        );
        assert!(
            !sees(&app("spa", AuthMethod::None), &t),
            "a public app is never an introspector"
        );
        // A token for two APIs: either API's introspector.
        let both = token("svc", &["https://a", "https://b"]);
        assert!(sees(&app("rs-b", basic), &both));
        // Valet's own audiences have no introspectors.
        for aud in own {
            assert!(!sees(&app("rs-a", basic), &token("svc", &[aud])), "{aud}");
            assert!(sees(&app("svc", basic), &token("svc", &[aud])), "{aud}");
        }
    }

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
            cnf: None,
            act: None,
        };
        let v = serde_json::to_value(Introspection::Active(&c)).unwrap();
        assert_eq!(v["active"], true);
        assert_eq!(v["scope"], "a b");
        assert_eq!(v["aud"], "https://api");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["client_id"], "c");
    }
}
