//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2–§3): where the user may
//! be sent afterwards. Without a verified `id_token_hint` (or `client_id`) naming the
//! application, or with an unregistered URI, there is no redirect (checklist J10).

use crate::application::Application;

/// The URI to send the user to after logout, if the request earned one: the application
/// is known and `post_logout_redirect_uri` is registered for it, byte for byte.
pub fn post_logout_redirect<'a>(
    app: Option<&Application>,
    requested: Option<&'a str>,
) -> Option<&'a str> {
    let (app, uri) = (app?, requested?);
    app.post_logout_redirect_uris
        .iter()
        .any(|r| r == uri)
        .then_some(uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::{AuthMethod, GrantType, Profile};

    #[test]
    fn only_registered_uris_for_a_known_application() {
        let app = Application {
            client_id: "c".into(),
            name: "n".into(),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile: Profile::Web,
            redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec![],
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            token_endpoint_auth_method_chosen: false,
            trusted: false,
            service_subject: None,
            post_logout_redirect_uris: vec!["https://app.example/bye".into()],
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
        };
        let ok = "https://app.example/bye";
        assert_eq!(post_logout_redirect(Some(&app), Some(ok)), Some(ok));
        assert_eq!(
            post_logout_redirect(Some(&app), Some("https://app.example/bye?foo=bar")),
            None
        );
        assert_eq!(post_logout_redirect(None, Some(ok)), None);
        assert_eq!(post_logout_redirect(Some(&app), None), None);
    }
}
