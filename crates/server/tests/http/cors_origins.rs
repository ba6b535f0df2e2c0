//! CORS origins looked up by key (issue 17, item 1): an application's origins are accepted
//! and refused as it is created, changed and deleted, at once through this node and within
//! `cache_ttl` when the change is made elsewhere (the CLI, another node), on the node's
//! clock; answers yes and no alike are kept that long.

use serde_json::{Value, json};
use valet_server::admin::NewClient;

use crate::harness::{TestApp, spawn_with};

const TTL: i64 = 5;

async fn caching() -> TestApp {
    spawn_with(|mut p| {
        p.cache_ttl = Some(TTL);
        p
    })
    .await
}

/// Whether a preflight of the token endpoint from `origin` is answered with CORS.
async fn allowed(app: &TestApp, origin: &str) -> bool {
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/oauth2/token"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    match r.headers().get("access-control-allow-origin") {
        Some(v) => {
            assert_eq!(v, origin);
            true
        }
        None => false,
    }
}

fn spa(redirect: &str) -> NewClient {
    NewClient {
        name: "SPA".into(),
        profile: Some(valet_protocol::application::Profile::Spa),
        redirect_uris: vec![redirect.into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn origins_changed_elsewhere_hold_here_within_the_cache_bound() {
    let app = caching().await;
    let origin = "https://new.example";
    // Not an application's yet: refused, and the answer is kept.
    assert!(!allowed(&app, origin).await);
    // Created by the CLI (or another node): this node's "no" stands for up to the ttl…
    let (id, _) = app.client(spa("https://new.example/cb")).await;
    assert!(!allowed(&app, origin).await);
    app.clock.advance(TTL - 1);
    assert!(!allowed(&app, origin).await);
    // …and no longer.
    app.clock.advance(1);
    assert!(allowed(&app, origin).await);

    // Deleted elsewhere: still allowed within the ttl of the answer, refused after.
    app.admin.delete_client(&id, app.now()).await.unwrap();
    assert!(allowed(&app, origin).await);
    app.clock.advance(TTL - 1);
    assert!(allowed(&app, origin).await);
    app.clock.advance(1);
    assert!(!allowed(&app, origin).await);
}

#[tokio::test]
async fn origins_changed_through_this_node_hold_at_once() {
    let app = caching().await;
    let (admin, secret) = app.service(&["valet:admin"]).await;
    let token = app.token(&admin, &secret).await;
    let call = |m: reqwest::Method, path: &str| {
        app.http
            .request(m, app.url(&format!("/admin/api/clients{path}")))
            .bearer_auth(&token)
    };
    let (first, second) = ("https://one.example", "https://two.example");
    assert!(!allowed(&app, first).await);
    assert!(!allowed(&app, second).await);

    let r = call(reqwest::Method::POST, "")
        .json(&json!({"name": "SPA", "profile": "spa",
                      "redirect_uris": ["https://one.example/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        allowed(&app, first).await,
        "a new application's origin, at once"
    );

    // A new redirect URI: the new origin at once, the old one no longer.
    let r = call(reqwest::Method::PATCH, &format!("/{id}"))
        .json(&json!({"redirect_uris": ["https://two.example/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(allowed(&app, second).await);
    assert!(!allowed(&app, first).await);

    let r = call(reqwest::Method::DELETE, &format!("/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        !allowed(&app, second).await,
        "a deleted application's, at once"
    );
}
