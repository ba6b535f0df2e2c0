//! Opaque access tokens (issue 6): chosen per application or per API, honoured by every
//! grant that returns an access token, stored only as a hash, live only while Valet says
//! so: introspection (RFC 7662), revocation (RFC 7009, at once), UserInfo, grant
//! revocation.

use serde_json::{Value, json};
use valet_protocol::application::{GrantType, Profile};
use valet_protocol::audience::ApiScope;
use valet_protocol::opaque_token::{AccessTokenFormat, PREFIX};
use valet_server::admin::NewClient;

use crate::flow::{PASSWORD, REDIRECT, param};
use crate::harness::{TestApp, spawn_app, spawn_sharing};

const VAULT: &str = "https://vault.example";

fn is_opaque(token: &str) -> bool {
    token.starts_with(PREFIX) && token.len() == PREFIX.len() + 43 && !token.contains('.')
}

fn is_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && !token.starts_with(PREFIX)
}

/// `https://vault.example`, an API whose tokens are opaque, with scope `vault:read`.
async fn opaque_api(app: &TestApp) {
    let scopes = vec![ApiScope {
        name: "vault:read".into(),
        description: "Read the vault".into(),
    }];
    app.admin
        .create_api(
            valet_server::admin::NewApi {
                name: None,
                audience: VAULT.into(),
                scopes,
                access_token_format: AccessTokenFormat::Opaque,
                introspectors: vec![],
                token_exchange: vec![],
            },
            app.now(),
        )
        .await
        .unwrap();
}

