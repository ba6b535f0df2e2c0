//! Opaque access tokens: for deployments that want every check to go through
//! introspection (RFC 7662) and a revocation (RFC 7009) to bite at once, rather than at
//! the `exp` of a self-contained JWT (RFC 9068 §5 leaves the choice to the server).
//!
//! An opaque token is a prefix and 256 fresh random bits (base64url); Valet stores only
//! its SHA-256, beside the claim set a JWT would have carried, so introspection answers
//! the same fields for both formats. Which format a token gets is decided here, from the
//! application and the APIs in its audience.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::UnixTime;
use crate::access_token::{AccessTokenClaims, LEEWAY};
use crate::application::Application;
use crate::audience::Api;

/// Every opaque access token starts with this, so that secret scanners can recognise a
/// leaked one and Valet never confuses it with a JWT (which has no `_` before its first
/// `.`).
pub const PREFIX: &str = "valet_at_";

/// Fresh random bytes per token: 256 bits (RFC 6749 §10.10 asks for at least 128, RFC
/// 6819 §5.1.4.2.2 recommends more).
pub const RANDOM_BYTES: usize = 32;

/// base64url without padding of `RANDOM_BYTES` bytes.
const RANDOM_CHARS: usize = (RANDOM_BYTES * 8).div_ceil(6);

/// The form of the access tokens an application or an API gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AccessTokenFormat {
    /// A signed JWT (RFC 9068) that an API can check locally; a revocation reaches a
    /// stateless API only at the token's `exp`.
    #[default]
    Jwt,
    /// A random reference, meaningful only to Valet: every check is an introspection, and
    /// a revocation takes effect at once.
    Opaque,
}

impl AccessTokenFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Opaque => "opaque",
        }
    }

    /// For `skip_serializing_if`: registrations that keep the default do not mention it.
    pub fn is_jwt(&self) -> bool {
        *self == Self::Jwt
    }
}

impl FromStr for AccessTokenFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jwt" => Ok(Self::Jwt),
            "opaque" => Ok(Self::Opaque),
            other => Err(format!(
                "unknown access token format `{other}` (expected one of: jwt, opaque)"
            )),
        }
    }
}

impl fmt::Display for AccessTokenFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one rule when both an application and APIs have a say: a token is opaque if the
/// application asks for opaque tokens, or if any API in its audience does. Opaque is the
/// stricter choice (every use is checked at Valet), so either side may demand it and
/// neither can weaken the other's choice.
pub fn format_for(app: &Application, audience: &[String], apis: &[Api]) -> AccessTokenFormat {
    let api_wants_opaque = apis.iter().any(|a| {
        a.access_token_format == AccessTokenFormat::Opaque && audience.contains(&a.audience)
    });
    if app.access_token_format == AccessTokenFormat::Opaque || api_wants_opaque {
        AccessTokenFormat::Opaque
    } else {
        AccessTokenFormat::Jwt
    }
}

/// An opaque token from its fresh random part (base64url of `RANDOM_BYTES` bytes).
pub fn token(random_b64: &str) -> String {
    format!("{PREFIX}{random_b64}")
}

