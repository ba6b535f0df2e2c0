//! `/oauth2/introspect` (RFC 7662) and the JWT checks behind it (checklist K, L1–L3).

use crate::harness::{assert_oauth_error, spawn_app};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use oauth2::basic::BasicClient;
use oauth2::{AccessToken, ClientId, ClientSecret, IntrospectionUrl, TokenIntrospectionResponse};
use serde_json::{Value, json};
use valet_protocol::application::Profile;
use valet_server::admin::NewClient;

#[tokio::test]
async fn introspection_through_the_oauth2_crate() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let token = app.token(&id, &secret).await;
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret))
        .set_introspection_url(IntrospectionUrl::new(app.url("/oauth2/introspect")).unwrap());
    let r = client
        .introspect(&AccessToken::new(token))
        .request_async(&app.http)
        .await
        .unwrap();
    assert!(r.active());
    assert_eq!(r.client_id().unwrap().as_str(), id);
    assert_eq!(r.sub(), Some(id.as_str()));
    assert_eq!(r.aud().unwrap(), &vec!["https://api.example".to_string()]);
    assert_eq!(r.iss(), Some(app.settings.issuer.as_str()));
    assert_eq!(r.token_type(), Some(&oauth2::basic::BasicTokenType::Bearer));
}

#[tokio::test]
async fn introspection_requires_client_authentication() {
    // L1.
    let app = spawn_app().await;
    let (id, secret) = app.service(&[]).await;
    let token = app.token(&id, &secret).await;
    let r = app
        .http
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 401, "invalid_client").await;
    let r = app
        .post(
            "/oauth2/introspect",
            &id,
            "wrong",
            &format!("token={token}"),
        )
        .await;
    assert_oauth_error(r, 401, "invalid_client").await;
    let r = app.post("/oauth2/introspect", &id, &secret, "").await;
    assert_oauth_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn anything_not_live_is_only_active_false() {
    // L2, K1–K7, K10: every refusal looks the same from outside.
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let good = app.token(&id, &secret).await;
    let now = app.now();
    let claims = app.claims(&id);
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let parts: Vec<&str> = good.split('.').collect();
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    let kid = header["kid"].as_str().unwrap();
    let forge = |h: Value, p: &[u8], sig: &[u8]| {
        format!(
            "{}.{}.{}",
            B64.encode(h.to_string()),
            B64.encode(p),
            B64.encode(sig)
        )
    };
    let jwks: Value = app.jwks().await;
    let public_jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap()
        .to_string();
    let hs256 = {
        let h = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
        let input = format!(
            "{}.{}",
            B64.encode(h.to_string()),
            B64.encode(claims.to_string())
        );
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public_jwk.as_bytes());
        format!(
            "{input}.{}",
            B64.encode(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref())
        )
    };

    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not-a-token".into()),
        ("four segments", format!("{good}.x")),
        (
            "tampered payload",
            format!(
                "{}.{}.{}",
                parts[0],
                B64.encode(with("sub", json!("evil")).to_string()),
                parts[2]
            ),
        ),
        (
            "alg none",
            forge(
                json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
                claims.to_string().as_bytes(),
                b"",
            ),
        ),
        ("HS256 keyed with the public JWK", hs256),
        (
            "psychic signature",
            forge(
                json!({"alg": "ES256", "typ": "at+jwt", "kid": kid}),
                claims.to_string().as_bytes(),
                &[0; 64],
            ),
        ),
        (
            "unknown kid",
            forge(
                json!({"alg": "ES256", "typ": "at+jwt", "kid": "../../dev/null"}),
                b"{}",
                &[1; 64],
            ),
        ),
        (
            "huge kid",
            forge(
                json!({"alg": "ES256", "kid": "k".repeat(10_000)}),
                b"{}",
                &[1; 64],
            ),
        ),
        (
            "embedded jwk header",
            forge(
                json!({"alg": "ES256", "typ": "at+jwt", "jwk": {"kty": "EC"}}),
                claims.to_string().as_bytes(),
                &[1; 64],
            ),
        ),
        (
            "expired",
            app.sign_with_valet_key("at+jwt", &with("exp", json!(now - 120)))
                .await,
        ),
        (
            "nbf 60 s ahead",
            app.sign_with_valet_key("at+jwt", &with("nbf", json!(now + 60)))
                .await,
        ),
        (
            "iat far ahead",
            app.sign_with_valet_key("at+jwt", &with("iat", json!(now + 3600)))
                .await,
        ),
        (
            "other issuer",
            app.sign_with_valet_key("at+jwt", &with("iss", json!("https://evil.example")))
                .await,
        ),
        (
            "an ID token (typ JWT)",
            app.sign_with_valet_key("JWT", &claims).await,
        ),
        ("no typ", app.sign_with_valet_key("", &claims).await),
    ];
    for (what, token) in cases {
        let body = app.introspect(&id, &secret, &urlencode(&token)).await;
        assert_eq!(body, json!({"active": false}), "{what}");
    }

    // Checklist K5: a token 8 s in the future (clock skew) is still accepted.
    let skewed = app
        .sign_with_valet_key("at+jwt", &with("nbf", json!(now + 8)))
        .await;
    assert_eq!(app.introspect(&id, &secret, &skewed).await["active"], true);
    assert_eq!(app.introspect(&id, &secret, &good).await["active"], true);
}

#[tokio::test]
async fn public_clients_see_only_their_own_tokens() {
    let app = spawn_app().await;
    let (rs, rs_secret) = app.service(&[]).await;
    app.api_introspected_by(&[&rs]).await;
    let (svc, secret) = app.service(&["api:read"]).await;
    let token = app.token(&svc, &secret).await;
    let (spa, _) = app
        .client(NewClient {
            name: "spa".into(),
            profile: Some(Profile::Spa),
            redirect_uris: vec!["https://spa.example/cb".into()],
            ..Default::default()
        })
        .await;
    let r = app
        .http
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", token.as_str()), ("client_id", spa.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"active": false}));
    // A confidential application may look only as the introspector of an API the token
    // is for (issue 12 item 6, `http::introspectors`).
    let (other, other_secret) = app.service(&[]).await;
    assert_eq!(
        app.introspect(&other, &other_secret, &token).await,
        json!({"active": false})
    );
    assert_eq!(
        app.introspect(&rs, &rs_secret, &token).await["active"],
        true
    );
}

#[tokio::test]
async fn introspection_is_not_cached() {
    // L3.
    let app = spawn_app().await;
    let (id, secret) = app.service(&[]).await;
    let token = app.token(&id, &secret).await;
    let r = app
        .post(
            "/oauth2/introspect",
            &id,
            &secret,
            &format!("token={token}"),
        )
        .await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn tokens_of_a_deleted_application_are_inactive() {
    let app = spawn_app().await;
    let (rs, rs_secret) = app.service(&[]).await;
    app.api_introspected_by(&[&rs]).await;
    let (gone, gone_secret) = app.service(&["api:read"]).await;
    let token = app.token(&gone, &gone_secret).await;
    assert_eq!(
        app.introspect(&rs, &rs_secret, &token).await["active"],
        true
    );
    app.admin.delete_client(&gone, app.now()).await.unwrap();
    // cache_ttl is 0 in tests; in production the bound is cache_ttl.
    assert_eq!(
        app.introspect(&rs, &rs_secret, &token).await,
        json!({"active": false})
    );
}