async fn client_credentials(app: &TestApp, id: &str, secret: &str, scope: &str) -> Value {
    let body = format!("grant_type=client_credentials&scope={scope}");
    let r = app.post("/oauth2/token", id, secret, &body).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn userinfo(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_service_gets_opaque_tokens_that_die_when_revoked() {
    let app = spawn_app().await;
    app.api().await;
    let (id, secret) = app
        .client(NewClient {
            name: "svc".into(),
            profile: Some(Profile::Service),
            scopes: Some(vec!["api:read".into()]),
            access_token_format: AccessTokenFormat::Opaque,
            ..Default::default()
        })
        .await;
    let t = client_credentials(&app, &id, &secret, "api:read").await;
    let token = t["access_token"].as_str().unwrap();
    assert!(is_opaque(token), "{token}");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 600);

    // RFC 7662 §2.2: the same members a JWT gets.
    let i = app.introspect(&id, &secret, token).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["scope"], "api:read");
    assert_eq!(i["client_id"], id.as_str());
    assert_eq!(i["sub"], id.as_str());
    assert_eq!(i["aud"], "https://api.example");
    assert_eq!(i["iss"], app.settings.issuer.as_str());
    assert_eq!(i["token_type"], "Bearer");
    assert_eq!(i["exp"].as_i64().unwrap() - i["iat"].as_i64().unwrap(), 600);

    // Stored only as a hash: the database files never hold the token's random part.
    let db = app.sqlite_path();
    let random = &token[PREFIX.len()..];
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&path) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(random), "the token is in {path}");
        }
    }

    // Another application cannot revoke it (200, nothing changes: docs/security.md L5).
    let (other, other_secret) = app.service(&[]).await;
    let r = app
        .post(
            "/oauth2/revoke",
            &other,
            &other_secret,
            &format!("token={token}"),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.introspect(&id, &secret, token).await["active"], true);

    // Its owner can, whatever the hint says, and it is inactive at once, on every node.
    let node_b = spawn_sharing(&app).await;
    assert_eq!(node_b.introspect(&id, &secret, token).await["active"], true);
    let r = app
        .post(
            "/oauth2/revoke",
            &id,
            &secret,
            &format!("token={token}&token_type_hint=refresh_token"),
        )
        .await;
    assert_eq!(r.status(), 200);
    for node in [&app, &node_b] {
        assert_eq!(
            node.introspect(&id, &secret, token).await,
            json!({"active": false})
        );
    }
    let r = app
        .post("/oauth2/revoke", &id, &secret, &format!("token={token}"))
        .await;
    assert_eq!(r.status(), 200);

    // Something shaped like an opaque token that Valet never issued is simply inactive.
    let forged = format!("{PREFIX}{}", "A".repeat(43));
    assert_eq!(
        app.introspect(&id, &secret, &forged).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn an_api_that_wants_opaque_tokens_gets_them_and_a_jwt_api_keeps_jwts() {
    let app = spawn_app().await;
    app.api().await;
    opaque_api(&app).await;
    let (id, secret) = app.service(&["api:read", "vault:read"]).await;
    let jwt = client_credentials(&app, &id, &secret, "api:read").await;
    let jwt = jwt["access_token"].as_str().unwrap();
    assert!(is_jwt(jwt), "{jwt}");
    let opaque = client_credentials(&app, &id, &secret, "vault:read").await;
    let opaque = opaque["access_token"].as_str().unwrap();
    assert!(is_opaque(opaque), "{opaque}");
    assert_eq!(app.introspect(&id, &secret, opaque).await["aud"], VAULT);
    // One API of the audience wanting opaque tokens is enough.
    let both = client_credentials(&app, &id, &secret, "api:read+vault:read").await;
    let both = both["access_token"].as_str().unwrap();
    assert!(is_opaque(both), "{both}");
    let aud = &app.introspect(&id, &secret, both).await["aud"];
    assert_eq!(aud, &json!(["https://api.example", VAULT]));
    for t in [jwt, opaque, both] {
        assert_eq!(app.introspect(&id, &secret, t).await["active"], true);
    }
}

#[tokio::test]
async fn the_admin_api_sets_the_format_and_refuses_unknown_ones() {
    let app = spawn_app().await;
    let (admin, admin_secret) = app.service(&["valet:admin"]).await;
    let admin_token = app.token(&admin, &admin_secret).await;
    let r = app
        .http
        .post(app.url("/admin/api/clients"))
        .bearer_auth(&admin_token)
        .json(&json!({"name": "S", "profile": "service", "access_token_format": "paper"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("access_token_format"));
    assert!(
        app.admin.list().await.unwrap().len() == 1,
        "nothing created"
    );

    let (id, secret) = app.service(&[]).await;
    assert!(is_jwt(&app.token(&id, &secret).await));
    let patch = |body: Value| {
        app.http
            .patch(app.url(&format!("/admin/api/clients/{id}")))
            .bearer_auth(&admin_token)
            .json(&body)
            .send()
    };
    let r = patch(json!({"access_token_format": "opaque"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["access_token_format"],
        "opaque"
    );
    assert!(is_opaque(&app.token(&id, &secret).await));
    let r = patch(json!({"access_token_format": "JWT"})).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(is_opaque(&app.token(&id, &secret).await), "unchanged");
    let r = patch(json!({"access_token_format": "jwt"})).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(is_jwt(&app.token(&id, &secret).await));
}

/// A web application with opaque tokens, allowed `api:read`, with `grants` on top of the
/// code flow.
async fn opaque_web_client(app: &TestApp, grants: &[GrantType]) -> (String, String) {
    let mut grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    grant_types.extend_from_slice(grants);
    app.client(NewClient {
        name: "Opaque Web".into(),
        profile: Some(Profile::Web),
        redirect_uris: vec![REDIRECT.into()],
        scopes: Some(vec!["openid".into(), "profile".into(), "api:read".into()]),
        grant_types: Some(grant_types),
        access_token_format: AccessTokenFormat::Opaque,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn the_code_flow_and_refresh_give_opaque_tokens_that_die_with_their_grant() {
    let app = spawn_app().await;
    app.api().await;
    let sub = app.user("alice").await;
    let (id, secret) = opaque_web_client(&app, &[]).await;
    let location = app
        .browser()
        .sign_in(&app, &app.authorize_url(&id, ""), "alice")
        .await;
    let code = param(&location, "code").unwrap();
    let body = format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}");
    let r = app.post("/oauth2/token", &id, &secret, &body).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let access = t["access_token"].as_str().unwrap().to_owned();
    assert!(is_opaque(&access), "{access}");
    assert!(
        is_jwt(t["id_token"].as_str().unwrap()),
        "ID tokens stay JWTs"
    );

    let i = app.introspect(&id, &secret, &access).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], sub.as_str());
    assert!(i["auth_time"].is_i64());
    // UserInfo takes the opaque token as a Bearer token.
    let r = userinfo(&app, &access).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["sub"], sub.as_str());

    // Refresh: a new opaque token of the same grant.
    let refresh = t["refresh_token"].as_str().unwrap();
    let body = format!("grant_type=refresh_token&refresh_token={refresh}");
    let r = app.post("/oauth2/token", &id, &secret, &body).await;
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    let second = refreshed["access_token"].as_str().unwrap().to_owned();
    assert!(is_opaque(&second) && second != access);
    assert_eq!(app.introspect(&id, &secret, &second).await["active"], true);

    // The code replayed: its grant is revoked, and both tokens with it.
    let r = app
        .post(
            "/oauth2/token",
            &id,
            &secret,
            &format!("grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}"),
        )
        .await;
    assert_eq!(r.status(), 400);
    for t in [&access, &second] {
        assert_eq!(
            app.introspect(&id, &secret, t).await,
            json!({"active": false})
        );
        assert_eq!(userinfo(&app, t).await.status(), 401);
    }
}

#[tokio::test]
async fn withdrawn_consent_and_a_revoked_refresh_token_end_opaque_tokens() {
    let app = spawn_app().await;
    app.api().await;
    app.user("alice").await;
    let (id, secret) = opaque_web_client(&app, &[GrantType::Password]).await;
    let password = |scope: &str| {
        format!(
            "grant_type=password&username=alice&password={}&scope={scope}",
            PASSWORD.replace(' ', "+")
        )
    };
    // The password grant honours the format too.
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let r = app
            .post("/oauth2/token", &id, &secret, &password("openid+api:read"))
            .await;
        assert_eq!(r.status(), 200);
        let t: Value = r.json().await.unwrap();
        let access = t["access_token"].as_str().unwrap().to_owned();
        assert!(is_opaque(&access));
        assert_eq!(app.introspect(&id, &secret, &access).await["active"], true);
        tokens.push((access, t["refresh_token"].as_str().unwrap().to_owned()));
    }
    // RFC 7009 §2.1 (checklist L7): revoking a refresh token ends its grant's access tokens.
    let (first_access, first_refresh) = &tokens[0];
    let r = app
        .post(
            "/oauth2/revoke",
            &id,
            &secret,
            &format!("token={first_refresh}"),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.introspect(&id, &secret, first_access).await["active"],
        false
    );
    assert_eq!(
        app.introspect(&id, &secret, &tokens[1].0).await["active"],
        true
    );
    // An admin revoking the application's grants ends the rest.
    app.admin.revoke_grants(&id, app.now()).await.unwrap();
    assert_eq!(
        app.introspect(&id, &secret, &tokens[1].0).await["active"],
        false
    );
}

#[tokio::test]
async fn the_implicit_token_response_is_opaque_too() {
    let app = spawn_app().await;
    app.api().await;
    app.user("alice").await;
    let (id, secret) = opaque_web_client(&app, &[GrantType::Implicit]).await;
    let url = app.url(&format!(
        "/oauth2/authorize?client_id={id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
         &response_type=id_token+token&scope=openid+api%3Aread&state=s&nonce=n"
    ));
    let location = app.browser().sign_in(&app, &url, "alice").await;
    let access = param(&location, "access_token").unwrap();
    assert!(is_opaque(&access), "{location}");
    assert_eq!(param(&location, "token_type").as_deref(), Some("Bearer"));
    assert!(is_jwt(&param(&location, "id_token").unwrap()));
    let i = app.introspect(&id, &secret, &access).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["scope"], "openid api:read");
    assert_eq!(userinfo(&app, &access).await.status(), 200);
}
