//! One issuance: what every grant's protocol step decides, whatever the grant. The
//! authorization code, refresh, password, device, client-credentials, token exchange
//! (RFC 8693) and JWT bearer (RFC 7523) grants, and the authorization endpoint's implicit
//! responses, each end in one [`Issuance`]; the server
//! turns it into tokens and the response in one place (`issue::execute`), so no grant
//! decides token formats, lifetimes or the shape of the response (RFC 6749 §5.1).

use serde_json::{Map, Value};

use crate::UnixTime;
use crate::application::{Application, GrantType};
use crate::audience::Selection;
use crate::id_token::ACR_PASSWORD;
use crate::refresh::RefreshDetails;

/// The decided tokens of one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuance {
    /// The application the tokens are for (`client_id`, `azp`).
    pub client_id: String,
    /// Whose tokens they are.
    pub subject: Subject,
    /// The scope and audience of the access token.
    pub selection: Selection,
    /// Whether an access token is issued: always at the token endpoint; an implicit
    /// `response_type=id_token` has none (OIDC Core §3.2.2.5).
    pub access_token: bool,
    /// The ID token, if one is issued (OIDC Core §3.1.3.3, §12.2).
    pub id_token: Option<IdTokenPlan>,
    /// Whether and how a refresh token is issued.
    pub refresh: Refresh,
    /// The key the access token is bound to, if it is sender-constrained. Nothing binds
    /// tokens yet; DPoP (RFC 9449 §6) and mTLS (RFC 8705 §3) will set it.
    pub cnf: Option<Confirmation>,
    /// Who acts for the subject: set by token exchange only (RFC 8693 §4.1).
    pub act: Option<crate::access_token::Actor>,
    /// The access token expires no later than this: an exchanged token never outlives the
    /// token it was exchanged for.
    pub not_after: Option<UnixTime>,
}

/// Whose tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An application acting for itself (client_credentials, RFC 6749 §4.4): `sub` is its
    /// service subject or its client_id. Such tokens belong to no grant.
    Client { sub: String },
    /// A user, within a grant they gave the application.
    User {
        user_id: String,
        grant_id: String,
        authentication: Authentication,
    },
}

/// How and when the user last authenticated (OIDC Core §2 `auth_time`, `acr`, `amr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub time: UnixTime,
    pub acr: String,
    /// RFC 8176 authentication method references.
    pub amr: Vec<String>,
}

impl Authentication {
    /// A sign-in at `time` by the methods `amr` (RFC 8176), reaching the `acr` they make
    /// (`mfa::acr_of`); an empty `amr` (a record from before) is a password.
    pub fn new(time: UnixTime, amr: &[String]) -> Self {
        if amr.is_empty() {
            return Self::password(time);
        }
        Self {
            time,
            acr: crate::mfa::acr_of(amr).to_owned(),
            amr: amr.to_vec(),
        }
    }

    /// A password sign-in at `time`.
    pub fn password(time: UnixTime) -> Self {
        Self {
            time,
            acr: ACR_PASSWORD.to_owned(),
            amr: vec!["pwd".to_owned()],
        }
    }
}

/// An ID token to issue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdTokenPlan {
    /// The authorization request's nonce, echoed (OIDC Core §3.1.2.1).
    pub nonce: Option<String>,
    /// User claims embedded because no access token can fetch them from UserInfo (OIDC
    /// Core §5.4); empty otherwise.
    pub claims: Map<String, Value>,
}

/// Whether and how a refresh token goes with the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// None: the application may not refresh, or the grant never gives one (implicit,
    /// RFC 6749 §4.2.2; client_credentials, §4.4.3).
    None,
    /// A new refresh token of the grant, remembering `details`.
    New(RefreshDetails),
    /// The presented refresh token stays valid and is sent back, so clients that replace
    /// their whole token set keep it.
    Keep,
    /// A successor replaces the presented refresh token, atomically (RFC 9700 §4.14.2);
    /// it remembers the grant's original `details`, so a narrowed refresh can be widened
    /// back later (RFC 6749 §6).
    Rotate(RefreshDetails),
}

/// A sender constraint (RFC 7800 `cnf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// The JWK SHA-256 thumbprint of a DPoP key (RFC 9449 §6.1).
    Jkt(String),
}

impl Issuance {
    /// The tokens of a user's grant: an access token, an ID token when the scope has
    /// `openid`, and a new refresh token when the application may refresh (a web or
    /// device application's `openid` alone is enough: no `offline_access` needed).
    pub fn for_user(
        app: &Application,
        user_id: &str,
        grant_id: &str,
        authentication: Authentication,
        selection: Selection,
        nonce: Option<String>,
    ) -> Self {
        let id_token = selection.scope.contains("openid").then(|| IdTokenPlan {
            nonce,
            claims: Map::new(),
        });
        let refresh = if app.allows_grant(GrantType::RefreshToken) {
            Refresh::New(RefreshDetails {
                scope: selection.scope.clone(),
                auth_time: authentication.time,
                amr: authentication.amr.clone(),
                dpop_jkt: None,
            })
        } else {
            Refresh::None
        };
        Self {
            client_id: app.client_id.clone(),
            subject: Subject::User {
                user_id: user_id.to_owned(),
                grant_id: grant_id.to_owned(),
                authentication,
            },
            selection,
            access_token: true,
            id_token,
            refresh,
            cnf: None,
            act: None,
            not_after: None,
        }
    }

