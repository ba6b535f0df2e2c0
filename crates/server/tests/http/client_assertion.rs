//! `private_key_jwt` (RFC 7523 §2.2, §3; OIDC Core §9): an application registered with
//! its public keys authenticates at the token, introspection, revocation and PAR
//! endpoints with a JWT signed by one of them — each rule of §3 refused on its own, the
//! `jti` used once, across nodes, keys fetched from a `jwks_uri`.

use serde_json::{Value, json};
use valet_protocol::application::{AuthMethod, Profile};
use valet_server::admin::NewClient;

use crate::harness::{TestApp, assert_oauth_error, spawn_app, spawn_sharing};
use crate::jwt_client::{ClientKey, jti};

/// A service authenticating with `key`; returns its client_id (no secret is issued).
pub async fn keyed_service(app: &TestApp, key: &ClientKey) -> String {
    let c = app
        .admin
        .create_client(
            NewClient {
                name: "keyed".into(),
                profile: Some(Profile::Service),
                scopes: Some(vec!["api:read".into()]),
                token_endpoint_auth_method: Some(AuthMethod::PrivateKeyJwt),
                jwks: Some(key.jwks()),
                ..Default::default()
            },
            app.now(),
        )
        .await
        .unwrap();
    assert!(
        c.client_secret.is_none(),
        "a keyed application has no secret"
    );
    c.app.client_id
}

pub async fn post_form(app: &TestApp, path: &str, body: &str) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn token_with(app: &TestApp, assertion: &str) -> reqwest::Response {
    post_form(
        app,
        "/oauth2/token",
        &format!(
            "grant_type=client_credentials&client_assertion_type=\
             urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
             &client_assertion={assertion}"
        ),
    )
    .await
}

#[tokio::test]
async fn a_signed_assertion_authenticates_at_every_client_endpoint() {
    let app = spawn_app().await;
    app.api().await;
    let key = ClientKey::es256("k1");
    let id = keyed_service(&app, &key).await;
    let issuer = app.settings.issuer.clone();
    // The issuer and the token endpoint's URL are both audiences (RFC 7523 §3 item 3).
    for aud in [issuer.clone(), app.url("/oauth2/token")] {
        let r = token_with(&app, &key.assertion(&id, &aud, app.now())).await;
        assert_eq!(r.status(), 200, "aud {aud}: {}", r.text().await.unwrap());
    }
    let r = token_with(&app, &key.assertion(&id, &issuer, app.now())).await;
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Introspection (aud: its own endpoint) and revocation, same method.
    let body = format!(
        "token={token}&{}",
        key.assertion_form(&id, &app.url("/oauth2/introspect"), app.now())
    );
    let r = post_form(&app, "/oauth2/introspect", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    let body = format!(
        "token={token}&{}",
        key.assertion_form(&id, &issuer, app.now())
    );
    assert_eq!(post_form(&app, "/oauth2/revoke", &body).await.status(), 200);
    // A client_id in the body must be the assertion's.
    let body = format!(
        "grant_type=client_credentials&client_id=other&{}",
        key.assertion_form(&id, &issuer, app.now())
    );
    assert_oauth_error(
        post_form(&app, "/oauth2/token", &body).await,
        401,
        "invalid_client",
    )
    .await;
}

#[tokio::test]
async fn each_rule_of_rfc_7523_section_3_refuses_alone() {
    let app = spawn_app().await;
    app.api().await;
    let key = ClientKey::es256("k1");
    let id = keyed_service(&app, &key).await;
    let (iss, now) = (app.settings.issuer.clone(), app.now());
    let good = json!({"iss": id, "sub": id, "aud": iss, "exp": now + 60, "iat": now});
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c["jti"] = jti().into();
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        key.sign(Some("JWT"), &c)
    };
    for (k, v) in [
        ("iss", json!("someone-else")),
        ("sub", json!("someone-else")),
        ("aud", json!("https://elsewhere.example")),
        ("aud", Value::Null),
        ("exp", Value::Null),
        ("exp", json!(now - 120)),
        ("exp", json!(now + 7200)),
        ("nbf", json!(now + 600)),
        ("iat", json!(now + 600)),
        ("jti", Value::Null),
    ] {
        let r = token_with(&app, &with(k, v.clone())).await;
        assert_oauth_error(r, 401, "invalid_client").await;
    }
    // Ten seconds of skew is fine (FAPI 2.0 §5.3.2.1).
    let r = token_with(&app, &with("iat", json!(now + 10))).await;
    assert_eq!(r.status(), 200);
    // Signed by a key the application never registered, or with none at all.
    let stranger = ClientKey::es256("k1");
    let r = token_with(&app, &stranger.assertion(&id, &iss, now)).await;
    assert_oauth_error(r, 401, "invalid_client").await;
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "k1"})),
        b64(&json!({"iss": id, "sub": id, "aud": iss, "exp": now + 60, "jti": jti()}))
    );
    assert_oauth_error(token_with(&app, &unsigned).await, 401, "invalid_client").await;
    // Another method than the registered one: a secret, or nothing.
    let r = app
        .post(
            "/oauth2/token",
            &id,
            "guess",
            "grant_type=client_credentials",
        )
        .await;
    assert_oauth_error(r, 401, "invalid_client").await;
    let body = format!("grant_type=client_credentials&client_id={id}");
    assert_oauth_error(
        post_form(&app, "/oauth2/token", &body).await,
        401,
        "invalid_client",
    )
    .await;
    // Half an assertion, or another assertion type, is a malformed request.
    let body = "grant_type=client_credentials&client_assertion=x.y.z";
    assert_oauth_error(
        post_form(&app, "/oauth2/token", body).await,
        400,
        "invalid_request",
    )
    .await;
    let body = "grant_type=client_credentials&client_assertion_type=urn%3Aother&client_assertion=x";
    assert_oauth_error(
        post_form(&app, "/oauth2/token", body).await,
        400,
        "invalid_request",
    )
    .await;
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn an_assertion_works_once_on_any_node() {
    let app = spawn_app().await;
    app.api().await;
    let other_node = spawn_sharing(&app).await;
    let key = ClientKey::ed25519("ed");
    let id = keyed_service(&app, &key).await;
    let assertion = key.assertion(&id, &app.settings.issuer, app.now());
    assert_eq!(token_with(&app, &assertion).await.status(), 200);
    assert_oauth_error(token_with(&app, &assertion).await, 401, "invalid_client").await;
    // The second node shares the store's memory of used jtis (RFC 7523 §3 item 7).
    assert_oauth_error(
        token_with(&other_node, &assertion).await,
        401,
        "invalid_client",
    )
    .await;
}

