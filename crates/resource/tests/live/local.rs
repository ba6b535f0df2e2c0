//! Local JWT validation refuses everything that is not a live access token of this
//! issuer for this API (checklist K1–K3, K5, K6, K10, K11; RFC 9068 §4).

use crate::harness::{API, OTHER_API, TestApp, call_with, now, spawn_app};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use valet_jose::{Algorithm, SigningKey};
use valet_resource::{Error, Validator};

fn b64json(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

fn payload(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn kid(token: &str) -> String {
    let h: Value =
        serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    h["kid"].as_str().unwrap().to_owned()
}

async fn refused(v: &Validator, token: &str, what: &str) {
    match v.validate(token).await {
        Err(Error::InvalidToken(_)) => {}
        other => panic!("{what}: expected invalid_token, got {other:?}"),
    }
}

async fn setup() -> (TestApp, Validator, String) {
    let app = spawn_app().await;
    let v = app.validator().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let token = app.token(&id, &secret).await;
    (app, v, token)
}

#[tokio::test]
async fn a_valid_token_passes_with_its_claims() {
    let (app, v, token) = setup().await;
    let claims = v.validate(&token).await.unwrap();
    assert_eq!(claims.iss, app.settings.issuer);
    assert_eq!(claims.aud, [API]);
    assert!(claims.has_scope("api:read"));
    assert!(!claims.client_id.is_empty());
    assert_eq!(claims.sub, claims.client_id);
}

#[tokio::test]
async fn a_users_token_passes_and_carries_its_grant() {
    let app = spawn_app().await;
    let v = app.validator().await;
    let t = app.user_tokens("openid api:read").await;
    let claims = v
        .validate(t["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert!(claims.grant_id.is_some());
    assert_ne!(claims.sub, claims.client_id);
}

#[tokio::test]
async fn a_tampered_token_is_refused() {
    let (_app, v, token) = setup().await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = payload(&token);
    claims["scope"] = json!("api:read api:write");
    let forged = format!("{}.{}.{}", parts[0], b64json(&claims), parts[2]);
    refused(&v, &forged, "payload changed").await;
    // A flipped signature byte.
    let mut sig = B64.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    refused(
        &v,
        &format!("{}.{}.{}", parts[0], parts[1], B64.encode(&sig)),
        "signature",
    )
    .await;
    // K11: ECDSA r = s = 0 ("psychic signature").
    refused(
        &v,
        &format!("{}.{}.{}", parts[0], parts[1], B64.encode([0u8; 64])),
        "r=s=0",
    )
    .await;
    // Through HTTP too.
    let api = crate::harness::api(&v);
    assert_eq!(
        call_with(&api, "GET", "/read", &forged).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn time_claims_are_checked_with_a_bounded_leeway() {
    // Checklist K5: exp in the past and nbf / iat in the future beyond the leeway fail;
    // a clock 8 s behind passes, 60 s behind fails.
    let (app, v, _) = setup().await;
    let now = now();
    let with = |changes: Value| {
        let mut c = app.claims();
        for (k, val) in changes.as_object().unwrap() {
            c[k] = val.clone();
        }
        c
    };
    let ok = app.sign(Algorithm::ES256, "at+jwt", &app.claims()).await;
    v.validate(&ok).await.unwrap();
    for (what, changes) in [
        (
            "expired",
            json!({"exp": now - 61, "iat": now - 700, "nbf": now - 700}),
        ),
        ("nbf 60 s ahead", json!({"nbf": now + 60})),
        ("iat 60 s ahead", json!({"iat": now + 60})),
        (
            "iat far ahead",
            json!({"iat": now + 86_400, "nbf": now + 86_400, "exp": now + 90_000}),
        ),
    ] {
        let t = app.sign(Algorithm::ES256, "at+jwt", &with(changes)).await;
        refused(&v, &t, what).await;
    }
    let t = app
        .sign(
            Algorithm::ES256,
            "at+jwt",
            &with(json!({"nbf": now + 8, "iat": now + 8})),
        )
        .await;
    v.validate(&t).await.expect("8 s of clock skew passes");
}

#[tokio::test]
async fn a_token_for_another_api_or_issuer_is_refused() {
    let (app, v, _) = setup().await;
    // A real token of this Valet, for another registered API (checklist K6).
    let (id, secret) = app.service(&["other:read"]).await;
    let other = app.token(&id, &secret).await;
    assert_eq!(payload(&other)["aud"], OTHER_API);
    refused(&v, &other, "another audience").await;
    // Signed by Valet's key but naming another issuer.
    let mut c = app.claims();
    c["iss"] = json!("https://evil.example");
    refused(
        &v,
        &app.sign(Algorithm::ES256, "at+jwt", &c).await,
        "another issuer",
    )
    .await;
    // An audience list that includes this API passes; one that does not, fails.
    let mut c = app.claims();
    c["aud"] = json!([OTHER_API, API]);
    v.validate(&app.sign(Algorithm::ES256, "at+jwt", &c).await)
        .await
        .unwrap();
    c["aud"] = json!([OTHER_API]);
    refused(
        &v,
        &app.sign(Algorithm::ES256, "at+jwt", &c).await,
        "aud list",
    )
    .await;
}

#[tokio::test]
async fn alg_none_and_hs256_with_the_public_key_are_refused() {
    let (app, v, token) = setup().await;
    let claims = b64json(&payload(&token));
    let es_kid = kid(&token);
    // K1: alg none, with and without a known kid, with and without a signature.
    for header in [
        json!({"alg": "none", "typ": "at+jwt", "kid": es_kid}),
        json!({"alg": "none", "typ": "at+jwt"}),
        json!({"alg": "None", "typ": "at+jwt", "kid": es_kid}),
    ] {
        refused(&v, &format!("{}.{claims}.", b64json(&header)), "alg none").await;
        refused(
            &v,
            &format!("{}.{claims}.AAAA", b64json(&header)),
            "alg none",
        )
        .await;
    }
    // K2: HS256 keyed with each published key in the forms a confused verifier might use.
    for jwk in app.jwks().await {
        let kid = jwk["kid"].as_str().unwrap();
        let mut secrets: Vec<Vec<u8>> = vec![
            jwk.to_string().into_bytes(),
            format!("{jwk}\n").into_bytes(),
        ];
        for member in ["x", "n"] {
            if let Some(m) = jwk[member].as_str() {
                secrets.push(B64.decode(m).unwrap());
            }
        }
        if let (Some(x), Some(y)) = (jwk["x"].as_str(), jwk["y"].as_str()) {
            let mut point = vec![4u8];
            point.extend(B64.decode(x).unwrap());
            point.extend(B64.decode(y).unwrap());
            secrets.push(point);
        }
        for (i, secret) in secrets.iter().enumerate() {
            let header = b64json(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}));
            let input = format!("{header}.{claims}");
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
            let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
            let forged = format!("{input}.{}", B64.encode(tag.as_ref()));
            refused(&v, &forged, &format!("HS256 with {kid} form {i}")).await;
        }
    }
    // An RS256 header on the ES256 key: each key has exactly one algorithm.
    let parts: Vec<&str> = token.split('.').collect();
    let header = b64json(&json!({"alg": "RS256", "typ": "at+jwt", "kid": es_kid}));
    refused(
        &v,
        &format!("{header}.{}.{}", parts[1], parts[2]),
        "RS256 on ES256 key",
    )
    .await;
}

#[tokio::test]
async fn unknown_or_injected_kids_are_refused() {
    let (app, v, token) = setup().await;
    // K3: a key Valet never published, with its own kid and with Valet's.
    let der = valet_jose::generate_pkcs8(Algorithm::ES256).unwrap();
    let stranger = SigningKey::from_pkcs8(Algorithm::ES256, &der).unwrap();
    refused(
        &v,
        &stranger.sign("at+jwt", &app.claims()).unwrap(),
        "unknown kid",
    )
    .await;
    let own = stranger.sign("at+jwt", &app.claims()).unwrap();
    let parts: Vec<&str> = own.split('.').collect();
    let header = b64json(&json!({"alg": "ES256", "typ": "at+jwt", "kid": kid(&token)}));
    refused(
        &v,
        &format!("{header}.{}.{}", parts[1], parts[2]),
        "stranger's signature",
    )
    .await;
    // kid values that are only ever map keys.
    let claims = b64json(&app.claims());
    for bad in [
        "../../dev/null".to_owned(),
        "' OR 1=1 --".to_owned(),
        "\u{0}".to_owned(),
        "k".repeat(10_000),
    ] {
        let header = b64json(&json!({"alg": "ES256", "typ": "at+jwt", "kid": bad}));
        refused(
            &v,
            &format!("{header}.{claims}.{}", parts[2]),
            "injected kid",
        )
        .await;
    }
    // K4: an embedded key is never trusted.
    let header = b64json(&json!({
        "alg": "ES256", "typ": "at+jwt", "jwk": stranger.jwk(), "jku": "https://evil.example/jwks"
    }));
    let input = format!("{header}.{claims}");
    refused(&v, &format!("{input}.{}", parts[2]), "embedded jwk").await;
    // The API still works for real tokens afterwards.
    v.validate(&token).await.unwrap();
}

#[tokio::test]
async fn an_id_token_or_refresh_token_is_not_an_access_token() {
    // Checklist K6: Valet's own ID token (RS256, typ JWT, aud = client_id) is refused.
    let app = spawn_app().await;
    let v = app.validator().await;
    let t = app.user_tokens("openid api:read").await;
    refused(&v, t["id_token"].as_str().unwrap(), "id_token").await;
    refused(&v, t["refresh_token"].as_str().unwrap(), "refresh_token").await;
    // Even one signed by Valet with every access-token claim, for this API: only `typ`
    // tells it apart, and it is checked.
    for typ in ["JWT", "", "id_token+jwt"] {
        let forged = app.sign(Algorithm::RS256, typ, &app.claims()).await;
        refused(&v, &forged, &format!("typ {typ:?}")).await;
    }
    // The same claims under `at+jwt` with the RS256 key pass: the key, not the token, decides
    // the algorithm.
    v.validate(&app.sign(Algorithm::RS256, "at+jwt", &app.claims()).await)
        .await
        .unwrap();
}

#[tokio::test]
async fn malformed_tokens_are_refused_without_panic() {
    // Checklist K10.
    let (_app, v, token) = setup().await;
    let parts: Vec<&str> = token.split('.').collect();
    let big = format!(
        "{}.{}.{}",
        B64.encode(vec![b' '; 1 << 20]),
        parts[1],
        parts[2]
    );
    let deep = format!(
        "{}.{}.{}",
        B64.encode("[".repeat(10_000)),
        parts[1],
        parts[2]
    );
    for bad in [
        String::new(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.x"),
        format!("{}.!!.{}", parts[0], parts[2]),
        format!("{}.{}.{}", parts[0], B64.encode("not json"), parts[2]),
        big,
        deep,
    ] {
        refused(&v, &bad, "malformed").await;
    }
}
