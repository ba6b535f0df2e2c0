//! Issue 15: every resource through the admin API — applications, APIs and scopes, users,
//! keys, grants, the audit trail — with per-field errors, ETags, pagination, roles, and
//! the OpenAPI document that describes it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use valet_store::{AuditQuery, Role};

use crate::flow::{PASSWORD, REDIRECT};
use crate::harness::{TestApp, spawn_app};

/// An admin token, and a helper to call the API with it.
struct Api<'a> {
    app: &'a TestApp,
    token: String,
    client_id: String,
}

impl<'a> Api<'a> {
    async fn new(app: &'a TestApp) -> Api<'a> {
        let (id, secret) = app.service(&["valet:admin"]).await;
        let token = app.token(&id, &secret).await;
        Api {
            app,
            token,
            client_id: id,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut r = self
            .app
            .http
            .request(method, self.app.url(&format!("/admin/api{path}")))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let r = self.call(method, path, body).await;
        let status = r.status();
        let v = r.json().await.unwrap_or(Value::Null);
        (status, v)
    }
}

/// The audit events of `target`, newest first, once the writer has stored them.
async fn audited(app: &TestApp, target: &str, action: &str) -> Vec<valet_store::AuditRecord> {
    for _ in 0..200 {
        let found = app
            .store
            .audit_events(&AuditQuery {
                target: Some(target.into()),
                action: Some(action.into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        if !found.is_empty() {
            return found;
        }
        // Security events are written by a background task; this waits for that write,
        // never for a clock.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no {action} event for {target}");
}

#[tokio::test]
async fn applications_change_field_by_field_with_etags_and_an_audit_record() {
    let app = spawn_app().await;
    let api = Api::new(&app).await;
    let (id, _) = app.web_client().await;

    let r = api.call(Method::GET, &format!("/clients/{id}"), None).await;
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    // Add one redirect URI and remove the first, in one PATCH, against that version.
    let r = app
        .http
        .patch(app.url(&format!("/admin/api/clients/{id}")))
        .bearer_auth(&api.token)
        .header("if-match", &etag)
        .json(&json!({
            "name": "Renamed",
            "add_redirect_uris": ["https://app.example/cb2"],
            "remove_redirect_uris": [REDIRECT],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let new_etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["redirect_uris"], json!(["https://app.example/cb2"]));
    assert_eq!(v["name"], "Renamed");

    // The same old version again: someone changed it meanwhile.
    let r = app
        .http
        .patch(app.url(&format!("/admin/api/clients/{id}")))
        .bearer_auth(&api.token)
        .header("if-match", &etag)
        .json(&json!({ "name": "Lost update" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let stored = app.admin.get(&id).await.unwrap().app;
    assert_eq!(stored.name, "Renamed", "nothing changed");

    // A value that breaks a rule names its field, and changes nothing.
    let (status, v) = api
        .json(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "redirect_uris": ["http://app.example/cb"] })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(v["fields"]["redirect_uris"].is_string(), "{v}");
    let (status, v) = api
        .json(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "scopes": ["openid", "no.such.scope"] })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        v["fields"]["scopes"]
            .as_str()
            .unwrap()
            .contains("no.such.scope"),
        "{v}"
    );
    let (status, _) = api
        .json(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "remove_redirect_uris": ["https://not.there/cb"] })),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        app.admin.get(&id).await.unwrap().app.redirect_uris,
        ["https://app.example/cb2"]
    );

    // The audit record: who, what, field by field.
    let events = audited(&app, &format!("client:{id}"), "client.update").await;
    assert_eq!(events.len(), 1, "refused changes leave no record");
    let e = &events[0];
    assert_eq!(e.actor, format!("client:{}", api.client_id));
    assert!(e.address.is_some());
    let changes: Value = serde_json::from_str(&e.changes).unwrap();
    assert_eq!(
        changes,
        json!({
            "name": { "from": "Web App", "to": "Renamed" },
            "redirect_uris": { "from": [REDIRECT], "to": ["https://app.example/cb2"] },
        })
    );

    // A rotated secret is audited without its value.
    let (status, v) = api
        .json(Method::POST, &format!("/clients/{id}/secret"), None)
        .await;
    assert_eq!(status, 200);
    let secret = v["client_secret"].as_str().unwrap().to_owned();
    let e = &audited(&app, &format!("client:{id}"), "client.rotate_secret").await[0];
    assert!(!e.changes.contains(&secret));
    assert!(e.changes.contains("[hidden]"));
}

#[tokio::test]
async fn lists_are_paginated_with_a_link_to_the_next_page() {
    let app = spawn_app().await;
    let api = Api::new(&app).await;
    for _ in 0..4 {
        app.web_client().await;
    }
    // Five applications (the admin's service included), two per page.
    let mut seen = Vec::new();
    let mut next = Some("/admin/api/clients?limit=2".to_owned());
    while let Some(path) = next {
        let r = app
            .http
            .get(app.url(&path))
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with("rel=\"next\""), "{l}");
            l[1..l.find('>').unwrap()].to_owned()
        });
        let page: Vec<Value> = r.json().await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.into_iter().map(|a| a["client_id"].clone()));
    }
    assert_eq!(seen.len(), 5);
    seen.dedup();
    assert_eq!(seen.len(), 5, "no application twice");
    let (status, _) = api.json(Method::GET, "/clients?limit=0", None).await;
    assert_eq!(status, 400);
    let (status, _) = api
        .json(Method::GET, "/clients?limit=2&limit=3", None)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn disabling_a_user_ends_their_tokens_and_sessions_at_once() {
    let app = spawn_app().await;
    let api = Api::new(&app).await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let b = app.browser();
    let location = b.sign_in(&app, &app.authorize_url(&id, ""), "alice").await;
    let t: Value = app
        .redeem(&id, &secret, &location)
        .await
        .json()
        .await
        .unwrap();
    let access = t["access_token"].as_str().unwrap();
    let refresh = t["refresh_token"].as_str().unwrap();
    assert_eq!(app.introspect(&id, &secret, access).await["active"], true);
    let (_, sessions) = api.json(Method::GET, "/users/alice/sessions", None).await;
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    assert!(sessions[0].get("id_hash").is_none(), "never the session id");

    let (status, v) = api.json(Method::POST, "/users/alice/disable", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["disabled"], true);
    assert!(v.get("password_hash").is_none());
    assert_eq!(app.introspect(&id, &secret, access).await["active"], false);
    assert_eq!(app.introspect(&id, &secret, refresh).await["active"], false);
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, sessions) = api.json(Method::GET, "/users/alice/sessions", None).await;
    assert_eq!(sessions, json!([]));
    // Enabled again: she can sign in, but what she held before stays ended.
    api.json(Method::POST, "/users/alice/enable", None).await;
    assert_eq!(app.introspect(&id, &secret, refresh).await["active"], false);
    let b = app.browser();
    b.sign_in(&app, &app.authorize_url(&id, ""), "alice").await;
    let e = &audited(&app, "user:alice", "user.disable").await[0];
    assert_eq!(
        serde_json::from_str::<Value>(&e.changes).unwrap()["disabled"],
        json!({ "from": false, "to": true })
    );
}

#[tokio::test]
async fn users_are_created_changed_and_deleted_through_the_api() {
    let app = spawn_app().await;
    let api = Api::new(&app).await;
    let (status, v) = api
        .json(
            Method::POST,
            "/users",
            Some(json!({ "username": "bob", "password": PASSWORD, "email": "bob@example.com" })),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["username"], "bob");
    assert!(!v.to_string().contains(PASSWORD));
    let (status, v) = api
        .json(
            Method::POST,
            "/users",
            Some(json!({ "username": "weak", "password": "short" })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(v["fields"]["password"].is_string(), "{v}");
    // Role and claims; a new address is not verified unless said so.
    let (status, v) = api
        .json(
            Method::PATCH,
            "/users/bob",
            Some(json!({ "role": "viewer", "email": "robert@example.com", "name": "Robert" })),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["role"], "viewer");
    assert_eq!(v["email_verified"], false);
    assert_eq!(
        app.store
            .user_by_username("bob")
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Viewer
    );
    let (status, _) = api
        .json(Method::PATCH, "/users/bob", Some(json!({ "role": "root" })))
        .await;
    assert_eq!(status, 400);
    let (status, _) = api
        .json(
            Method::POST,
            "/users/bob/password",
            Some(json!({ "password": "another good long password" })),
        )
        .await;
    assert_eq!(status, 200);
    let e = &audited(&app, "user:bob", "user.set_password").await[0];
    assert!(!e.changes.contains("another good long password"));
    let r = api.call(Method::DELETE, "/users/bob", None).await;
    assert_eq!(r.status(), 204);
    let (status, _) = api.json(Method::GET, "/users/bob", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_viewer_session_reads_and_cannot_change() {
    let app = spawn_app().await;
    app.user("vera").await;
    app.admin
        .update_user(
            "vera",
            valet_server::admin::UserChanges {
                role: Some(Role::Viewer),
                ..Default::default()
            },
            None,
            app.now(),
        )
        .await
        .unwrap();
    app.user("nobody").await;
    let (web, _) = app.web_client().await;

    // With an authenticator app, so that her session has the two factors administration
    // needs.
    let secret = crate::console::authenticator(&app, "vera").await.unwrap();
    let vera = app.browser();
    let login = vera.get(&app.authorize_url(&web, "")).await;
    let step = vera
        .login(&app, &login, "vera", crate::flow::PASSWORD)
        .await;
    crate::mfa::align(&app);
    let code = crate::mfa::code(&app, &secret, 0);
    crate::mfa::to_redirect(&app, &vera, vera.submit_code(&app, &step, &code).await).await;
    let r = vera
        .http
        .get(app.url("/admin/api/clients"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a viewer reads");
    let r = vera
        .http
        .delete(app.url(&format!("/admin/api/clients/{web}")))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a viewer does not change");
    assert!(app.admin.get(&web).await.is_ok());

    // A user without a role reads nothing.
    let nobody = app.browser();
    nobody
        .sign_in(&app, &app.authorize_url(&web, ""), "nobody")
        .await;
    let r = nobody
        .http
        .get(app.url("/admin/api/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // An admin's session changes things only with the session's CSRF token, from this
    // origin: the cookie alone (a cross-site request) is refused.
    app.admin
        .update_user(
            "vera",
            valet_server::admin::UserChanges {
                role: Some(Role::Admin),
                ..Default::default()
            },
            None,
            app.now(),
        )
        .await
        .unwrap();
    let r = vera
        .http
        .delete(app.url(&format!("/admin/api/clients/{web}")))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = vera
        .http
        .delete(app.url(&format!("/admin/api/clients/{web}")))
        .header("sec-fetch-site", "same-origin")
        .header("x-csrf-token", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(app.admin.get(&web).await.is_ok(), "nothing changed");
}

#[tokio::test]
async fn api_scopes_are_added_and_removed_with_their_applications_spelled_out() {
    let app = spawn_app().await;
    let api = Api::new(&app).await;
    app.api().await; // https://api.example: api:read, api:write
    let (svc, _) = app.service(&["api:read"]).await;
    let aud = "https%3A%2F%2Fapi.example";
    let (status, v) = api
        .json(
            Method::POST,
            &format!("/apis/{aud}/scopes"),
            Some(json!({ "name": "api:admin", "description": "Administer" })),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["scopes"].as_array().unwrap().len(), 3);
    // Held by an application: refused, naming it; forced, taken from it too.
    let (status, v) = api
        .json(
            Method::DELETE,
            &format!("/apis/{aud}/scopes/api:read"),
            None,
        )
        .await;
    assert_eq!(status, 409);
    assert!(v["error_description"].as_str().unwrap().contains(&svc));
    let (status, _) = api
        .json(
            Method::DELETE,
            &format!("/apis/{aud}/scopes/api:read?force=true"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(app.admin.get(&svc).await.unwrap().app.scopes.is_empty());
    audited(&app, &format!("client:{svc}"), "client.update").await;
    audited(&app, "api:https://api.example", "api.scope.remove").await;
    // Descriptions change in place.
    let (status, v) = api
        .json(
            Method::PATCH,
            &format!("/apis/{aud}"),
            Some(
                json!({ "name": "The API", "scope_descriptions": { "api:write": "Write it all" } }),
            ),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["name"], "The API");
}

#[tokio::test]
async fn an_emergency_key_revocation_unpublishes_it_and_signs_with_a_new_key() {
    let app = spawn_app().await;
    let api = Api::new(&app).await;
    let (id, secret) = app.service(&[]).await;
    let old_token = app.token(&id, &secret).await;
    let (_, keys) = api.json(Method::GET, "/keys", None).await;
    let es = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["alg"] == "ES256" && k["state"] == "signing")
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, keys) = api
        .json(Method::POST, &format!("/keys/{es}/revoke"), None)
        .await;
    assert_eq!(status, 200, "{keys}");
    let states: Vec<(String, String)> = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == "ES256")
        .map(|k| {
            (
                k["kid"].as_str().unwrap().into(),
                k["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        states.contains(&(es.clone(), "retired".into())),
        "{states:?}"
    );
    assert!(
        states.iter().any(|(k, s)| *k != es && s == "signing"),
        "{states:?}"
    );
    // At once on this node: not in the JWKS, its tokens dead, new tokens from the new key.
    let jwks = app.jwks().await;
    assert!(!jwks.to_string().contains(&es));
    assert_eq!(
        app.introspect(&id, &secret, &old_token).await["active"],
        false
    );
    let fresh = app.token(&id, &secret).await;
    assert_eq!(app.introspect(&id, &secret, &fresh).await["active"], true);
    // The admin's own token was signed by that key too: it needs a new one.
    let (status, _) = api
        .json(Method::POST, &format!("/keys/{es}/revoke"), None)
        .await;
    assert_eq!(status, 401, "the old admin token died with its key");
    let api = Api::new(&app).await;
    let (status, _) = api
        .json(Method::POST, &format!("/keys/{es}/revoke"), None)
        .await;
    assert_eq!(status, 400, "already retired");
    audited(&app, &format!("key:{es}"), "key.revoke").await;
}

#[tokio::test]
async fn grants_are_listed_by_user_and_revoked_one_by_one() {
    let app = spawn_app().await;
    let api = Api::new(&app).await;
    app.user("alice").await;
    let (a, a_secret) = app.web_client().await;
    let (b, _) = app.web_client().await;
    for client in [&a, &b] {
        let br = app.browser();
        let location = br
            .sign_in(&app, &app.authorize_url(client, ""), "alice")
            .await;
        if client == &a {
            let t: Value = app
                .redeem(&a, &a_secret, &location)
                .await
                .json()
                .await
                .unwrap();
            let refresh = t["refresh_token"].as_str().unwrap().to_owned();
            let (_, grants) = api
                .json(
                    Method::GET,
                    &format!("/grants?username=alice&client_id={a}"),
                    None,
                )
                .await;
            let grant = grants[0]["grant_id"].as_str().unwrap().to_owned();
            let r = api
                .call(Method::DELETE, &format!("/grants/{grant}"), None)
                .await;
            assert_eq!(r.status(), 204);
            assert_eq!(
                app.introspect(&a, &a_secret, &refresh).await["active"],
                false
            );
        }
    }
    let (_, grants) = api.json(Method::GET, "/users/alice/grants", None).await;
    let clients: Vec<&str> = grants
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(clients, [b.as_str()], "the revoked grant is no longer live");
}

#[tokio::test]
async fn the_audit_trail_holds_security_events_and_exports_json_lines() {
    let app = spawn_app().await;
    let api = Api::new(&app).await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    assert!(login.body.contains("name=\"password\""), "the login page");
    b.login(&app, &login, "alice", "wrong password").await;
    let e = &audited(&app, "user:alice", "signin.failed").await[0];
    assert_eq!(e.actor, "anonymous");
    assert!(!e.changes.contains("wrong password"));

    let r = api
        .call(Method::GET, "/audit?format=jsonl&action=signin.", None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/jsonl");
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        for k in ["at", "actor", "action", "target", "changes"] {
            assert!(l.get(k).is_some(), "{k} in {l}");
        }
    }
    let (status, _) = api.json(Method::GET, "/audit?since=yesterday", None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/admin/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/admin/api/clients", &["get", "post"][..]),
        (
            "/admin/api/clients/{client_id}",
            &["get", "patch", "delete"],
        ),
        ("/admin/api/clients/{client_id}/secret", &["post"]),
        ("/admin/api/clients/{client_id}/grants", &["get", "delete"]),
        ("/admin/api/apis/{audience}/scopes/{name}", &["delete"]),
        ("/admin/api/users/{username}", &["get", "patch", "delete"]),
        ("/admin/api/users/{username}/password", &["post"]),
        ("/admin/api/keys/{kid}/revoke", &["post"]),
        ("/admin/api/grants", &["get"]),
        ("/admin/api/audit", &["get"]),
    ] {
        for m in methods {
            assert!(paths[path].get(*m).is_some(), "{m} {path}");
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "Application",
        "ClientChanges",
        "UserView",
        "ErrorBody",
        "AuditEvent",
    ] {
        assert!(schemas.contains_key(s), "{s}");
    }
    assert!(!schemas["UserView"].to_string().contains("password_hash"));
}

#[tokio::test]
async fn an_application_may_have_shorter_token_lifetimes_never_longer() {
    let app = spawn_app().await;
    let api = Api::new(&app).await;
    let (id, secret) = app.service(&[]).await;
    assert_eq!(
        expires_in(&app, &id, &secret).await,
        app.settings.access_token_ttl
    );
    let (status, v) = api
        .json(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "access_token_ttl": 60 })),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(expires_in(&app, &id, &secret).await, 60);
    // Longer than the server's: the server's (revocations are remembered that long).
    app.admin
        .update_client(
            &id,
            valet_server::admin::ClientChanges {
                access_token_ttl: Some(app.settings.access_token_ttl * 10),
                ..Default::default()
            },
            None,
            app.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        expires_in(&app, &id, &secret).await,
        app.settings.access_token_ttl
    );
    let (status, v) = api
        .json(
            Method::PATCH,
            &format!("/clients/{id}"),
            Some(json!({ "access_token_ttl": 3 })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(v["fields"]["access_token_ttl"].is_string(), "{v}");
    // 0: back to the server's.
    api.json(
        Method::PATCH,
        &format!("/clients/{id}"),
        Some(json!({ "access_token_ttl": 0 })),
    )
    .await;
    assert!(
        app.admin
            .get(&id)
            .await
            .unwrap()
            .app
            .access_token_ttl
            .is_none()
    );
}

async fn expires_in(app: &TestApp, id: &str, secret: &str) -> i64 {
    let r = app
        .post("/oauth2/token", id, secret, "grant_type=client_credentials")
        .await;
    r.json::<Value>().await.unwrap()["expires_in"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn an_admin_cannot_lock_themselves_out() {
    let app = spawn_app().await;
    app.user("root").await;
    let me = valet_server::admin::Admin::new(
        app.store.clone(),
        app.admin.hasher.clone(),
        valet_server::admin::Actor::user("root", None),
    );
    app.admin
        .update_user(
            "root",
            valet_server::admin::UserChanges {
                role: Some(Role::Admin),
                ..Default::default()
            },
            None,
            app.now(),
        )
        .await
        .unwrap();
    for ch in [
        valet_server::admin::UserChanges {
            role: Some(Role::Viewer),
            ..Default::default()
        },
        valet_server::admin::UserChanges {
            disabled: Some(true),
            ..Default::default()
        },
    ] {
        assert!(me.update_user("root", ch, None, app.now()).await.is_err());
    }
    assert!(me.delete_user("root", app.now()).await.is_err());
    let u = app.store.user_by_username("root").await.unwrap().unwrap();
    assert_eq!(
        (u.role, u.disabled),
        (Role::Admin, false),
        "nothing changed"
    );
    // Another admin (the CLI here) can.
    app.admin
        .set_disabled("root", true, app.now())
        .await
        .unwrap();
}