#[tokio::test]
async fn registrations_refuse_keys_that_cannot_authenticate() {
    let app = spawn_app().await;
    let key = ClientKey::es256("k1");
    let new = |jwks: Option<Value>, uri: Option<&str>| NewClient {
        name: "keyed".into(),
        profile: Some(Profile::Service),
        token_endpoint_auth_method: Some(AuthMethod::PrivateKeyJwt),
        jwks,
        jwks_uri: uri.map(str::to_owned),
        ..Default::default()
    };
    let mut private = key.public.clone();
    private["d"] = "AAAA".into();
    for bad in [
        new(None, None),
        new(Some(json!({"keys": [private]})), None),
        new(
            Some(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
            None,
        ),
        new(Some(key.jwks()), Some("https://keys.example/jwks")),
        new(None, Some("http://keys.example/jwks")),
    ] {
        let e = app.admin.create_client(bad, app.now()).await.unwrap_err();
        assert!(e.to_string().contains("jwks"), "{e}");
    }
}

/// A `jwks_uri` is fetched with the metadata fetcher's rules (here: loopback allowed for
/// the test, the test's CA trusted), kept, and fetched again when an assertion names a
/// `kid` it does not hold — once per cooldown, however many such assertions arrive.
#[tokio::test]
async fn keys_by_reference_are_fetched_cached_and_refetched_for_a_new_kid() {
    let outside = crate::outside::Outside::start().await;
    let ca = outside.ca_file.clone();
    let app = crate::harness::spawn_with(move |p| valet_server::config::Partial {
        dev_allow_loopback_metadata: Some(true),
        metadata_ca_file: Some(ca),
        ..p
    })
    .await;
    app.api().await;
    let (old, new) = (ClientKey::es256("old"), ClientKey::es256("new"));
    let serve = |key: &ClientKey| {
        outside.set(
            "/jwks",
            200,
            &[("content-type", "application/jwk-set+json")],
            key.jwks().to_string(),
        );
    };
    serve(&old);
    let c = app
        .admin
        .create_client(
            NewClient {
                name: "by reference".into(),
                profile: Some(Profile::Service),
                scopes: Some(vec!["api:read".into()]),
                token_endpoint_auth_method: Some(AuthMethod::PrivateKeyJwt),
                jwks_uri: Some(outside.url("/jwks")),
                ..Default::default()
            },
            app.now(),
        )
        .await
        .unwrap();
    let (id, iss) = (c.app.client_id, app.settings.issuer.clone());
    for _ in 0..3 {
        let r = token_with(&app, &old.assertion(&id, &iss, app.now())).await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(outside.hits("/jwks"), 1, "kept between assertions");
    // The application rotates its key: the unknown kid makes Valet look again.
    serve(&new);
    let r = token_with(&app, &new.assertion(&id, &iss, app.now())).await;
    assert_eq!(r.status(), 200);
    assert_eq!(outside.hits("/jwks"), 2);
    // Made-up kids do not make Valet hammer the application's server.
    for n in 0..5 {
        let stranger = ClientKey::es256(&format!("made-up-{n}"));
        let r = token_with(&app, &stranger.assertion(&id, &iss, app.now())).await;
        assert_oauth_error(r, 401, "invalid_client").await;
    }
    assert_eq!(outside.hits("/jwks"), 2, "within the cooldown");
    app.clock.advance(31);
    let stranger = ClientKey::es256("made-up-later");
    let r = token_with(&app, &stranger.assertion(&id, &iss, app.now())).await;
    assert_oauth_error(r, 401, "invalid_client").await;
    assert_eq!(
        outside.hits("/jwks"),
        3,
        "after the cooldown, one more look"
    );
}
