//! Issue 21: `explain` says, for each way a token stops being live, which one it was —
//! and, for a refused request, what was refused and why. Tokens come from the real token
//! endpoint; the explanation from `Admin` (what the CLI runs) and the admin API.

use serde_json::Value;
use valet_protocol::application::{GrantType, Profile};
use valet_server::admin::NewClient;

use crate::flow::PASSWORD;
use crate::harness::{TestApp, spawn_app, spawn_with};
use valet_server::config::Partial;

async fn explain(app: &TestApp, token: &str) -> Value {
    app.admin
        .explain_token(token, &app.settings.issuer, app.now())
        .await
        .unwrap()
        .0
}

fn state(v: &Value) -> &str {
    v["state"].as_str().unwrap()
}

/// A password-grant application and alice's tokens from it: (id, secret, response).
async fn user_tokens(app: &TestApp) -> (String, String, Value) {
    app.user("alice").await;
    let (id, secret) = app
        .client(NewClient {
            name: "Legacy".into(),
            profile: Some(Profile::Web),
            redirect_uris: vec!["https://app.example/cb".into()],
            grant_types: Some(vec![GrantType::Password, GrantType::RefreshToken]),
            ..Default::default()
        })
        .await;
    let body = format!(
        "grant_type=password&username=alice&password={}&scope=openid",
        PASSWORD.replace(' ', "+")
    );
    let r = app.post("/oauth2/token", &id, &secret, &body).await;
    assert_eq!(r.status(), 200);
    (id, secret, r.json().await.unwrap())
}

#[tokio::test]
async fn a_live_token_is_explained_then_its_expiry() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let token = app.token(&id, &secret).await;
    let v = explain(&app, &token).await;
    assert_eq!(state(&v), "active", "{v}");
    assert_eq!(v["kind"], "access_token");
    assert_eq!(v["format"], "jwt");
    assert_eq!(v["signature"], "valid");
    assert_eq!(v["key"]["alg"], "ES256");
    assert_eq!(v["key"]["state"], "signing");
    assert_eq!(v["client_id"], id.as_str());
    assert_eq!(v["application"], "svc");
    assert_eq!(v["scope"], "api:read");

    app.clock.advance(app.settings.access_token_ttl + 1);
    let v = explain(&app, &token).await;
    assert_eq!(state(&v), "expired", "{v}");
    assert!(v["reason"].as_str().unwrap().starts_with("expired at"));
}

#[tokio::test]
async fn forged_altered_and_foreign_tokens_are_told_apart() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let token = app.token(&id, &secret).await;
    // One character of the signature changed.
    let mut altered = token.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let v = explain(&app, &altered).await;
    assert_eq!(state(&v), "invalid", "{v}");
    assert_eq!(v["signature"], "invalid");

    let mut claims = app.claims(&id);
    claims["iss"] = "https://elsewhere.example".into();
    let foreign = app.sign_with_valet_key("at+jwt", &claims).await;
    assert_eq!(state(&explain(&app, &foreign).await), "foreign");

    let v = explain(&app, "not a token at all").await;
    assert_eq!(state(&v), "unknown", "{v}");
}

#[tokio::test]
async fn a_revoked_token_and_a_deleted_application_say_so() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let token = app.token(&id, &secret).await;
    let r = app
        .post("/oauth2/revoke", &id, &secret, &format!("token={token}"))
        .await;
    assert_eq!(r.status(), 200);
    let v = explain(&app, &token).await;
    assert_eq!(state(&v), "revoked", "{v}");

    let other = app.token(&id, &secret).await;
    app.admin.delete_client(&id, app.now()).await.unwrap();
    let v = explain(&app, &other).await;
    assert_eq!(state(&v), "client_deleted", "{v}");
}

