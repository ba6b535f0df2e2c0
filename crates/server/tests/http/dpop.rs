//! DPoP at Valet's endpoints (RFC 9449): a proof at the token endpoint binds the access
//! token to its key (`token_type: DPoP`, `cnf.jkt`, introspected as such); each proof
//! counts once, across nodes; every rule of §4.3 refuses alone; an application may be
//! required to use DPoP; a code can be bound to a key ahead (`dpop_jkt`); a public
//! application's refresh token is bound too; the server's nonce (§8) when configured;
//! UserInfo takes the `DPoP` scheme and refuses a bound token as a bearer token.

use serde_json::{Value, json};
use valet_protocol::application::Profile;
use valet_server::admin::NewClient;

use crate::flow::{REDIRECT, param};
use crate::harness::{TestApp, assert_oauth_error, spawn_app, spawn_sharing, spawn_with};
use crate::jwt_client::{ClientKey, claims_of, jti};

async fn token(
    app: &TestApp,
    id: &str,
    secret: &str,
    body: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let mut r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    if let Some(p) = proof {
        r = r.header("DPoP", p);
    }
    r.send().await.unwrap()
}

fn token_url(app: &TestApp) -> String {
    app.url("/oauth2/token")
}

#[tokio::test]
async fn a_proof_binds_the_access_token_to_its_key() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let key = ClientKey::es256("dpop");
    let proof = key.dpop("POST", &token_url(&app), app.now(), None);
    let r = token(
        &app,
        &id,
        &secret,
        "grant_type=client_credentials",
        Some(&proof),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(claims_of(access)["cnf"]["jkt"], key.thumbprint());
    // RFC 9449 §6.2: introspection says what the token is bound to.
    let info = app.introspect(&id, &secret, access).await;
    assert_eq!(info["token_type"], "DPoP");
    assert_eq!(info["cnf"]["jkt"], key.thumbprint());
    // Without a proof, a bearer token as before.
    let r = token(&app, &id, &secret, "grant_type=client_credentials", None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["token_type"], "Bearer");
}

#[tokio::test]
async fn a_proof_counts_once_on_any_node() {
    let app = spawn_app().await;
    app.api().await;
    let other = spawn_sharing(&app).await;
    let (id, secret) = app.service(&["api:read"]).await;
    let key = ClientKey::ed25519("dpop");
    let proof = key.dpop("POST", &token_url(&app), app.now(), None);
    let body = "grant_type=client_credentials";
    assert_eq!(
        token(&app, &id, &secret, body, Some(&proof)).await.status(),
        200
    );
    for node in [&app, &other] {
        let r = token(node, &id, &secret, body, Some(&proof)).await;
        assert_oauth_error(r, 400, "invalid_dpop_proof").await;
    }
}

