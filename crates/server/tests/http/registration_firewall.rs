//! The registration firewall (issue 14): identical registrations deduplicated, per-address
//! throttling with 429 and `Retry-After`, bounded storage under a flood of 10,000
//! requests, expiry of unused registrations on the test clock, quarantine until approval.

use serde_json::{Value, json};
use std::sync::Arc;
use valet_server::config::Partial;
use valet_store::TOUCH_INTERVAL;

use crate::harness::{TestApp, assert_oauth_error, spawn_app, spawn_with};
use crate::registration::mcp_body;

const PER_ADDRESS: usize = 20;

fn numbered(i: usize) -> Value {
    let mut b = mcp_body();
    b["client_name"] = json!(format!("Agent {i}"));
    b
}

async fn count(app: &TestApp) -> usize {
    app.store.clients().await.unwrap().len()
}

#[tokio::test]
async fn an_identical_registration_from_the_same_address_returns_the_same_client() {
    let app = spawn_app().await;
    let first = app.registered(&mcp_body(), None).await;
    let again = app.registered(&mcp_body(), None).await;
    assert_eq!(first["client_id"], again["client_id"]);
    assert_eq!(first["client_id_issued_at"], again["client_id_issued_at"]);
    assert_ne!(
        first["registration_access_token"],
        again["registration_access_token"]
    );
    // The fresh token is the one that works now.
    let old = first["registration_access_token"].as_str().unwrap();
    let new = again["registration_access_token"].as_str().unwrap();
    let r = app.configure(reqwest::Method::GET, &first, old, None).await;
    assert_oauth_error(r, 401, "invalid_token").await;
    let r = app.configure(reqwest::Method::GET, &first, new, None).await;
    assert_eq!(r.status(), 200);
    // Other metadata: another client. Past the window: another client.
    let other = app.registered(&numbered(1), None).await;
    assert_ne!(other["client_id"], first["client_id"]);
    app.clock.advance(86_400);
    let later = app.registered(&mcp_body(), None).await;
    assert_ne!(later["client_id"], first["client_id"]);
    assert_eq!(count(&app).await, 3);
}

#[tokio::test]
async fn concurrent_identical_registrations_store_one_row() {
    let app = Arc::new(spawn_app().await);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.registered(&mcp_body(), None).await["client_id"].clone()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    assert_eq!(count(&app).await, 1);
}

#[tokio::test]
async fn registrations_are_throttled_per_address_with_retry_after() {
    let app = spawn_app().await;
    for i in 0..PER_ADDRESS {
        app.registered(&numbered(i), None).await;
    }
    let r = app.register(&numbered(99), None).await;
    assert_eq!(r.status(), 429);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 3600, "{retry}");
    assert_eq!(count(&app).await, PER_ADDRESS);
    // The window ends by itself.
    app.clock.advance(retry);
    app.registered(&numbered(100), None).await;
}

#[tokio::test]
async fn a_flood_of_ten_thousand_registrations_stays_bounded() {
    let app = Arc::new(spawn_app().await);
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            for i in (worker..10_000).step_by(8) {
                let r = app.register(&numbered(i), None).await;
                *statuses.entry(r.status().as_u16()).or_default() += 1;
            }
            statuses
        }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *statuses.entry(k).or_default() += v;
        }
    }
    assert_eq!(statuses.values().sum::<usize>(), 10_000);
    assert_eq!(
        statuses.get(&201).copied(),
        Some(PER_ADDRESS),
        "{statuses:?}"
    );
    assert_eq!(statuses.get(&429).copied(), Some(10_000 - PER_ADDRESS));
    assert_eq!(count(&app).await, PER_ADDRESS);
    // Still serving.
    let r = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn unused_registrations_expire_on_the_test_clock() {
    let app = spawn_app().await;
    let idle = app.registered(&numbered(1), None).await;
    let used = app.registered(&numbered(2), None).await;
    let used_id = used["client_id"].as_str().unwrap();
    let admin = app.web_client().await.0;
    let record = app.store.client(used_id).await.unwrap().unwrap();
    let ttl = app.settings.registration.clone();
    valet_server::registration::record_use(app.store.as_ref(), &ttl, &record.app, app.now())
        .await
        .unwrap();
    // A use within the hour writes nothing more.
    assert!(
        !app.store
            .touch_registration(used_id, app.now() + 60, app.now() + 1, TOUCH_INTERVAL)
            .await
            .unwrap()
    );
    app.clock.advance(ttl.idle_ttl + 1);
    app.store.purge_expired(app.now(), 100).await.unwrap();
    assert!(
        app.store
            .client(idle["client_id"].as_str().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(app.store.client(used_id).await.unwrap().is_some());
    assert!(app.store.client(&admin).await.unwrap().is_some());
    // Its token dies with it.
    let token = idle["registration_access_token"].as_str().unwrap();
    let r = app
        .configure(reqwest::Method::GET, &idle, token, None)
        .await;
    assert_oauth_error(r, 401, "invalid_token").await;
    app.clock.advance(ttl.unused_ttl);
    app.store.purge_expired(app.now(), 100).await.unwrap();
    assert!(app.store.client(used_id).await.unwrap().is_none());
    assert!(
        app.store.client(&admin).await.unwrap().is_some(),
        "admin's never expire"
    );
}

#[tokio::test]
async fn quarantined_registrations_are_unusable_until_an_admin_approves() {
    let app = spawn_with(|p| Partial {
        registration_quarantine: Some(true),
        ..p
    })
    .await;
    app.user("alice").await;
    let reg = app.registered(&mcp_body(), None).await;
    let id = reg["client_id"].as_str().unwrap().to_owned();
    let url = app.url(&format!(
        "/oauth2/authorize?client_id={id}&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback\
         &response_type=code&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256"
    ));
    let browser = app.browser();
    let p = browser.get(&url).await;
    assert_eq!(p.status, 400);
    assert!(p.location().is_none(), "never a redirect");
    assert!(p.body.contains("approval"), "{}", p.body);
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("code", "x"),
            ("code_verifier", "v"),
        ])
        .send()
        .await
        .unwrap();
    let e = assert_oauth_error(r, 400, "unauthorized_client").await;
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("approval")
    );

    let listed = app
        .admin
        .list_by_origin(Some(valet_protocol::application::Origin::Dynamic))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    app.admin
        .approve_client(&id, app.settings.registration.unused_ttl, app.now())
        .await
        .unwrap();
    app.admin.verify_client(&id, app.now()).await.unwrap();
    let c = app.store.client(&id).await.unwrap().unwrap();
    assert!(!c.app.registration.quarantined && c.app.registration.verified);
    assert!(!c.app.trusted, "verified never means trusted");
    let p = browser.get(&url).await;
    assert_eq!(p.status, 200, "the login page");
    // Admin-registered applications have nothing to approve.
    let (web, _) = app.web_client().await;
    assert!(app.admin.approve_client(&web, 1, app.now()).await.is_err());
}
