//! OIDC Back-Channel Logout 1.0 (issue 16): an application's backchannel_logout_uri
//! hears of every logout — the user's own, "sign out everywhere" by an admin — as a
//! logout token it can verify (§2.4), POSTed as a form (§2.5), retried when it fails.

use base64::Engine;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use valet_protocol::application::Profile;
use valet_server::admin::NewClient;

use crate::flow::{Page, REDIRECT, param};
use crate::harness::{TestApp, spawn_app};

/// A relying party's back-channel endpoint on loopback: records every body, answers
/// `statuses` in turn (then 200).
struct Receiver {
    uri: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

async fn receiver(statuses: Vec<u16>) -> Receiver {
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let queue = Arc::new(Mutex::new(statuses));
    let (b, q) = (bodies.clone(), queue.clone());
    let app = axum::Router::new().route(
        "/bc",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (b, q) = (b.clone(), q.clone());
            async move {
                assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
                b.lock().unwrap().push(body);
                let mut q = q.lock().unwrap();
                let status = if q.is_empty() { 200 } else { q.remove(0) };
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver {
        uri: format!("http://127.0.0.1:{port}/bc"),
        bodies,
    }
}

impl Receiver {
    /// Waits (on the delivering task, not a clock) until `n` POSTs arrived.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let got = self.bodies.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "only {} POSTs",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn decode(part: &str) -> Value {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The logout token of a POST body, checked against the issuer's JWKS.
async fn logout_token(app: &TestApp, body: &str) -> (Value, Value) {
    let token = form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .unwrap()
        .1
        .into_owned();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = decode(parts[0]);
    let claims = decode(parts[1]);
    let jwks = app.jwks().await;
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("signed with a published key")
        .clone();
    let decoding =
        jsonwebtoken::DecodingKey::from_jwk(&serde_json::from_value(key).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[claims["aud"].as_str().unwrap()]);
    validation.set_issuer(&[&app.settings.issuer]);
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(&token, &decoding, &validation).expect("the signature checks");
    (header, claims)
}

async fn web_with_backchannel(app: &TestApp, uri: &str) -> (String, String) {
    app.client(NewClient {
        name: "RP".into(),
        profile: Some(Profile::Web),
        redirect_uris: vec![REDIRECT.into()],
        backchannel_logout_uri: Some(uri.into()),
        ..Default::default()
    })
    .await
}

async fn sign_out(app: &TestApp, b: &crate::flow::Browser) {
    let account: Page = b.get(&app.url("/account")).await;
    let csrf = account.field("csrf").unwrap();
    let out = b
        .post_form(&app.url("/oauth2/logout"), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, 200);
}

#[tokio::test]
async fn a_logout_reaches_every_application_of_the_session_as_a_verifiable_token() {
    let app = spawn_app().await;
    let meta: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["backchannel_logout_supported"], true);
    assert_eq!(meta["backchannel_logout_session_supported"], true);
    app.user("alice").await;
    let rp = receiver(vec![]).await;
    let (a, a_secret) = web_with_backchannel(&app, &rp.uri).await;
    let (b_id, _) = web_with_backchannel(&app, &rp.uri).await;
    let (plain, _) = app.web_client().await; // listens to no logout
    let browser = app.browser();
    let location = browser
        .sign_in(&app, &app.authorize_url(&a, ""), "alice")
        .await;
    browser
        .sign_in(&app, &app.authorize_url(&b_id, ""), "alice")
        .await;
    browser
        .sign_in(&app, &app.authorize_url(&plain, ""), "alice")
        .await;
    let t: Value = app
        .redeem(&a, &a_secret, &location)
        .await
        .json()
        .await
        .unwrap();
    let id_token = decode(t["id_token"].as_str().unwrap().split('.').nth(1).unwrap());
    let sid = id_token["sid"]
        .as_str()
        .expect("a sid in the ID token")
        .to_owned();
    assert_eq!(param(&location, "state").as_deref(), Some("st1"));

    sign_out(&app, &browser).await;
    let bodies = rp.wait_for(2).await;
    let mut auds = Vec::new();
    for body in &bodies {
        let (header, claims) = logout_token(&app, body).await;
        assert_eq!(header["typ"], "logout+jwt");
        assert_eq!(header["alg"], "RS256");
        assert_eq!(claims["iss"], app.settings.issuer.as_str());
        assert_eq!(claims["sub"], id_token["sub"]);
        assert_eq!(claims["sid"], sid.as_str(), "the session of the ID token");
        assert_eq!(
            claims["events"],
            json!({ "http://schemas.openid.net/event/backchannel-logout": {} })
        );
        assert!(claims.get("nonce").is_none(), "§2.4: never a nonce");
        assert!(claims["jti"].is_string());
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            120
        );
        auds.push(claims["aud"].as_str().unwrap().to_owned());
    }
    auds.sort();
    let mut want = vec![a.clone(), b_id.clone()];
    want.sort();
    assert_eq!(auds, want, "each listening application once");
}

#[tokio::test]
async fn an_admin_ending_a_users_sessions_is_heard_and_failures_are_retried() {
    let app = spawn_app().await;
    app.user("bob").await;
    // The application is down at first: a 503, then it answers.
    let rp = receiver(vec![503]).await;
    let (id, _) = web_with_backchannel(&app, &rp.uri).await;
    let browser = app.browser();
    browser
        .sign_in(&app, &app.authorize_url(&id, ""), "bob")
        .await;
    app.admin.revoke_user("bob", app.now()).await.unwrap();
    let first = rp.wait_for(1).await;
    let (_, claims) = logout_token(&app, &first[0]).await;
    assert_eq!(claims["aud"], id.as_str());
    // The retry waits on the node's clock: nothing more until it moves.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rp.bodies.lock().unwrap().len(), 1, "not before its time");
    app.clock.advance(6);
    let both = rp.wait_for(2).await;
    let (_, again) = logout_token(&app, &both[1]).await;
    assert_ne!(again["jti"], claims["jti"], "a fresh token per attempt");
    assert_eq!(again["sid"], claims["sid"]);
}

#[tokio::test]
async fn backchannel_uris_are_https_or_loopback_and_never_for_services() {
    let app = spawn_app().await;
    for (profile, uri, field) in [
        (
            Profile::Web,
            "http://rp.example/bc",
            "backchannel_logout_uri",
        ),
        (
            Profile::Web,
            "https://rp.example/bc#x",
            "backchannel_logout_uri",
        ),
        (
            Profile::Service,
            "https://rp.example/bc",
            "backchannel_logout_uri",
        ),
    ] {
        let r = app
            .admin
            .create_client(
                NewClient {
                    name: "x".into(),
                    profile: Some(profile),
                    redirect_uris: if profile == Profile::Web {
                        vec![REDIRECT.into()]
                    } else {
                        vec![]
                    },
                    backchannel_logout_uri: Some(uri.into()),
                    ..Default::default()
                },
                app.now(),
            )
            .await;
        match r {
            Err(valet_server::admin::AdminError::Field { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{uri}: expected a refusal, got {:?}", other.map(|c| c.app)),
        }
    }
}