    /// The tokens of an application acting for itself: one access token.
    pub fn for_client(app: &Application, selection: Selection) -> Self {
        let sub = app
            .service_subject
            .clone()
            .unwrap_or_else(|| app.client_id.clone());
        Self {
            client_id: app.client_id.clone(),
            subject: Subject::Client { sub },
            selection,
            access_token: true,
            id_token: None,
            refresh: Refresh::None,
            cnf: None,
            act: None,
            not_after: None,
        }
    }

    /// RFC 9449 §5: tokens requested with a DPoP proof of key `jkt` are bound to it: the
    /// access token (`cnf.jkt`, §6.1) and, for a public application, a new refresh token
    /// (a confidential one's is bound to its client authentication instead).
    pub fn bind_dpop(&mut self, jkt: Option<&str>, public: bool) {
        let Some(jkt) = jkt else { return };
        self.cnf = Some(Confirmation::Jkt(jkt.to_owned()));
        if let (true, Refresh::New(d) | Refresh::Rotate(d)) = (public, &mut self.refresh) {
            d.dpop_jkt = Some(jkt.to_owned());
        }
    }

    /// `sub` of every token of this issuance.
    pub fn sub(&self) -> &str {
        match &self.subject {
            Subject::Client { sub } => sub,
            Subject::User { user_id, .. } => user_id,
        }
    }

    /// The grant, for a user's tokens.
    pub fn grant_id(&self) -> Option<&str> {
        match &self.subject {
            Subject::Client { .. } => None,
            Subject::User { grant_id, .. } => Some(grant_id),
        }
    }

    /// The authentication, for a user's tokens.
    pub fn authentication(&self) -> Option<&Authentication> {
        match &self.subject {
            Subject::Client { .. } => None,
            Subject::User { authentication, .. } => Some(authentication),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::{AuthMethod, Profile};
    use crate::scope::Scope;

    fn app(grants: Vec<GrantType>) -> Application {
        Application {
            client_id: "app1".into(),
            name: "App".into(),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile: Profile::Web,
            redirect_uris: vec![],
            grant_types: grants,
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
            access_token_format: Default::default(),
            registration: Default::default(),
            access_token_ttl: None,
            refresh_token_ttl: None,
            backchannel_logout_uri: None,
            assurance: Default::default(),
            backchannel_logout_session_required: false,
        }
    }

    fn selection(scope: &str) -> Selection {
        Selection {
            scope: Scope::parse(scope).unwrap(),
            audience: vec!["https://issuer".into()],
        }
    }

    #[test]
    fn a_users_grant_gets_an_id_token_only_with_openid() {
        let a = app(vec![GrantType::AuthorizationCode]);
        let with = Issuance::for_user(
            &a,
            "u1",
            "g1",
            Authentication::password(5),
            selection("openid profile"),
            Some("n".into()),
        );
        assert_eq!(with.id_token.unwrap().nonce.as_deref(), Some("n"));
        assert_eq!(with.refresh, Refresh::None, "no refresh grant registered");
        let without = Issuance::for_user(
            &a,
            "u1",
            "g1",
            Authentication::password(5),
            selection("profile"),
            None,
        );
        assert!(without.id_token.is_none());
        assert_eq!(without.sub(), "u1");
        assert_eq!(without.grant_id(), Some("g1"));
    }

    #[test]
    fn a_refresh_token_only_where_the_application_may_refresh() {
        let a = app(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]);
        let i = Issuance::for_user(
            &a,
            "u1",
            "g1",
            Authentication::password(7),
            selection("openid"),
            None,
        );
        assert_eq!(
            i.refresh,
            Refresh::New(RefreshDetails {
                scope: Scope::parse("openid").unwrap(),
                auth_time: 7,
                amr: vec!["pwd".to_owned()],
                dpop_jkt: None,
            })
        );
        assert_eq!(i.authentication().unwrap().amr, vec!["pwd".to_owned()]);
    }

    #[test]
    fn an_application_for_itself_gets_an_access_token_alone() {
        let mut a = app(vec![GrantType::ClientCredentials, GrantType::RefreshToken]);
        let i = Issuance::for_client(&a, selection("api:read"));
        assert_eq!(i.sub(), "app1");
        assert_eq!(i.refresh, Refresh::None, "RFC 6749 §4.4.3");
        assert!(i.id_token.is_none() && i.grant_id().is_none());
        a.service_subject = Some("svc-billing".into());
        assert_eq!(
            Issuance::for_client(&a, selection("api:read")).sub(),
            "svc-billing"
        );
    }
}
