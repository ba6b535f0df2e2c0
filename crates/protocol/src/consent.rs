//! What the consent page must say about an application, and when a consent given before
//! may stand in for asking again. The registration firewall (issue 14): an application
//! that registered itself (RFC 7591, or a Client ID Metadata Document) is never trusted,
//! is asked about on every authorization until an admin verifies it, and is always shown
//! with the host its redirect URI sends the user to (the MCP authorization spec requires
//! showing it; draft-ietf-oauth-client-id-metadata-document §6 asks the same of CIMD
//! clients) and the host it says it comes from.

use crate::application::{Application, Origin};

/// Where an application comes from, for the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// Registered by the application itself, dynamic or CIMD.
    pub self_registered: bool,
    /// An admin vouched for it since.
    pub verified: bool,
    /// The host the user is sent back to (or, for a private-use URI scheme, the scheme).
    pub redirect_host: Option<String>,
    /// The host the application says it is from: its metadata document's, or its
    /// `client_uri`'s.
    pub client_host: Option<String>,
}

/// Whether the consent page may be skipped: an admin marked the application first-party,
/// and it did not register itself (a self-registered one is never trusted, whatever its
/// stored flags say).
pub fn skips_consent(app: &Application) -> bool {
    app.trusted && !app.registration.is_self_registered()
}

/// Whether an admin stands behind the application: they registered it, or verified one
/// that registered itself. Only then is a consent given before remembered, and a
/// `logo_uri` it names loaded (checklist M4: otherwise anyone who registers makes the
/// person's browser fetch whatever they like).
pub fn vouched_for(app: &Application) -> bool {
    !app.registration.is_self_registered() || app.registration.verified
}

/// Whether a consent given before covers a new request: not for a self-registered
/// application no admin has verified, which is asked about every time.
pub fn remembers_consent(app: &Application) -> bool {
    vouched_for(app)
}

/// What the consent page shows of `app`, asked to send the user to `redirect_uri`.
pub fn provenance(app: &Application, redirect_uri: &str) -> Provenance {
    let self_registered = app.registration.is_self_registered();
    let client_host = match app.registration.origin {
        Origin::Cimd => uri_host(&app.client_id),
        Origin::Dynamic | Origin::Admin => app.website.as_deref().and_then(uri_host),
    };
    Provenance {
        self_registered,
        verified: app.registration.verified,
        redirect_host: uri_host(redirect_uri).or_else(|| private_scheme(redirect_uri)),
        client_host,
    }
}

/// The lowercased host of an `http(s)` URI, without port or userinfo.
pub fn uri_host(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `com.example.app:` for a private-use URI scheme redirect (RFC 8252 §7.1).
fn private_scheme(uri: &str) -> Option<String> {
    let (scheme, _) = uri.split_once(':')?;
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| format!("{}:", scheme.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::{AuthMethod, Profile, Registration};

    fn app(origin: Origin) -> Application {
        Application {
            client_id: "app1".into(),
            name: "Agent".into(),
            description: None,
            website: None,
            logo_uri: None,
            policy_uri: None,
            profile: Profile::Native,
            redirect_uris: vec![],
            grant_types: vec![],
            scopes: vec![],
            token_endpoint_auth_method: AuthMethod::None,
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
            registration: Registration {
                origin,
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_self_registered_application_is_never_trusted_and_asked_every_time() {
        let mut a = app(Origin::Dynamic);
        a.trusted = true;
        assert!(!skips_consent(&a), "never trusted");
        assert!(!remembers_consent(&a), "asked every time until verified");
        a.registration.verified = true;
        assert!(!skips_consent(&a), "verified is not trusted");
        assert!(remembers_consent(&a));
        let mut admin = app(Origin::Admin);
        assert!(remembers_consent(&admin) && !skips_consent(&admin));
        admin.trusted = true;
        assert!(skips_consent(&admin));
    }

    #[test]
    fn the_page_shows_the_redirect_host_and_where_the_application_is_from() {
        let mut a = app(Origin::Cimd);
        a.client_id = "https://Agent.Example/oauth/client.json".into();
        let p = provenance(&a, "http://localhost:53121/callback");
        assert_eq!(p.redirect_host.as_deref(), Some("localhost"));
        assert_eq!(p.client_host.as_deref(), Some("agent.example"));
        assert!(p.self_registered && !p.verified);
        let mut d = app(Origin::Dynamic);
        d.website = Some("https://tools.example:8443/about".into());
        let p = provenance(&d, "com.example.app:/cb");
        assert_eq!(p.redirect_host.as_deref(), Some("com.example.app:"));
        assert_eq!(p.client_host.as_deref(), Some("tools.example"));
        assert_eq!(
            uri_host("https://user@[2001:db8::1]:443/x").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(uri_host("ftp://x"), None);
    }
}
