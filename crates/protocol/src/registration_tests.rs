use super::*;
use crate::ErrorCode;

fn policy() -> Policy {
    Policy {
        scopes: vec!["api:read".into()],
        ..Default::default()
    }
}

fn register(body: Value) -> Result<Application, OAuthError> {
    let meta = parse(body.to_string().as_bytes())?;
    application(&meta, "cid".into(), &policy())
}

fn code_of(body: Value) -> ErrorCode {
    register(body).unwrap_err().code
}

#[test]
fn the_mcp_sdk_body_is_accepted_as_sent() {
    // Issue 14's contract: what @modelcontextprotocol/sdk sends.
    let app = register(json!({
        "redirect_uris": ["http://localhost:3000/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "MCP Inspector",
        "client_uri": "https://github.com/modelcontextprotocol/inspector",
        "application_type": "native",
        "scope": "openid api:read",
    }))
    .unwrap();
    assert_eq!(app.profile, Profile::Native);
    assert!(!app.trusted && !app.is_confidential());
    assert_eq!(app.registration.origin, Origin::Dynamic);
    assert_eq!(app.scopes, ["openid", "api:read"]);
    assert_eq!(
        app.grant_types,
        [GrantType::AuthorizationCode, GrantType::RefreshToken]
    );
    assert!(app.redirect_uri_matches("http://localhost:61234/callback"));
}

#[test]
fn profiles_follow_the_metadata() {
    let web = register(json!({"redirect_uris": ["https://app.example/cb"]})).unwrap();
    // RFC 7591 §2: client_secret_basic when omitted.
    assert_eq!(web.profile, Profile::Web);
    assert_eq!(
        web.token_endpoint_auth_method,
        AuthMethod::ClientSecretBasic
    );
    assert!(!web.token_endpoint_auth_method_chosen);
    let post = register(json!({"redirect_uris": ["https://app.example/cb"],
        "token_endpoint_auth_method": "client_secret_post"}))
    .unwrap();
    assert_eq!(
        post.token_endpoint_auth_method,
        AuthMethod::ClientSecretPost
    );
    let spa = register(json!({"redirect_uris": ["https://app.example/cb"],
        "token_endpoint_auth_method": "none"}))
    .unwrap();
    assert_eq!(spa.profile, Profile::Spa);
    // No application_type, public, loopback only: native by every other sign.
    let inferred = register(json!({"redirect_uris": ["http://127.0.0.1:8000/cb"],
        "token_endpoint_auth_method": "none"}))
    .unwrap();
    assert_eq!(inferred.profile, Profile::Native);
    let custom = register(json!({"redirect_uris": ["com.example.app:/cb"],
        "token_endpoint_auth_method": "none", "application_type": "native"}))
    .unwrap();
    assert_eq!(custom.profile, Profile::Native);
    assert_eq!(
        code_of(json!({"redirect_uris": ["com.example.app:/cb"], "application_type": "native"})),
        ErrorCode::InvalidClientMetadata,
        "a native app cannot keep a secret"
    );
}

#[test]
fn redirect_uri_rules_of_oidc_registration() {
    for (body, why) in [
        (json!({}), "none listed"),
        (json!({"redirect_uris": []}), "empty"),
        (
            json!({"redirect_uris": ["https://app.example/cb#frag"]}),
            "fragment",
        ),
        (
            json!({"redirect_uris": ["https://user@app.example/cb"]}),
            "userinfo",
        ),
        (json!({"redirect_uris": ["http://app.example/cb"]}), "http"),
        (
            json!({"redirect_uris": ["http://localhost:3000/cb"], "application_type": "web",
                "token_endpoint_auth_method": "none"}),
            "web on localhost",
        ),
        (
            json!({"redirect_uris": ["https://localhost/cb"]}),
            "web on localhost over https",
        ),
        (
            json!({"redirect_uris": ["com.example.app:/cb"]}),
            "custom scheme for web",
        ),
        (
            json!({"redirect_uris": ["http://app.example/cb"], "application_type": "native",
                "token_endpoint_auth_method": "none"}),
            "native http off loopback",
        ),
        (json!({"redirect_uris": ["javascript:alert(1)"]}), "scheme"),
        (json!({"redirect_uris": ["/relative"]}), "relative"),
        (
            json!({"redirect_uris": ["https://*.example/cb"]}),
            "wildcard",
        ),
    ] {
        assert_eq!(code_of(body), ErrorCode::InvalidRedirectUri, "{why}");
    }
    let many: Vec<String> = (0..21).map(|i| format!("https://a.example/{i}")).collect();
    assert_eq!(
        code_of(json!({ "redirect_uris": many })),
        ErrorCode::InvalidRedirectUri
    );
}

#[test]
fn the_policy_bounds_hosts_schemes_and_scopes() {
    let meta = parse(
        json!({"redirect_uris": ["https://app.example/cb"], "scope": "openid"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let hosts = Policy {
        redirect_hosts: vec!["other.example".into()],
        ..policy()
    };
    let e = application(&meta, "c".into(), &hosts).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRedirectUri);
    let schemes = Policy {
        redirect_schemes: vec!["http".into()],
        ..policy()
    };
    assert!(application(&meta, "c".into(), &schemes).is_err());
    let q = Policy {
        quarantine: true,
        ..policy()
    };
    assert!(
        application(&meta, "c".into(), &q)
            .unwrap()
            .registration
            .quarantined
    );
    for scope in [
        "valet:admin",
        "api:write",
        "openid valet:admin",
        "bad\"scope",
    ] {
        assert_eq!(
            code_of(json!({"redirect_uris": ["https://app.example/cb"], "scope": scope})),
            ErrorCode::InvalidClientMetadata,
            "{scope}"
        );
    }
    let none = register(json!({"redirect_uris": ["https://app.example/cb"]})).unwrap();
    assert!(none.scopes.iter().any(|s| s == "openid"));
}

#[test]
fn grant_and_response_types_agree() {
    // RFC 7591 §2.1.
    let uris = json!(["https://app.example/cb"]);
    for (grants, responses) in [
        (json!(["refresh_token"]), json!(["code"])),
        (json!(["authorization_code"]), json!([])),
        (json!(["implicit"]), json!(["token"])),
        (json!(["client_credentials"]), json!([])),
        (json!(["authorization_code"]), json!(["code", "id_token"])),
        (json!(["password"]), json!(["code"])),
    ] {
        let body =
            json!({"redirect_uris": uris, "grant_types": grants, "response_types": responses});
        assert_eq!(
            code_of(body.clone()),
            ErrorCode::InvalidClientMetadata,
            "{body}"
        );
    }
    let only_code = register(json!({"redirect_uris": uris})).unwrap();
    assert_eq!(only_code.grant_types, [GrantType::AuthorizationCode]);
}

#[test]
fn applications_may_register_keys_and_high_assurance_choices() {
    let key = json!({"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "kid": "k1"});
    let app = register(json!({"redirect_uris": ["https://app.example/cb"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [key]},
        "id_token_signed_response_alg": "ES256", "subject_type": "pairwise",
        "dpop_bound_access_tokens": true, "require_pushed_authorization_requests": true}))
    .unwrap();
    assert_eq!(app.token_endpoint_auth_method, AuthMethod::PrivateKeyJwt);
    assert!(!app.has_secret() && app.requires_dpop() && app.requires_par());
    assert_eq!(
        app.assurance.id_token_alg,
        crate::assurance::SigningAlg::ES256
    );
    let m = response(
        &app,
        &Issued {
            client_id_issued_at: 1,
            client_secret: None,
            registration_access_token: "t",
            registration_client_uri: "https://id.example/register/c",
        },
    );
    assert_eq!(m["jwks"]["keys"][0]["kid"], "k1");
    assert_eq!(m["subject_type"], "pairwise");
    assert_eq!(m["dpop_bound_access_tokens"], true);
}

#[test]
fn bad_values_are_invalid_client_metadata() {
    let uris = json!(["https://app.example/cb"]);
    for body in [
        json!({"redirect_uris": uris, "token_endpoint_auth_method": "private_key_jwt"}),
        json!({"redirect_uris": uris, "application_type": "desktop"}),
        json!({"redirect_uris": uris, "client_uri": "http://app.example"}),
        json!({"redirect_uris": uris, "logo_uri": "javascript:x"}),
        json!({"redirect_uris": uris, "tos_uri": "http://app.example/tos"}),
        json!({"redirect_uris": uris, "client_name": "x".repeat(201)}),
        json!({"redirect_uris": uris, "client_name": "bad\u{202e}name"}),
        json!({"redirect_uris": uris, "contacts": ["a\u{0}b"]}),
        json!({"redirect_uris": uris, "contacts": vec!["a@b.example"; 11]}),
        json!({"redirect_uris": uris, "id_token_signed_response_alg": "none"}),
        json!({"redirect_uris": uris, "subject_type": "sideways"}),
        json!({"redirect_uris": uris, "id_token_signed_response_alg": "HS256"}),
        json!({"redirect_uris": uris, "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
        json!({"redirect_uris": uris, "jwks_uri": "http://app.example/jwks"}),
        json!({"redirect_uris": uris, "id_token_encrypted_response_alg": "RSA-OAEP"}),
        json!({"redirect_uris": "https://app.example/cb"}),
        json!({"redirect_uris": uris, "grant_types": "authorization_code"}),
    ] {
        assert_eq!(
            code_of(body.clone()),
            ErrorCode::InvalidClientMetadata,
            "{body}"
        );
    }
    for raw in ["", "[]", "null", "{", "\"x\""] {
        assert_eq!(
            parse(raw.as_bytes()).unwrap_err().code,
            ErrorCode::InvalidClientMetadata,
            "{raw}"
        );
    }
    // Unknown members are ignored (RFC 7591 §2).
    assert!(register(json!({"redirect_uris": uris, "x-vendor": {"a": 1}})).is_ok());
}

#[test]
fn the_response_echoes_the_registration() {
    // RFC 7591 §3.2.1, RFC 7592 §3.
    let app = register(json!({
        "redirect_uris": ["https://app.example/cb"],
        "client_name": "App", "client_uri": "https://app.example",
        "logo_uri": "https://app.example/logo.png", "policy_uri": "https://app.example/p",
        "tos_uri": "https://app.example/tos", "contacts": ["ops@app.example"],
        "software_id": "4NRB1-0XZABZI9E6-5SM3R", "software_version": "2.1",
        "post_logout_redirect_uris": ["https://app.example/bye"],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid email",
    }))
    .unwrap();
    let r = response(
        &app,
        &Issued {
            client_id_issued_at: 1000,
            client_secret: Some("s3cret"),
            registration_access_token: "rat",
            registration_client_uri: "https://id.example/oauth2/register/cid",
        },
    );
    assert_eq!(r["client_id"], "cid");
    assert_eq!(r["client_id_issued_at"], 1000);
    assert_eq!(r["client_secret"], "s3cret");
    assert_eq!(r["client_secret_expires_at"], 0);
    assert_eq!(r["registration_access_token"], "rat");
    assert_eq!(
        r["registration_client_uri"],
        "https://id.example/oauth2/register/cid"
    );
    assert_eq!(r["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        r["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(r["response_types"], json!(["code"]));
    assert_eq!(r["application_type"], "web");
    assert_eq!(r["scope"], "openid email");
    assert_eq!(r["tos_uri"], "https://app.example/tos");
    assert_eq!(r["contacts"], json!(["ops@app.example"]));
    assert_eq!(r["software_id"], "4NRB1-0XZABZI9E6-5SM3R");
    assert_eq!(r["client_uri"], "https://app.example");
    assert_eq!(
        r["post_logout_redirect_uris"],
        json!(["https://app.example/bye"])
    );
    let public = register(json!({"redirect_uris": ["http://127.0.0.1/cb"],
        "token_endpoint_auth_method": "none"}))
    .unwrap();
    let r = response(
        &public,
        &Issued {
            client_id_issued_at: 1,
            client_secret: None,
            registration_access_token: "t",
            registration_client_uri: "u",
        },
    );
    assert!(r.get("client_secret").is_none() && r.get("client_secret_expires_at").is_none());
    assert_eq!(r["application_type"], "native");
    assert_eq!(r["client_name"], UNNAMED);
}

#[test]
fn fingerprints_ignore_only_the_client_id() {
    let body =
        json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"});
    let a = register(body.clone()).unwrap();
    let mut b = a.clone();
    b.client_id = "other".into();
    assert_eq!(fingerprint(&a), fingerprint(&b));
    b.redirect_uris = vec!["http://127.0.0.1/other".into()];
    assert_ne!(fingerprint(&a), fingerprint(&b));
}

#[test]
fn a_backchannel_logout_uri_is_registered_checked_and_echoed() {
    // OIDC Back-Channel Logout 1.0 §2.2: client metadata.
    let app = register(json!({
        "redirect_uris": ["https://rp.example/cb"],
        "backchannel_logout_uri": "https://rp.example/bc",
        "backchannel_logout_session_required": true,
    }))
    .unwrap();
    assert_eq!(
        app.backchannel_logout_uri.as_deref(),
        Some("https://rp.example/bc")
    );
    assert!(app.backchannel_logout_session_required);
    let metadata = response(
        &app,
        &Issued {
            client_id_issued_at: 1,
            client_secret: None,
            registration_access_token: "t",
            registration_client_uri: "https://id.example/oauth2/register/cid",
        },
    );
    assert_eq!(metadata["backchannel_logout_uri"], "https://rp.example/bc");
    assert_eq!(metadata["backchannel_logout_session_required"], true);
    assert_eq!(
        code_of(json!({
            "redirect_uris": ["https://rp.example/cb"],
            "backchannel_logout_uri": "http://rp.example/bc",
        })),
        ErrorCode::InvalidClientMetadata
    );
}
