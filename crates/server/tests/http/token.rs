//! `/oauth2/token`: client_credentials through the `oauth2` crate, and every
//! token-endpoint rule of checklist section F that applies.

use crate::harness::{assert_oauth_error, spawn_app};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use serde_json::Value;
use valet_server::admin::NewClient;

fn verify_independently(token: &str, jwks: &Value) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let kid = header.kid.unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&["https://api.example"]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &v,
    )
    .unwrap()
    .claims
}

#[tokio::test]
async fn client_credentials_through_the_oauth2_crate() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app.service(&["api:read", "api:write"]).await;
    let jwks: Value = app.jwks().await;

    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let mut new = NewClient {
            name: "post".into(),
            profile: Some(valet_protocol::application::Profile::Service),
            scopes: Some(vec!["api:read".into(), "api:write".into()]),
            ..Default::default()
        };
        let (id, secret) = if matches!(auth, AuthType::RequestBody) {
            new.token_endpoint_auth_method =
                Some(valet_protocol::application::AuthMethod::ClientSecretPost);
            app.client(new).await
        } else {
            (id.clone(), secret.clone())
        };
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret))
            .set_auth_type(auth)
            .set_token_uri(TokenUrl::new(app.url("/oauth2/token")).unwrap());
        let token = client
            .exchange_client_credentials()
            .add_scope(Scope::new("api:read".into()))
            .request_async(&app.http)
            .await
            .unwrap();
        assert!(
            token.refresh_token().is_none(),
            "no refresh token for client_credentials (G9)"
        );
        assert_eq!(token.expires_in().unwrap().as_secs(), 600);
        assert_eq!(
            token.scopes().unwrap(),
            &vec![Scope::new("api:read".into())]
        );

        let claims = verify_independently(token.access_token().secret(), &jwks);
        assert_eq!(claims["iss"], app.settings.issuer);
        assert_eq!(claims["sub"], id.as_str());
        assert_eq!(claims["client_id"], id.as_str());
        assert_eq!(claims["aud"], "https://api.example");
        assert_eq!(claims["scope"], "api:read");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            600
        );
        assert!(
            claims["jti"].as_str().unwrap().len() >= 22,
            "jti carries 128 bits"
        );
    }
}

#[tokio::test]
async fn default_scope_service_user_and_resource() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app
        .client(NewClient {
            name: "acting".into(),
            profile: Some(valet_protocol::application::Profile::Service),
            scopes: Some(vec!["api:read".into()]),
            service_subject: Some("user-7".into()),
            ..Default::default()
        })
        .await;
    let r = app
        .post(
            "/oauth2/token",
            &id,
            &secret,
            "grant_type=client_credentials",
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["scope"], "api:read",
        "no scope → the application's scopes"
    );
    let jwks: Value = app.jwks().await;
    let claims = verify_independently(body["access_token"].as_str().unwrap(), &jwks);
    assert_eq!(claims["sub"], "user-7");

    let ok = app
        .post(
            "/oauth2/token",
            &id,
            &secret,
            "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example",
        )
        .await;
    assert_eq!(ok.status(), 200);
    let bad = app
        .post(
            "/oauth2/token",
            &id,
            &secret,
            "grant_type=client_credentials&resource=https%3A%2F%2Fother.example",
        )
        .await;
    assert_oauth_error(bad, 400, "invalid_target").await;
}

