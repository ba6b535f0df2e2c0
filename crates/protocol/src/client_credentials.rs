//! The client_credentials grant (RFC 6749 §4.4): a confidential application gets an access
//! token for itself. No refresh token is issued (RFC 6749 §4.4.3).

use crate::OAuthError;
use crate::application::{Application, GrantType};
use crate::audience::{self, Api};
use crate::params::Params;
use crate::token::Issuance;

/// Decides the issuance of a client_credentials request of an already authenticated
/// application: its scope and audience (RFC 8707), for the application itself.
pub fn decide(
    app: &Application,
    params: &Params,
    apis: &[Api],
    default_audience: &str,
) -> Result<Issuance, OAuthError> {
    // RFC 6749 §4.4: confidential clients only (checklist H2).
    if !app.is_confidential() || !app.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::unauthorized_client(
            "this application may not use the client_credentials grant",
        ));
    }
    let selection =
        audience::select_requested(params, &app.token_scopes(), apis, default_audience)?;
    app.check_admin_scope(&selection.scope, false)?;
    Ok(Issuance::for_client(app, selection))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::application::{AuthMethod, Profile};
    use crate::audience::ApiScope;

    fn app(profile: Profile) -> Application {
        Application {
            client_id: "svc1".into(),
            name: "Billing".into(),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile,
            redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["api:read".into(), "api:write".into()],
            token_endpoint_auth_method: profile.default_auth_method(),
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

    fn apis() -> Vec<Api> {
        vec![Api {
            audience: "https://api.example".into(),
            scopes: ["api:read", "api:write"]
                .iter()
                .map(|s| ApiScope {
                    name: (*s).into(),
                    description: String::new(),
                })
                .collect(),
            access_token_format: Default::default(),
            introspectors: vec![],
            token_exchange: vec![],
        }]
    }

    const ISSUER: &str = "https://valet.example";

    #[test]
    fn issues_token_for_requested_scope() {
        let apis = apis();
        let p = Params::parse(b"grant_type=client_credentials&scope=api%3Aread", &[]).unwrap();
        let c = decide(&app(Profile::Service), &p, &apis, ISSUER).unwrap();
        assert_eq!(c.sub(), "svc1");
        assert_eq!(c.client_id, "svc1");
        assert_eq!(c.selection.scope.to_wire(), "api:read");
        assert_eq!(c.selection.audience, ["https://api.example"]);
        assert_eq!(c.refresh, crate::token::Refresh::None);
    }

    #[test]
    fn service_subject_becomes_sub() {
        let apis = apis();
        let mut a = app(Profile::Service);
        a.service_subject = Some("user-42".into());
        let p = Params::parse(b"grant_type=client_credentials", &[]).unwrap();
        let c = decide(&a, &p, &apis, ISSUER).unwrap();
        assert_eq!(c.sub(), "user-42");
        assert_eq!(c.selection.scope.to_wire(), "api:read api:write");
    }

    #[test]
    fn wider_scope_is_invalid_scope() {
        let apis = apis();
        let p = Params::parse(b"scope=api%3Aadmin", &[]).unwrap();
        let e = decide(&app(Profile::Service), &p, &apis, ISSUER).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidScope);
    }

    #[test]
    fn public_or_unregistered_clients_are_unauthorized() {
        let apis = apis();
        let p = Params::parse(b"", &[]).unwrap();
        let mut spa = app(Profile::Spa);
        spa.token_endpoint_auth_method = AuthMethod::None;
        let e = decide(&spa, &p, &apis, ISSUER).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnauthorizedClient);
        let mut web = app(Profile::Web);
        web.grant_types = vec![GrantType::AuthorizationCode];
        let e = decide(&web, &p, &apis, ISSUER).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnauthorizedClient);
    }
}
