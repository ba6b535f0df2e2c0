use super::*;
use serde_json::json;

const URL: &str = "https://agent.example/oauth/client.json";

fn doc(extra: Value) -> Vec<u8> {
    let mut d = json!({
        "client_id": URL,
        "client_name": "Agent",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    });
    if let (Some(base), Value::Object(more)) = (d.as_object_mut(), extra) {
        for (k, v) in more {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
    }
    serde_json::to_vec(&d).unwrap_or_default()
}

fn apis() -> Vec<String> {
    vec!["contacts:read".into(), "contacts:write".into()]
}

fn err(extra: Value) -> String {
    application(URL, &doc(extra), &apis()).unwrap_err()
}

#[test]
fn client_id_urls_follow_the_draft() {
    let ok = parse_client_id("https://agent.example:8443/a/client.json").unwrap();
    assert_eq!(
        (ok.host.as_str(), ok.port, ok.path.as_str()),
        ("agent.example", 8443, "/a/client.json")
    );
    assert_eq!(ok.authority, "agent.example:8443");
    let v6 = parse_client_id("https://[2001:db8::1]/c").unwrap();
    assert_eq!((v6.host.as_str(), v6.port), ("2001:db8::1", 443));
    for bad in [
        "http://agent.example/client.json",
        "HTTPS://agent.example/client.json",
        "https://agent.example",
        "https://agent.example/client.json#x",
        "https://agent.example/client.json?v=1",
        "https://user:pw@agent.example/client.json",
        "https://user@agent.example/client.json",
        "https://agent.example/a/./client.json",
        "https://agent.example/a/../client.json",
        "https://agent.example/a/%2E%2E/client.json",
        "https://agent.example/a/%2e/client.json",
        "https://agent.example/..",
        "https://agent.example:0/c",
        "https://agent.example:65536/c",
        "https://agent.example:/c",
        "https://agent.example:08/c",
        "https://[::1/c",
        "https://[nope]/c",
        "https:///c",
        "https://agent.example\\@evil/c",
        "https://agent.ex ample/c",
        "https://agënt.example/c",
    ] {
        assert!(parse_client_id(bad).is_err(), "{bad}");
    }
    assert!(parse_client_id(&format!("https://a.example/{}", "x".repeat(2000))).is_err());
    assert!(is_metadata_url("https://a.example/c"));
    assert!(is_metadata_url("HTTPS://a.example/c"));
    assert!(!is_metadata_url("my-client"));
    assert!(!is_metadata_url("http://a.example/c"));
}

#[test]
fn a_good_document_is_a_public_untrusted_cimd_application() {
    let app = application(URL, &doc(json!({})), &apis()).unwrap();
    assert_eq!(app.client_id, URL);
    assert_eq!(app.name, "Agent");
    assert_eq!(app.registration.origin, Origin::Cimd);
    assert!(!app.trusted && !app.registration.verified);
    assert!(!app.is_confidential());
    assert!(app.requires_pkce());
    assert_eq!(app.profile, Profile::Native);
    assert_eq!(
        app.grant_types,
        [GrantType::AuthorizationCode, GrantType::RefreshToken]
    );
    assert_eq!(app.redirect_uris, ["http://127.0.0.1/callback"]);
    // A document need not list scopes: it may ask for the APIs', and the OIDC ones.
    assert_eq!(app.scopes, apis());
    let allowed = app.allowed_scopes();
    assert!(allowed.iter().any(|s| s == "openid"));
    assert!(allowed.iter().any(|s| s == "contacts:write"));
}

#[test]
fn never_valet_admin() {
    let mut with_admin = apis();
    with_admin.push(ADMIN_SCOPE.into());
    let app = application(URL, &doc(json!({})), &with_admin).unwrap();
    assert!(!app.allowed_scopes().iter().any(|s| s == ADMIN_SCOPE));
    let asked = doc(json!({"scope": "openid valet:admin contacts:read"}));
    let app = application(URL, &asked, &with_admin).unwrap();
    assert_eq!(app.scopes, ["contacts:read"]);
}

#[test]
fn listed_scopes_narrow_the_api_scopes() {
    let app = application(URL, &doc(json!({"scope": "contacts:read other"})), &apis()).unwrap();
    assert_eq!(app.scopes, ["contacts:read"]);
}

#[test]
fn client_id_must_equal_the_url_exactly() {
    for other in [
        "https://agent.example/oauth/client.json/",
        "https://Agent.example/oauth/client.json",
        "https://agent.example:443/oauth/client.json",
        "https://evil.example/oauth/client.json",
    ] {
        assert!(err(json!({"client_id": other})).contains("not exactly the URL"));
    }
    assert!(err(json!({"client_id": null})).contains("no client_id"));
    assert!(err(json!({"client_id": 7})).contains("no client_id"));
}

#[test]
fn no_shared_secret() {
    for m in [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
    ] {
        assert!(err(json!({"token_endpoint_auth_method": m})).contains("shared secret"));
    }
    assert!(err(json!({"client_secret": "s3cret"})).contains("client_secret"));
    assert!(err(json!({"client_secret_expires_at": 0})).contains("client_secret"));
    assert!(
        err(json!({"token_endpoint_auth_method": "private_key_jwt"})).contains("not supported yet")
    );
    assert!(err(json!({"token_endpoint_auth_method": "tls_client_auth"})).contains("supported"));
    // Absent is none.
    assert!(application(URL, &doc(json!({"token_endpoint_auth_method": null})), &[]).is_ok());
}

#[test]
fn redirect_uris_are_required_and_valid() {
    assert!(err(json!({"redirect_uris": null})).contains("no redirect_uris"));
    assert!(err(json!({"redirect_uris": []})).contains("no redirect_uris"));
    assert!(err(json!({"redirect_uris": "https://a.example/cb"})).contains("array"));
    for bad in [
        "http://agent.example/cb",
        "https://agent.example/cb#f",
        "javascript:alert(1)",
        "https://a@agent.example/cb",
    ] {
        assert!(
            err(json!({"redirect_uris": [bad]})).contains("redirect URI"),
            "{bad}"
        );
    }
    let many: Vec<String> = (0..21).map(|i| format!("https://a.example/{i}")).collect();
    assert!(err(json!({ "redirect_uris": many })).contains("more than"));
    // https-only redirects read as a browser app; a private-use scheme as native.
    let web = doc(json!({"redirect_uris": ["https://agent.example/cb"]}));
    assert_eq!(application(URL, &web, &[]).unwrap().profile, Profile::Spa);
    let native = doc(json!({"redirect_uris": ["com.example.agent:/cb"]}));
    assert_eq!(
        application(URL, &native, &[]).unwrap().profile,
        Profile::Native
    );
    let as_web =
        doc(json!({"application_type": "web", "redirect_uris": ["com.example.agent:/cb"]}));
    assert!(application(URL, &as_web, &[]).is_err());
}

#[test]
fn only_code_and_refresh() {
    assert_eq!(
        application(URL, &doc(json!({"grant_types": null})), &[])
            .unwrap()
            .grant_types,
        [GrantType::AuthorizationCode]
    );
    for g in ["client_credentials", "password", "implicit"] {
        assert!(err(json!({"grant_types": ["authorization_code", g]})).contains(g));
    }
    assert!(err(json!({"grant_types": ["refresh_token"]})).contains("authorization_code"));
    assert!(err(json!({"response_types": ["token"]})).contains("code"));
}

#[test]
fn display_fields_are_checked() {
    let app = application(
        URL,
        &doc(json!({
            "client_uri": "https://agent.example",
            "logo_uri": "https://agent.example/logo.png",
            "policy_uri": "https://agent.example/privacy",
        })),
        &[],
    )
    .unwrap();
    assert_eq!(app.website.as_deref(), Some("https://agent.example"));
    assert!(err(json!({"client_name": "Evil \u{202e}ppA"})).contains("client_name"));
    assert!(err(json!({"client_name": "a\u{7}b"})).contains("client_name"));
    assert!(err(json!({"logo_uri": "http://agent.example/l.png"})).contains("https"));
    assert!(err(json!({"client_uri": "javascript:alert(1)"})).contains("https"));
    assert!(err(json!({"client_name": 5})).contains("string"));
    // No name: the URL's host stands in.
    let unnamed = application(URL, &doc(json!({"client_name": null})), &[]).unwrap();
    assert_eq!(unnamed.name, "agent.example");
}

#[test]
fn bodies_that_are_not_documents() {
    for body in [&b"not json"[..], b"[]", b"\"x\"", b""] {
        assert!(application(URL, body, &[]).is_err());
    }
    let mut big = doc(json!({}));
    big.resize(MAX_DOCUMENT_BYTES + 1, b' ');
    assert!(application(URL, &big, &[]).unwrap_err().contains("larger"));
}

#[test]
fn cache_lifetimes_are_bounded() {
    assert_eq!(cache_ttl(None), Some(DEFAULT_TTL));
    assert_eq!(cache_ttl(Some("public")), Some(DEFAULT_TTL));
    assert_eq!(cache_ttl(Some("max-age=3600")), Some(3600));
    assert_eq!(cache_ttl(Some("public, MAX-AGE=120")), Some(120));
    assert_eq!(cache_ttl(Some("max-age=1")), Some(MIN_TTL));
    assert_eq!(cache_ttl(Some("max-age=0")), Some(MIN_TTL));
    assert_eq!(cache_ttl(Some("max-age=99999999")), Some(MAX_TTL));
    assert_eq!(cache_ttl(Some("max-age=bogus")), Some(MIN_TTL));
    assert_eq!(cache_ttl(Some("no-store")), None);
    assert_eq!(cache_ttl(Some("max-age=600, no-cache")), None);
}

#[test]
fn redirect_hosts_for_the_consent_page() {
    assert_eq!(
        redirect_host("https://App.example:8443/cb?x").as_deref(),
        Some("app.example")
    );
    assert_eq!(
        redirect_host("http://127.0.0.1:5000/cb").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(redirect_host("http://[::1]/cb").as_deref(), Some("::1"));
    assert_eq!(redirect_host("com.example.app:/cb"), None);
}