#[tokio::test]
async fn each_rule_of_section_4_3_refuses_alone() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let key = ClientKey::es256("dpop");
    let (now, htu) = (app.now(), token_url(&app));
    let good = || json!({"jti": jti(), "htm": "POST", "htu": htu, "iat": now});
    let mut proofs = Vec::new();
    for (k, v) in [
        ("htm", json!("GET")),
        ("htu", json!(app.url("/oauth2/introspect"))),
        ("htu", json!("https://elsewhere.example/oauth2/token")),
        ("iat", json!(now - 301)),
        ("iat", json!(now + 61)),
    ] {
        let mut c = good();
        c[k] = v;
        proofs.push(key.dpop_with(&c));
    }
    for missing in ["jti", "htm", "htu", "iat"] {
        let mut c = good();
        c.as_object_mut().unwrap().remove(missing);
        proofs.push(key.dpop_with(&c));
    }
    // Not typed dpop+jwt; no jwk header; a tampered signature; garbage.
    proofs.push(key.sign(Some("JWT"), &good()));
    proofs.push(key.sign(Some("dpop+jwt"), &good()));
    let p = key.dpop_with(&good());
    proofs.push(format!("{}x", &p[..p.len() - 2]));
    proofs.push("not-a-jwt".into());
    for p in proofs {
        let r = token(
            &app,
            &id,
            &secret,
            "grant_type=client_credentials",
            Some(&p),
        )
        .await;
        assert_oauth_error(r, 400, "invalid_dpop_proof").await;
    }
    // Two DPoP headers.
    let r = app
        .http
        .post(token_url(&app))
        .basic_auth(&id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("DPoP", key.dpop("POST", &htu, now, None))
        .header("DPoP", key.dpop("POST", &htu, now, None))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 400, "invalid_dpop_proof").await;
    // Query and fragment aside, scheme and host case-insensitive (§4.3 item 9).
    let upper = htu.replace("https://localhost", "HTTPS://LOCALHOST") + "?x=1";
    let p = key.dpop("POST", &upper, now, None);
    let r = token(
        &app,
        &id,
        &secret,
        "grant_type=client_credentials",
        Some(&p),
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn an_application_may_be_required_to_use_dpop() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app
        .client(NewClient {
            name: "bound".into(),
            profile: Some(Profile::Service),
            scopes: Some(vec!["api:read".into()]),
            require_dpop: true,
            ..Default::default()
        })
        .await;
    let r = token(&app, &id, &secret, "grant_type=client_credentials", None).await;
    assert_oauth_error(r, 400, "invalid_dpop_proof").await;
    let p = ClientKey::es256("k").dpop("POST", &token_url(&app), app.now(), None);
    let r = token(
        &app,
        &id,
        &secret,
        "grant_type=client_credentials",
        Some(&p),
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_server_nonce_is_asked_for_and_then_accepted() {
    let app = spawn_with(|p| valet_server::config::Partial {
        dpop_nonce: Some(true),
        ..p
    })
    .await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let key = ClientKey::es256("k");
    let p = key.dpop("POST", &token_url(&app), app.now(), None);
    let r = token(
        &app,
        &id,
        &secret,
        "grant_type=client_credentials",
        Some(&p),
    )
    .await;
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_oauth_error(r, 400, "use_dpop_nonce").await;
    let with_nonce = |n: &str| {
        key.dpop_with(&json!({"jti": jti(), "htm": "POST", "htu": token_url(&app),
            "iat": app.now(), "nonce": n}))
    };
    let r = token(
        &app,
        &id,
        &secret,
        "grant_type=client_credentials",
        Some(&with_nonce(&nonce)),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = token(
        &app,
        &id,
        &secret,
        "grant_type=client_credentials",
        Some(&with_nonce("made-up")),
    )
    .await;
    assert_oauth_error(r, 400, "use_dpop_nonce").await;
    // A nonce goes stale after its window and the next one.
    app.clock.advance(601);
    let p = with_nonce(&nonce);
    let r = token(
        &app,
        &id,
        &secret,
        "grant_type=client_credentials",
        Some(&p),
    )
    .await;
    assert_oauth_error(r, 400, "use_dpop_nonce").await;
}

/// A public (spa) application through the code flow with a code bound ahead by
/// `dpop_jkt`; its refresh token is bound to the key too (RFC 9449 §5, §10).
#[tokio::test]
async fn codes_and_public_refresh_tokens_are_bound_to_the_key() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app
        .client(NewClient {
            name: "SPA".into(),
            profile: Some(Profile::Spa),
            redirect_uris: vec![REDIRECT.into()],
            ..Default::default()
        })
        .await;
    let key = ClientKey::es256("spa");
    let verifier = "v".repeat(43);
    let challenge = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            verifier.as_bytes(),
        ))
    };
    let url = app.authorize_url(
        &id,
        &format!(
            "&code_challenge={challenge}&code_challenge_method=S256&dpop_jkt={}",
            key.thumbprint()
        ),
    );
    let code_for = |location: &str| param(location, "code").unwrap();
    let redeem = |code: String, proof: Option<String>| {
        let app = &app;
        let (id, verifier) = (id.clone(), verifier.clone());
        async move {
            let mut r = app
                .http
                .post(token_url(app))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!(
                    "grant_type=authorization_code&code={code}&client_id={id}\
                     &redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier={verifier}"
                ));
            if let Some(p) = proof {
                r = r.header("DPoP", p);
            }
            r.send().await.unwrap()
        }
    };
    // Another key's proof cannot redeem the bound code (and burns it).
    let location = app.browser().sign_in(&app, &url, "alice").await;
    let stranger = ClientKey::es256("other");
    let p = stranger.dpop("POST", &token_url(&app), app.now(), None);
    assert_oauth_error(
        redeem(code_for(&location), Some(p)).await,
        400,
        "invalid_dpop_proof",
    )
    .await;
    let location = app.browser().sign_in(&app, &url, "alice").await;
    assert_oauth_error(
        redeem(code_for(&location), None).await,
        400,
        "invalid_dpop_proof",
    )
    .await;
    let location = app.browser().sign_in(&app, &url, "alice").await;
    let p = key.dpop("POST", &token_url(&app), app.now(), None);
    let r = redeem(code_for(&location), Some(p)).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh_with = |proof: Option<String>, token: String| {
        let app = &app;
        let id = id.clone();
        async move {
            let mut r = app
                .http
                .post(token_url(app))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!(
                    "grant_type=refresh_token&refresh_token={token}&client_id={id}"
                ));
            if let Some(p) = proof {
                r = r.header("DPoP", p);
            }
            r.send().await.unwrap()
        }
    };
    // A public application's refresh token needs a proof of its key (RFC 9449 §5).
    let r = refresh_with(None, refresh.clone()).await;
    assert_oauth_error(r, 400, "invalid_dpop_proof").await;
    let p = stranger.dpop("POST", &token_url(&app), app.now(), None);
    assert_oauth_error(
        refresh_with(Some(p), refresh.clone()).await,
        400,
        "invalid_dpop_proof",
    )
    .await;
    let p = key.dpop("POST", &token_url(&app), app.now(), None);
    let r = refresh_with(Some(p), refresh.clone()).await;
    assert_eq!(r.status(), 200);
    let next: Value = r.json().await.unwrap();
    assert_eq!(
        claims_of(next["access_token"].as_str().unwrap())["cnf"]["jkt"],
        key.thumbprint()
    );
    // The rotated successor stays bound.
    let successor = next["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(successor, refresh);
    let r = refresh_with(None, successor).await;
    assert_oauth_error(r, 400, "invalid_dpop_proof").await;
}

