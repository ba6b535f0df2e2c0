//! DPoP at an API built on `valet-resource` (RFC 9449 §7): a token Valet bound to a key
//! passes under the `DPoP` scheme with a proof of that key made for the request; the proof
//! is checked on every request, even when the token is in the verified-token cache
//! (a replayed proof, one for another path or method, one without `ath` are refused);
//! the bound token as a bearer token is refused; challenges are `DPoP` with `algs`. The
//! proofs are signed with `jsonwebtoken`, a JOSE implementation nobody here wrote.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use tower::ServiceExt;

use crate::harness::{API, TestApp, api, call_with, now, spawn_app};

static JTI: AtomicU64 = AtomicU64::new(1);

struct Key {
    encoding: jsonwebtoken::EncodingKey,
    jwk: Value,
}

impl Key {
    fn new() -> Self {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let der = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, der.as_ref()).unwrap();
        let p = pair.public_key().as_ref();
        Self {
            encoding: jsonwebtoken::EncodingKey::from_ec_der(der.as_ref()),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": B64.encode(&p[1..33]),
                "y": B64.encode(&p[33..65])}),
        }
    }

    fn proof(&self, htm: &str, htu: &str, token: Option<&str>) -> String {
        let mut claims = json!({"jti": format!("p{}", JTI.fetch_add(1, Ordering::Relaxed)),
            "htm": htm, "htu": htu, "iat": now()});
        if let Some(t) = token {
            let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, t.as_bytes());
            claims["ath"] = B64.encode(hash).into();
        }
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.typ = Some("dpop+jwt".into());
        h.jwk = Some(serde_json::from_value(self.jwk.clone()).unwrap());
        jsonwebtoken::encode(&h, &claims, &self.encoding).unwrap()
    }
}

/// A client_credentials token of Valet's bound to `key`.
async fn bound_token(app: &TestApp, key: &Key) -> String {
    let (id, secret) = app.service(&["api:read", "api:write"]).await;
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("DPoP", key.proof("POST", &app.url("/oauth2/token"), None))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    body["access_token"].as_str().unwrap().to_owned()
}

/// `method path` under the `DPoP` scheme with `proof`: status and challenge.
async fn call_dpop(
    router: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    proof: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("DPoP {token}"));
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    let r = router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status(), challenge)
}

#[tokio::test]
async fn a_bound_token_passes_with_a_fresh_proof_for_each_request() {
    let app = spawn_app().await;
    let key = Key::new();
    let token = bound_token(&app, &key).await;
    let api = api(&app.validator().await);
    let read = format!("{API}/read");
    // The layer, the `Scoped` extractor and the `Authenticated` extractor alike.
    for (method, path) in [("GET", "/read"), ("POST", "/write"), ("GET", "/me")] {
        let proof = key.proof(method, &format!("{API}{path}"), Some(&token));
        let (status, challenge) = call_dpop(&api, method, path, &token, Some(&proof)).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {challenge}");
    }
    // The token is in the cache now; the proof is still checked, every time.
    let proof = key.proof("GET", &read, Some(&token));
    assert_eq!(
        call_dpop(&api, "GET", "/read", &token, Some(&proof))
            .await
            .0,
        StatusCode::OK
    );
    let (status, challenge) = call_dpop(&api, "GET", "/read", &token, Some(&proof)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a replayed proof");
    assert!(
        challenge.starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{challenge}"
    );
    assert!(challenge.contains("algs=\"ES256"), "{challenge}");
    let stranger = Key::new();
    for proof in [
        Some(key.proof("GET", &format!("{API}/me"), Some(&token))),
        Some(key.proof("POST", &read, Some(&token))),
        Some(key.proof("GET", &read, None)),
        Some(key.proof("GET", &read, Some("another-token"))),
        Some(stranger.proof("GET", &read, Some(&token))),
        None,
    ] {
        let (status, challenge) = call_dpop(&api, "GET", "/read", &token, proof.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(challenge.starts_with("DPoP "), "{challenge}");
    }
}

#[tokio::test]
async fn a_bound_token_is_no_bearer_token_and_a_bearer_token_no_dpop_one() {
    let app = spawn_app().await;
    let key = Key::new();
    let bound = bound_token(&app, &key).await;
    let api = api(&app.validator().await);
    let (status, challenge, _) = call_with(&api, "GET", "/read", &bound).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.starts_with("DPoP error=\"invalid_token\""),
        "{challenge}"
    );
    // An unbound token under the DPoP scheme, even with a good proof: refused.
    let (id, secret) = app.service(&["api:read"]).await;
    let bearer = app.token(&id, &secret).await;
    let proof = key.proof("GET", &format!("{API}/read"), Some(&bearer));
    let (status, _) = call_dpop(&api, "GET", "/read", &bearer, Some(&proof)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