/// Whether `token` has the shape of one of Valet's opaque access tokens. Anything else is
/// not looked up in the store at all (it is a JWT, or junk).
pub fn looks_opaque(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(|r| {
        r.len() == RANDOM_CHARS
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Whether the claim set stored for an opaque token makes it live at `now`: issued by
/// this issuer (a renamed issuer disowns its old tokens, as for JWTs), not issued in the
/// future, and not expired. An opaque token's `exp` is Valet's own clock, so no leeway
/// extends it: it dies exactly when introspection first reported it would (RFC 7662 §2.2
/// `exp`). Revocation and grant revocation are the caller's to check against the store.
pub fn is_active(claims: &AccessTokenClaims, issuer: &str, now: UnixTime) -> bool {
    claims.iss == issuer && claims.iat <= now + LEEWAY && now < claims.exp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::{AuthMethod, GrantType, Profile};
    use crate::audience::{ApiScope, Selection};
    use crate::scope::Scope;

    fn app(format: AccessTokenFormat) -> Application {
        Application {
            client_id: "svc".into(),
            name: "svc".into(),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile: Profile::Service,
            redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec![],
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            token_endpoint_auth_method_chosen: false,
            trusted: false,
            service_subject: None,
            post_logout_redirect_uris: vec![],
            allow_plain_pkce: false,
            require_pkce: false,
            require_mfa: false,
            id_token_on_refresh: true,
            cors_origins: vec![],
            access_token_format: format,
            registration: Default::default(),
            access_token_ttl: None,
            refresh_token_ttl: None,
            backchannel_logout_uri: None,
            assurance: Default::default(),
            backchannel_logout_session_required: false,
        }
    }

    fn api(aud: &str, format: AccessTokenFormat) -> Api {
        Api {
            audience: aud.into(),
            scopes: vec![ApiScope {
                name: format!("{aud}.read"),
                description: String::new(),
            }],
            access_token_format: format,
            introspectors: vec![],
            token_exchange: vec![],
        }
    }

    #[test]
    fn opaque_if_the_application_or_any_audience_api_says_so() {
        use AccessTokenFormat::{Jwt, Opaque};
        let apis = [api("https://a", Jwt), api("https://b", Opaque)];
        let aud = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(format_for(&app(Jwt), &aud(&["https://a"]), &apis), Jwt);
        assert_eq!(
            format_for(&app(Opaque), &aud(&["https://a"]), &apis),
            Opaque
        );
        assert_eq!(format_for(&app(Jwt), &aud(&["https://b"]), &apis), Opaque);
        assert_eq!(
            format_for(&app(Jwt), &aud(&["https://a", "https://b"]), &apis),
            Opaque
        );
        // An opaque API outside the audience has no say.
        assert_eq!(format_for(&app(Jwt), &aud(&["https://valet"]), &apis), Jwt);
    }

    #[test]
    fn shape() {
        let t = token(&"A".repeat(RANDOM_CHARS));
        assert_eq!(RANDOM_CHARS, 43);
        assert!(looks_opaque(&t));
        assert!(!looks_opaque(&t[..t.len() - 1]));
        assert!(!looks_opaque(&format!("{t}A")));
        assert!(!looks_opaque(&format!("{PREFIX}{}.", "A".repeat(42))));
        assert!(!looks_opaque(&"A".repeat(RANDOM_CHARS)));
        assert!(!looks_opaque("eyJhbGciOiJFUzI1NiJ9.e30.sig"));
        assert!(!looks_opaque(""));
    }

    #[test]
    fn wire_names() {
        for f in ["jwt", "opaque"] {
            assert_eq!(f.parse::<AccessTokenFormat>().unwrap().as_str(), f);
        }
        assert!("JWT".parse::<AccessTokenFormat>().is_err());
        assert_eq!(
            serde_json::to_value(AccessTokenFormat::Opaque).unwrap(),
            "opaque"
        );
    }

    #[test]
    fn active_until_exp_exactly() {
        let selection = Selection {
            scope: Scope::parse("a").unwrap(),
            audience: vec!["https://a".into()],
        };
        let c = AccessTokenClaims::new(crate::access_token::Issue {
            issuer: "https://valet",
            subject: "svc",
            client_id: "svc",
            selection: &selection,
            now: 1000,
            ttl: 600,
            jti: "j".into(),
        });
        assert!(is_active(&c, "https://valet", 1000));
        assert!(is_active(&c, "https://valet", 1599));
        assert!(!is_active(&c, "https://valet", 1600));
        assert!(!is_active(&c, "https://other", 1000));
        assert!(!is_active(&c, "https://valet", 1000 - LEEWAY - 1));
    }
}