#[tokio::test]
async fn userinfo_takes_the_dpop_scheme_and_refuses_a_bound_token_as_bearer() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let key = ClientKey::es256("web");
    let location = app
        .browser()
        .sign_in(&app, &app.authorize_url(&id, ""), "alice")
        .await;
    let code = param(&location, "code").unwrap();
    let p = key.dpop("POST", &token_url(&app), app.now(), None);
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
    );
    let r = token(&app, &id, &secret, &body, Some(&p)).await;
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    // The ID token's sub and UserInfo's agree.
    let sub = claims_of(tokens["id_token"].as_str().unwrap())["sub"].clone();
    let userinfo = app.url("/userinfo");
    let call = |scheme: &str, proof: Option<String>| {
        let mut r = app
            .http
            .get(&userinfo)
            .header("authorization", format!("{scheme} {access}"));
        if let Some(p) = proof {
            r = r.header("DPoP", p);
        }
        r.send()
    };
    let r = call(
        "DPoP",
        Some(key.dpop("GET", &userinfo, app.now(), Some(&access))),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["sub"], sub);
    // As a bearer token: refused (RFC 9449 §7.1).
    let r = call("Bearer", None).await.unwrap();
    assert_eq!(r.status(), 401);
    // Without ath, for another method, by another key, or no proof at all.
    for proof in [
        Some(key.dpop("GET", &userinfo, app.now(), None)),
        Some(key.dpop("POST", &userinfo, app.now(), Some(&access))),
        Some(ClientKey::es256("x").dpop("GET", &userinfo, app.now(), Some(&access))),
        None,
    ] {
        let r = call("DPoP", proof).await.unwrap();
        assert_eq!(r.status(), 401);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("DPoP "), "{challenge}");
        assert!(challenge.contains("algs=\""), "{challenge}");
    }
}
