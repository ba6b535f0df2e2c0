//! The resource owner password credentials grant (RFC 6749 §4.3), legacy (RFC 9700 §2.4):
//! what a request must be before any password is checked. Checking the password is the
//! server's (`users/signin.rs`); this decides whether there is one to check, and for
//! which scope and audience.

use crate::OAuthError;
use crate::application::{Application, GrantType};
use crate::audience::{self, Api, Selection};
use crate::params::Params;
use crate::token::{Authentication, Issuance};

/// A password-grant request that may go on to the password check.
pub struct PasswordRequest<'a> {
    pub username: &'a str,
    /// Never logged, never in `Debug`.
    password: &'a str,
    pub selection: Selection,
}

impl std::fmt::Debug for PasswordRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordRequest")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("selection", &self.selection)
            .finish()
    }
}

impl<'a> PasswordRequest<'a> {
    pub fn password(&self) -> &'a str {
        self.password
    }

    /// Once the password was right: the tokens of a new grant (`grant_id`) of the user,
    /// who authenticated just now.
    pub fn issuance(
        self,
        app: &Application,
        user_id: &str,
        grant_id: &str,
        now: crate::UnixTime,
    ) -> Issuance {
        Issuance::for_user(
            app,
            user_id,
            grant_id,
            Authentication::password(now),
            self.selection,
            None,
        )
    }
}

/// In order: only a confidential application allowed the grant (RFC 6749 §4.3.2 requires
/// client authentication of confidential clients; an admin opts in), both credentials
/// present (§4.3.2), then the scope and audience like every other grant (RFC 8707).
pub fn decide<'a>(
    app: &Application,
    params: &'a Params,
    apis: &[Api],
    default_audience: &str,
) -> Result<PasswordRequest<'a>, OAuthError> {
    if !app.is_confidential() || !app.allows_grant(GrantType::Password) {
        return Err(OAuthError::unauthorized_client(
            "this application may not use the password grant",
        ));
    }
    let (Some(username), Some(password)) = (params.get("username"), params.get("password")) else {
        return Err(OAuthError::invalid_request(
            "username and password are required",
        ));
    };
    let selection =
        audience::select_requested(params, &app.allowed_scopes(), apis, default_audience)?;
    Ok(PasswordRequest {
        username,
        password,
        selection,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::application::{AuthMethod, Profile};

    fn app(profile: Profile, grants: Vec<GrantType>) -> Application {
        Application {
            client_id: "legacy".into(),
            name: "Legacy".into(),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile,
            redirect_uris: vec![],
            grant_types: grants,
            scopes: vec![],
            token_endpoint_auth_method: if profile == Profile::Spa {
                AuthMethod::None
            } else {
                AuthMethod::ClientSecretBasic
            },
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
            access_token_ttl: None,
            refresh_token_ttl: None,
            backchannel_logout_uri: None,
            assurance: Default::default(),
            backchannel_logout_session_required: false,
            registration: Default::default(),
        }
    }

    fn run(a: &Application, body: &str) -> Result<(String, String), ErrorCode> {
        let p = Params::parse(body.as_bytes(), &[]).unwrap();
        decide(a, &p, &[], "https://v")
            .map(|r| (r.username.to_owned(), r.selection.scope.to_wire()))
            .map_err(|e| e.code)
    }

    #[test]
    fn only_confidential_applications_that_opted_in_then_both_credentials() {
        let web = app(
            Profile::Web,
            vec![GrantType::AuthorizationCode, GrantType::Password],
        );
        let spa = app(Profile::Spa, vec![GrantType::Password]);
        let off = app(Profile::Web, vec![GrantType::AuthorizationCode]);
        let creds = "username=alice&password=pw&scope=openid";
        assert_eq!(run(&spa, creds), Err(ErrorCode::UnauthorizedClient));
        assert_eq!(run(&off, creds), Err(ErrorCode::UnauthorizedClient));
        assert_eq!(run(&web, "username=alice"), Err(ErrorCode::InvalidRequest));
        assert_eq!(
            run(&web, "username=alice&password="),
            Err(ErrorCode::InvalidRequest)
        );
        assert_eq!(run(&web, creds), Ok(("alice".into(), "openid".into())));
        assert_eq!(
            run(&web, "username=alice&password=pw&scope=nope"),
            Err(ErrorCode::InvalidScope)
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let web = app(Profile::Web, vec![GrantType::Password]);
        let p = Params::parse(b"username=alice&password=hunter2hunter2", &[]).unwrap();
        let r = decide(&web, &p, &[], "https://v").unwrap();
        assert_eq!(r.password(), "hunter2hunter2");
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
