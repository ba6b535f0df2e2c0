use super::*;

#[test]
fn redirect_uri_rules() {
    let ok = |u| validate_redirect_uri(u, Profile::Web).is_ok();
    assert!(ok("https://app.example/cb"));
    assert!(ok("http://127.0.0.1/cb"));
    assert!(ok("http://[::1]:8000/cb"));
    assert!(!ok("http://app.example/cb"));
    assert!(!ok("https://app.example/cb#x"));
    assert!(!ok("javascript:alert(1)"));
    assert!(!ok("JaVaScRiPt:alert(1)"));
    assert!(!ok("https://*.example/cb"));
    assert!(!ok("https://app.example@evil.com/cb"));
    assert!(!ok("/relative"));
    assert!(!ok("com.example.app:/cb"));
    assert!(validate_redirect_uri("com.example.app:/cb", Profile::Native).is_ok());
}

fn app_with(uris: &[&str]) -> Application {
    Application {
        client_id: "c".into(),
        name: "n".into(),
        description: None,
        website: None,
        logo_uri: None,
        policy_uri: None,
        profile: Profile::Native,
        redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
        grant_types: vec![GrantType::AuthorizationCode],
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
        registration: Default::default(),
        access_token_ttl: None,
        refresh_token_ttl: None,
        backchannel_logout_uri: None,
        assurance: Default::default(),
        backchannel_logout_session_required: false,
    }
}

#[test]
fn redirect_uris_match_exactly() {
    // Checklist A1-A3: any byte of difference is a mismatch.
    let a = app_with(&["https://app.example/callback"]);
    assert!(a.redirect_uri_matches("https://app.example/callback"));
    for bad in [
        "https://app.example/CALLBACK",
        "https://app.example/callback/",
        "https://app.example/callback?x=1",
        "https://app.example/callback#frag",
        "https://app.example/callback/extra",
        "https://app.example:443/callback",
        "http://app.example/callback",
        "https://APP.example/callback",
        "https://app.example/callback/../evil",
        "https://app.example/callback/%2e%2e/evil",
        "https://app.example@evil.com/callback",
        "https://app.example%40evil.com/callback",
    ] {
        assert!(!a.redirect_uri_matches(bad), "{bad}");
    }
}

#[test]
fn loopback_redirects_take_any_port() {
    // Checklist A4, RFC 8252 §7.3.
    let a = app_with(&["http://127.0.0.1/cb", "http://[::1]/cb"]);
    assert!(a.redirect_uri_matches("http://127.0.0.1:51234/cb"));
    assert!(a.redirect_uri_matches("http://[::1]:8000/cb"));
    assert!(a.redirect_uri_matches("http://127.0.0.1/cb"));
    for bad in [
        "http://127.0.0.1:51234/other",
        "http://127.0.0.1:51234/cb?x=1",
        "http://127.0.0.1:80@evil.com/cb",
        "http://127.0.0.1:/cb",
        "http://127.0.0.2:5000/cb",
        "http://localhost:5000/cb",
    ] {
        assert!(!a.redirect_uri_matches(bad), "{bad}");
    }
    let https = app_with(&["https://app.example/cb"]);
    assert!(!https.redirect_uri_matches("http://127.0.0.1:5000/cb"));
    // Issue 12, item 12: TCP ports only, written canonically.
    assert!(a.redirect_uri_matches("http://127.0.0.1:1/cb"));
    assert!(a.redirect_uri_matches("http://127.0.0.1:65535/cb"));
    for bad in [
        "http://127.0.0.1:0/cb",
        "http://127.0.0.1:65536/cb",
        "http://127.0.0.1:99999/cb",
        "http://127.0.0.1:00080/cb",
        "http://127.0.0.1:080/cb",
        "http://[::1]:0/cb",
    ] {
        assert!(!a.redirect_uri_matches(bad), "{bad}");
    }
    // Only native applications get any port; others match their URI exactly.
    for profile in [Profile::Web, Profile::Spa] {
        let mut other = app_with(&["http://127.0.0.1/cb"]);
        other.profile = profile;
        assert!(other.redirect_uri_matches("http://127.0.0.1/cb"));
        assert!(
            !other.redirect_uri_matches("http://127.0.0.1:51234/cb"),
            "{profile}"
        );
    }
}