#[tokio::test]
async fn a_users_tokens_follow_the_user_and_the_grant() {
    let app = spawn_with(|p| Partial {
        refresh_token_rotation: Some("all".into()),
        ..p
    })
    .await;
    let (id, secret, t) = user_tokens(&app).await;
    let access = t["access_token"].as_str().unwrap();
    let refresh = t["refresh_token"].as_str().unwrap();
    let id_token = t["id_token"].as_str().unwrap();
    let v = explain(&app, access).await;
    assert_eq!(state(&v), "active", "{v}");
    assert_eq!(v["user"], "alice");
    let v = explain(&app, refresh).await;
    assert_eq!(state(&v), "active", "{v}");
    assert_eq!(v["kind"], "refresh_token");
    assert_eq!(v["user"], "alice");
    let v = explain(&app, id_token).await;
    assert_eq!(
        (state(&v), v["kind"].as_str()),
        ("active", Some("id_token"))
    );

    // Rotated: the old refresh token says it was replaced.
    let r = app
        .post(
            "/oauth2/token",
            &id,
            &secret,
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v = explain(&app, refresh).await;
    assert_eq!(state(&v), "rotated", "{v}");

    // The grant revoked by an administrator: who did it, and when.
    let grant = v["grant"]["id"].as_str().unwrap().to_owned();
    app.admin.revoke_grant(&grant, app.now()).await.unwrap();
    let v = explain(&app, access).await;
    assert_eq!(state(&v), "revoked", "{v}");
    assert!(v["reason"].as_str().unwrap().contains("by cli"), "{v}");
    assert_eq!(v["revoked_by"]["action"], "grant.revoke");
}

#[tokio::test]
async fn a_disabled_users_tokens_say_so_and_stay_dead_once_enabled() {
    let app = spawn_app().await;
    let (_, _, t) = user_tokens(&app).await;
    let access = t["access_token"].as_str().unwrap();
    app.admin
        .set_disabled("alice", true, app.now())
        .await
        .unwrap();
    let v = explain(&app, access).await;
    assert_eq!(state(&v), "user_disabled", "{v}");
    assert_eq!(v["revoked_by"]["action"], "user.disable");
    // Disabling revoked the grants: enabled again, the old tokens stay dead, and say why.
    app.admin
        .set_disabled("alice", false, app.now())
        .await
        .unwrap();
    let v = explain(&app, access).await;
    assert_eq!(state(&v), "revoked", "{v}");
    assert!(
        v["revoked_by"]["action"]
            .as_str()
            .unwrap()
            .starts_with("user."),
        "{v}"
    );
}

#[tokio::test]
async fn a_retired_key_is_named() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let token = app.token(&id, &secret).await;
    let kid = explain(&app, &token).await["key"]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    app.admin
        .revoke_key(&app.sealer, &kid, app.now())
        .await
        .unwrap();
    app.clock.advance(1);
    let v = explain(&app, &token).await;
    assert_eq!(state(&v), "key_retired", "{v}");
    assert_eq!(v["key"]["state"], "retired");
}

#[tokio::test]
async fn the_admin_api_explains_a_token_and_a_refused_request() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let (admin, admin_secret) = app.service(&["valet:admin"]).await;
    let admin_token = app.token(&admin, &admin_secret).await;
    let token = app.token(&id, &secret).await;
    let r = app
        .http
        .post(app.url("/admin/api/explain"))
        .bearer_auth(&admin_token)
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "active");

    let refused = app
        .post("/oauth2/token", &id, &secret, "grant_type=password")
        .await;
    assert_eq!(refused.status(), 400);
    let rid = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut v = Value::Null;
    for _ in 0..300 {
        let r = app
            .http
            .post(app.url("/admin/api/explain"))
            .bearer_auth(&admin_token)
            .json(&serde_json::json!({ "request_id": rid }))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            v = r.json().await.unwrap();
            break;
        }
        assert_eq!(r.status(), 404);
        // The audit writer stores rows in the background.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(v["state"], "refused", "{v}");
    assert_eq!(v["error"], "unauthorized_client");
    assert_eq!(v["route"], "/oauth2/token");
    assert_eq!(v["sent"]["parameters"]["grant_type"], "password");

    let r = app
        .http
        .post(app.url("/admin/api/explain"))
        .bearer_auth(&admin_token)
        .json(&serde_json::json!({ "token": "x", "request_id": "y" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
