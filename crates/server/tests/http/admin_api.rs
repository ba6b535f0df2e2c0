//! `/admin/api/clients`: guarded by Valet's own tokens with scope `valet:admin`.

use crate::harness::{spawn_app, spawn_sharing, spawn_with};
use serde_json::{Value, json};

#[tokio::test]
async fn admin_api_needs_an_admin_token() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/admin/api/clients"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    let (id, secret) = app.service(&[]).await;
    let plain = app.token(&id, &secret).await;
    let r = app
        .http
        .get(app.url("/admin/api/clients"))
        .bearer_auth(&plain)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("scope=\"valet:admin\"")
    );

    let r = app
        .http
        .get(app.url("/admin/api/clients"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A revoked admin token stops working.
    let (admin, admin_secret) = app.service(&["valet:admin"]).await;
    let token = app.token(&admin, &admin_secret).await;
    let r = app
        .http
        .get(app.url("/admin/api/clients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.post(
        "/oauth2/revoke",
        &admin,
        &admin_secret,
        &format!("token={token}"),
    )
    .await;
    let r = app
        .http
        .get(app.url("/admin/api/clients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn admin_api_manages_applications() {
    let app = spawn_app().await;
    let (admin, admin_secret) = app.service(&["valet:admin"]).await;
    let token = app.token(&admin, &admin_secret).await;
    let call = |m: reqwest_method::Method, path: &str| {
        app.http
            .request(m, app.url(&format!("/admin/api{path}")))
            .bearer_auth(&token)
    };

    let r = call(reqwest_method::Method::POST, "/clients")
        .json(&json!({"name": "Reports", "profile": "service"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let created: Value = r.json().await.unwrap();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43, "256-bit secret");
    assert_eq!(
        app.post(
            "/oauth2/token",
            &id,
            &secret,
            "grant_type=client_credentials"
        )
        .await
        .status(),
        200
    );

    let listed: Value = call(reqwest_method::Method::GET, "/clients")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == id.as_str())
    );
    assert!(
        !listed.to_string().contains(&secret),
        "secrets are shown once"
    );

    let r = call(reqwest_method::Method::PATCH, &format!("/clients/{id}"))
        .json(&json!({"name": "Reports v2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "Reports v2");
    let shown: Value = call(reqwest_method::Method::GET, &format!("/clients/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["name"], "Reports v2");

    // Bad input is a 400 that names the problem, and changes nothing.
    let r = call(reqwest_method::Method::POST, "/clients")
        .json(&json!({"name": "x", "profile": "web", "redirect_uris": ["http://evil.example/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("https"));
    let r = call(reqwest_method::Method::POST, "/clients")
        .json(&json!({"name": "x", "colour": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = call(reqwest_method::Method::POST, "/clients")
        .json(&json!({"name": "x", "profile": "service", "scopes": ["nope"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Rotation: the old secret stops at once on this node, the new one works.
    let rotated: Value = call(
        reqwest_method::Method::POST,
        &format!("/clients/{id}/secret"),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(
        app.post(
            "/oauth2/token",
            &id,
            &secret,
            "grant_type=client_credentials"
        )
        .await
        .status(),
        401
    );
    assert_eq!(
        app.post(
            "/oauth2/token",
            &id,
            new_secret,
            "grant_type=client_credentials"
        )
        .await
        .status(),
        200
    );

    let r = call(reqwest_method::Method::DELETE, &format!("/clients/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.post(
            "/oauth2/token",
            &id,
            new_secret,
            "grant_type=client_credentials"
        )
        .await
        .status(),
        401
    );
    let r = call(reqwest_method::Method::GET, &format!("/clients/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_secret_rotated_with_grace_keeps_the_old_one_for_a_while() {
    let app = spawn_app().await;
    let (id, old) = app.service(&[]).await;
    let rotated = app
        .admin
        .rotate_secret(&id, Some(60), app.now())
        .await
        .unwrap();
    let new = rotated.client_secret.unwrap().expose().to_owned();
    assert_eq!(
        app.post("/oauth2/token", &id, &old, "grant_type=client_credentials")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/oauth2/token", &id, &new, "grant_type=client_credentials")
            .await
            .status(),
        200
    );
    app.admin.rotate_secret(&id, None, app.now()).await.unwrap();
    assert_eq!(
        app.post("/oauth2/token", &id, &new, "grant_type=client_credentials")
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn a_change_made_elsewhere_holds_here_within_the_cache_bound() {
    // Node A caches applications for cache_ttl = 1 s of its clock; the CLI (or another
    // node) deletes one.
    let a = spawn_with(|mut p| {
        p.cache_ttl = Some(1);
        p
    })
    .await;
    let (id, secret) = a.service(&[]).await;
    assert_eq!(
        a.post(
            "/oauth2/token",
            &id,
            &secret,
            "grant_type=client_credentials"
        )
        .await
        .status(),
        200
    );
    let b = spawn_sharing(&a).await;
    b.admin.delete_client(&id, b.now()).await.unwrap();
    a.clock.advance(1);
    assert_eq!(
        a.post(
            "/oauth2/token",
            &id,
            &secret,
            "grant_type=client_credentials"
        )
        .await
        .status(),
        401
    );
}

mod reqwest_method {
    pub use oauth2::reqwest::Method;
}