#[test]
fn self_registered_loopback_takes_any_port_localhost_included() {
    // RFC 8252 §7.3; issue 14's contract (the MCP SDK's http://localhost:PORT/callback).
    for origin in [Origin::Dynamic, Origin::Cimd] {
        let mut a = app_with(&["http://localhost:3000/callback", "http://127.0.0.1/cb"]);
        a.registration.origin = origin;
        for good in [
            "http://localhost:3000/callback",
            "http://localhost:51234/callback",
            "http://localhost/callback",
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1/cb",
        ] {
            assert!(a.redirect_uri_matches(good), "{good}");
        }
        for bad in [
            "http://127.0.0.1:3000/callback",
            "http://localhost:3000/callback/",
            "http://localhost:3000/callback?x=1",
            "http://localhost:0/callback",
            "http://localhost:03000/callback",
            "http://localhost:3000@evil.example/callback",
            "http://localhost.evil.example:3000/callback",
            "http://LOCALHOST:3000/callback",
            "https://localhost:3000/callback",
            "http://[::1]:3000/callback",
        ] {
            assert!(!a.redirect_uri_matches(bad), "{bad}");
        }
    }
    // An admin-registered native application keeps the stricter rule.
    let admin = app_with(&["http://localhost:3000/callback"]);
    assert!(!admin.redirect_uri_matches("http://localhost:4000/callback"));
}

#[test]
fn valet_admin_only_for_pure_services() {
    // Issue 12, item 11.
    let mut svc = app_with(&[]);
    svc.profile = Profile::Service;
    svc.token_endpoint_auth_method = AuthMethod::ClientSecretBasic;
    svc.grant_types = vec![GrantType::ClientCredentials];
    svc.scopes = vec![ADMIN_SCOPE.into()];
    assert!(svc.validate().is_ok());
    assert_eq!(svc.token_scopes(), [ADMIN_SCOPE]);
    let admin = Scope::parse(ADMIN_SCOPE).unwrap();
    assert!(svc.check_admin_scope(&admin, false).is_ok());
    assert!(
        svc.check_admin_scope(&admin, true).is_err(),
        "never for a user"
    );

    svc.grant_types.push(GrantType::Password);
    assert!(svc.validate().unwrap_err().contains(ADMIN_SCOPE));
    assert!(svc.token_scopes().is_empty());
    assert!(svc.check_admin_scope(&admin, false).is_err());

    let mut native = app_with(&["http://127.0.0.1/cb"]);
    native.scopes = vec![ADMIN_SCOPE.into()];
    assert!(
        native
            .validate()
            .unwrap_err()
            .contains("native application")
    );
    assert!(!native.allowed_scopes().iter().any(|s| s == ADMIN_SCOPE));
}

#[test]
fn an_unchosen_secret_method_accepts_basic_and_post() {
    // Issue 12, item 18.
    let mut a = app_with(&["https://app.example/cb"]);
    a.profile = Profile::Web;
    a.token_endpoint_auth_method = AuthMethod::ClientSecretBasic;
    use AuthMethod::{ClientSecretBasic as Basic, ClientSecretPost as Post};
    assert_eq!(a.accepted_auth_methods(), [Basic, Post]);
    assert!(!a.accepts_auth_method(AuthMethod::None));
    a.token_endpoint_auth_method_chosen = true;
    assert_eq!(a.accepted_auth_methods(), [Basic]);
    a.token_endpoint_auth_method = Post;
    assert_eq!(a.accepted_auth_methods(), [Post]);
    a.token_endpoint_auth_method_chosen = false;
    assert_eq!(
        a.accepted_auth_methods(),
        [Post],
        "post never widens to basic"
    );
    let public = app_with(&["http://127.0.0.1/cb"]);
    assert_eq!(public.accepted_auth_methods(), [AuthMethod::None]);

    // A registration stored before the field reads as not chosen.
    let mut v = serde_json::to_value(&a).unwrap();
    v.as_object_mut()
        .unwrap()
        .remove("token_endpoint_auth_method_chosen");
    let old: Application = serde_json::from_value(v).unwrap();
    assert!(!old.token_endpoint_auth_method_chosen);
}

#[test]
fn origins_of_redirect_uris() {
    let mut a = app_with(&["https://App.example:8443/cb?x", "com.example.app:/cb"]);
    a.cors_origins = vec!["https://extra.example".into()];
    assert_eq!(
        a.web_origins(),
        ["https://extra.example", "https://app.example:8443"]
    );
}

#[test]
fn wire_names_round_trip() {
    for g in ["authorization_code", "client_credentials", "refresh_token"] {
        assert_eq!(g.parse::<GrantType>().unwrap().as_str(), g);
    }
    let e = "bogus".parse::<Profile>().unwrap_err();
    assert!(e.contains("web, spa, native, service, device"));
    let d = "urn:ietf:params:oauth:grant-type:device_code";
    assert_eq!(d.parse::<GrantType>().unwrap(), GrantType::DeviceCode);
    assert_eq!(
        serde_json::to_value(GrantType::DeviceCode).unwrap(),
        serde_json::json!(d)
    );
}

#[test]
fn a_registration_stored_before_id_token_on_refresh_reads_as_on() {
    let mut a = app_with(&["https://app.example/cb"]);
    a.id_token_on_refresh = false;
    let mut v = serde_json::to_value(&a).unwrap();
    assert_eq!(v["id_token_on_refresh"], false, "shown whichever it is");
    v.as_object_mut().unwrap().remove("id_token_on_refresh");
    let old: Application = serde_json::from_value(v).unwrap();
    assert!(old.id_token_on_refresh);
}
