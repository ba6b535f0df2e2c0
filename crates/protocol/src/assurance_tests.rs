use super::*;

fn fapi2() -> Application {
    let app: Application = serde_json::from_value(serde_json::json!({
        "client_id": "bank", "name": "Bank", "profile": "fapi2",
        "redirect_uris": ["https://bank.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"], "scopes": [],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_method_chosen": true, "trusted": false,
        "post_logout_redirect_uris": [], "allow_plain_pkce": false, "require_pkce": false,
        "require_mfa": false, "id_token_on_refresh": true, "cors_origins": [],
        "backchannel_logout_session_required": false,
        "registration": {"origin": "admin", "verified": false, "quarantined": false,
            "contacts": []},
        "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]},
        "id_token_alg": "PS256"
    }))
    .unwrap();
    app
}

fn field(app: &Application) -> &'static str {
    app.validate_fields().unwrap_err().0
}

#[test]
fn a_fapi2_application_is_the_whole_profile() {
    let app = fapi2();
    app.validate().unwrap();
    assert!(app.requires_par() && app.requires_dpop() && app.requires_pkce());
    assert!(app.is_confidential());
}

#[test]
fn fapi2_refuses_what_the_profile_forbids() {
    let mut a = fapi2();
    a.token_endpoint_auth_method = AuthMethod::ClientSecretBasic;
    assert_eq!(field(&a), "token_endpoint_auth_method");
    let mut a = fapi2();
    a.redirect_uris = vec!["http://127.0.0.1/cb".into()];
    assert_eq!(field(&a), "redirect_uris");
    let mut a = fapi2();
    a.grant_types.push(GrantType::Implicit);
    assert_eq!(field(&a), "grant_types");
    let mut a = fapi2();
    a.assurance.id_token_alg = SigningAlg::RS256;
    assert_eq!(field(&a), "id_token_signed_response_alg");
}

#[test]
fn keys_are_public_bounded_and_registered_one_way() {
    let mut a = fapi2();
    a.assurance.jwks = None;
    assert_eq!(field(&a), "jwks", "private_key_jwt needs keys");
    a.assurance.jwks_uri = Some("http://bank.example/jwks".into());
    assert_eq!(field(&a), "jwks_uri", "https only");
    a.assurance.jwks_uri = Some("https://bank.example/jwks".into());
    a.validate().unwrap();
    a.assurance.jwks = fapi2().assurance.jwks;
    assert_eq!(field(&a), "jwks", "not both");
    for bad in [
        serde_json::json!({"keys": []}),
        serde_json::json!([]),
        serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "d": "d"}]}),
        serde_json::json!({"keys": vec![serde_json::json!({"kty": "EC"}); 17]}),
    ] {
        let mut a = fapi2();
        a.assurance.jwks = Some(bad.clone());
        assert_eq!(field(&a), "jwks", "{bad}");
    }
}

#[test]
fn pairwise_needs_one_host() {
    let mut a = fapi2();
    a.assurance.subject_type = SubjectType::Pairwise;
    a.validate().unwrap();
    assert_eq!(a.sector_identifier(), Some("bank.example"));
    a.redirect_uris.push("https://other.example/cb".into());
    assert_eq!(field(&a), "subject_type");
    a.redirect_uris = vec![
        "https://bank.example:8443/a".into(),
        "https://bank.example/b".into(),
    ];
    a.validate().unwrap();
}

#[test]
fn registrations_from_before_read_as_defaults() {
    let mut v = serde_json::to_value(fapi2()).unwrap();
    let obj = v.as_object_mut().unwrap();
    for k in ["jwks", "id_token_alg"] {
        obj.remove(k);
    }
    obj.insert("profile".into(), "web".into());
    let app: Application = serde_json::from_value(v).unwrap();
    assert_eq!(app.assurance, Assurance::default());
    // Defaults are not written back.
    let out = serde_json::to_value(&app).unwrap();
    assert!(out.get("require_par").is_none() && out.get("subject_type").is_none());
}