#[tokio::test]
async fn token_endpoint_refuses_bad_requests_with_the_right_error() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let cc = "grant_type=client_credentials";

    // F1: POST only, form only.
    let r = app.http.get(app.url("/oauth2/token")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 400, "invalid_request").await;

    // F2: repeated parameters.
    for body in [
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=client_credentials&scope=api%3Aread&scope=api%3Aread",
    ] {
        assert_oauth_error(
            app.post("/oauth2/token", &id, &secret, body).await,
            400,
            "invalid_request",
        )
        .await;
    }

    // F4: bad credentials → 401 with WWW-Authenticate.
    for (i, s) in [
        (&id[..], "wrong"),
        ("nobody", &secret[..]),
        (&id[..], &secret[..secret.len() - 1]),
    ] {
        let r = app.post("/oauth2/token", i, s, cc).await;
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert_oauth_error(r, 401, "invalid_client").await;
    }
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(cc)
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 401, "invalid_client").await;

    // F5: Basic and client_secret together.
    let body = format!("{cc}&client_secret={secret}");
    assert_oauth_error(
        app.post("/oauth2/token", &id, &secret, &body).await,
        400,
        "invalid_request",
    )
    .await;

    // F6: a method other than the registered one (chosen explicitly: without a choice,
    // client_secret_post works too, issue 12, item 18).
    let (basic, basic_secret) = app
        .client(NewClient {
            name: "basic only".into(),
            profile: Some(valet_protocol::application::Profile::Service),
            token_endpoint_auth_method: Some(
                valet_protocol::application::AuthMethod::ClientSecretBasic,
            ),
            ..Default::default()
        })
        .await;
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &basic),
            ("client_secret", &basic_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 401, "invalid_client").await;

    // F7: credentials in the query string, however spelled.
    for q in [
        format!("client_secret={secret}"),
        format!("a=1&client%5Fsecret={secret}"),
    ] {
        let r = app
            .http
            .post(app.url(&format!("/oauth2/token?{q}")))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_oauth_error(r, 400, "invalid_request").await;
    }

    // Empty secret is a failed authentication, not "no secret".
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 401, "invalid_client").await;

    // F10: unknown grant types, and grants this application was not given.
    for g in ["urn:x:custom", "implicit"] {
        let r = app
            .post("/oauth2/token", &id, &secret, &format!("grant_type={g}"))
            .await;
        assert_oauth_error(r, 400, "unsupported_grant_type").await;
    }
    for g in ["authorization_code", "password", "refresh_token"] {
        let r = app
            .post("/oauth2/token", &id, &secret, &format!("grant_type={g}"))
            .await;
        assert_oauth_error(r, 400, "unauthorized_client").await;
    }
    assert_oauth_error(
        app.post("/oauth2/token", &id, &secret, "").await,
        400,
        "invalid_request",
    )
    .await;

    // F11: scope wider than allowed; malformed scope.
    for s in ["api%3Awrite", "api%3Aread+api%3Awrite", "%22quoted%22"] {
        let r = app
            .post("/oauth2/token", &id, &secret, &format!("{cc}&scope={s}"))
            .await;
        assert_oauth_error(r, 400, "invalid_scope").await;
    }

    // N6: oversized body.
    let big = format!("{cc}&pad={}", "x".repeat(70 * 1024));
    let r = app.post("/oauth2/token", &id, &secret, &big).await;
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_before_base64() {
    // F8: every byte may be percent-encoded inside Basic; the server must decode it.
    let app = spawn_app().await;
    let (id, secret) = app.service(&[]).await;
    let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let r = app
        .post(
            "/oauth2/token",
            &enc(&id),
            &enc(&secret),
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(
        body.get("scope").is_none(),
        "no scope allowed → none granted"
    );
}

#[tokio::test]
async fn garbage_never_yields_a_5xx() {
    let app = spawn_app().await;
    let (id, secret) = app.service(&[]).await;
    let bodies: Vec<Vec<u8>> = vec![
        b"%".to_vec(),
        b"%ZZ=%ZZ".to_vec(),
        b"grant_type=%FF%FE".to_vec(),
        b"&&&===&&".to_vec(),
        vec![0xff, 0x00, 0x13, 0x37],
        b"grant_type=client_credentials&scope=\x00".to_vec(),
        b"grant_type=client_credentials&resource=%00".to_vec(),
        "=".repeat(5000).into_bytes(),
    ];
    let auths = [
        "Basic",
        "Basic !!!",
        "Bearer x",
        "Basic Og==",
        "Basic Zm9vOg==",
    ];
    for body in &bodies {
        for auth in auths {
            let r = app
                .http
                .post(app.url("/oauth2/token"))
                .header("authorization", auth)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!(
                r.status().is_client_error(),
                "{auth} {body:?} → {}",
                r.status()
            );
            assert_eq!(r.headers()["cache-control"], "no-store");
        }
        let r = app
            .post(
                "/oauth2/token",
                &id,
                &secret,
                std::str::from_utf8(body).unwrap_or("%"),
            )
            .await;
        assert!(r.status().is_client_error(), "{body:?} → {}", r.status());
    }
}

#[tokio::test]
async fn tokens_are_url_safe_and_unique() {
    // F14: VSCHAR only, ≥ 128 bits of entropy (jti), never the same twice.
    let app = spawn_app().await;
    let (id, secret) = app.service(&[]).await;
    let a = app.token(&id, &secret).await;
    let b = app.token(&id, &secret).await;
    assert_ne!(a, b);
    assert!(
        a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    );
}

#[tokio::test]
async fn repeated_failed_authentication_is_slowed_down() {
    // H4: per (client, address) backoff → 429 with Retry-After; others unaffected.
    let app = spawn_app().await;
    let (a, a_secret) = app.service(&[]).await;
    let (b, b_secret) = app.service(&[]).await;
    for _ in 0..20 {
        let r = app
            .post(
                "/oauth2/token",
                &a,
                "wrong",
                "grant_type=client_credentials",
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    let r = app
        .post(
            "/oauth2/token",
            &a,
            &a_secret,
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let r = app
        .post(
            "/oauth2/token",
            &b,
            &b_secret,
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(r.status(), 200);
    // HSTS on every response once TLS is on.
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
}

#[tokio::test]
async fn issuing_a_token_writes_nothing() {
    // ARCHITECTURE.md invariant 7: the store records revocations, not issuance.
    let app = spawn_app().await;
    let (id, secret) = app.service(&[]).await;
    app.token(&id, &secret).await; // warm the application cache
    let path = app.sqlite_path();
    let watcher = rusqlite::Connection::open(path).unwrap();
    let version = || -> i64 {
        watcher
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .unwrap()
    };
    let before = version();
    for _ in 0..20 {
        app.token(&id, &secret).await;
    }
    assert_eq!(version(), before, "no other connection committed anything");
    // The check can fail: a revocation is a write.
    let token = app.token(&id, &secret).await;
    app.post("/oauth2/revoke", &id, &secret, &format!("token={token}"))
        .await;
    assert_ne!(version(), before);
}
