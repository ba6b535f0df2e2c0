//! `/admin/api/clients/{id}/verify`, `/approve` and `/quarantine` (issue 14): the admin
//! API's side of the registration firewall, the same as `valet client verify`, `approve`
//! and `quarantine`, visible at once on the node that made the change.

use serde_json::Value;
use valet_protocol::application::{Origin, Registration};
use valet_server::config::Partial;

use crate::harness::{TestApp, spawn_with};

/// A node that caches applications long enough that only `forget_client` makes a change
/// visible within the test.
async fn caching() -> TestApp {
    spawn_with(|p| Partial {
        cache_ttl: Some(300),
        ..p
    })
    .await
}

/// A web application whose stored registration says it registered itself.
async fn self_registered(app: &TestApp, quarantined: bool) -> String {
    let (id, _) = app.web_client().await;
    let mut record = app.store.client(&id).await.unwrap().unwrap();
    record.app.registration = Registration {
        origin: Origin::Dynamic,
        quarantined,
        ..Default::default()
    };
    assert!(app.store.update_client(&record).await.unwrap());
    id
}

async fn admin_post(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn admin_token(app: &TestApp) -> String {
    let (admin, secret) = app.service(&["valet:admin"]).await;
    app.token(&admin, &secret).await
}

#[tokio::test]
async fn admin_api_verify_takes_the_warning_off_the_consent_page_at_once() {
    let app = caching().await;
    app.user("alice").await;
    let id = self_registered(&app, false).await;
    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    let consent = b.login(&app, &login, "alice", crate::flow::PASSWORD).await;
    assert_eq!(consent.status, 200);
    assert!(consent.body.contains("Not verified by your administrator"));

    // Only an admin token may.
    let (plain, plain_secret) = app.service(&[]).await;
    let plain = app.token(&plain, &plain_secret).await;
    let path = format!("/admin/api/clients/{id}/verify");
    assert_eq!(admin_post(&app, &plain, &path).await.status(), 403);
    let r = app.http.post(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let token = admin_token(&app).await;
    let r = admin_post(&app, &token, &path).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["client_id"], id.as_str());
    assert_eq!(body["registration"]["origin"], "dynamic");
    assert_eq!(body["registration"]["verified"], true);
    assert_eq!(body["trusted"], false, "verified never means trusted");
    assert!(body.get("client_secret").is_none());

    // The same node, whose cache held the unverified registration.
    let asked = b.get(&app.authorize_url(&id, "&prompt=consent")).await;
    assert_eq!(asked.status, 200);
    assert!(
        !asked.body.contains("Not verified by your administrator"),
        "{}",
        asked.body
    );
    assert!(asked.body.contains("<code>app.example</code>"));

    // Unknown clients are 404; an admin's own registration has nothing to verify.
    let r = admin_post(&app, &token, "/admin/api/clients/nosuchclient/verify").await;
    assert_eq!(r.status(), 404);
    let (web, _) = app.web_client().await;
    let r = admin_post(&app, &token, &format!("/admin/api/clients/{web}/verify")).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn admin_api_approve_and_quarantine_take_effect_at_once() {
    let app = caching().await;
    let id = self_registered(&app, true).await;
    let url = app.authorize_url(&id, "");
    let b = app.browser();
    let p = b.get(&url).await;
    assert_eq!(p.status, 400, "quarantined");
    assert!(p.location().is_none());

    let token = admin_token(&app).await;
    let r = admin_post(&app, &token, &format!("/admin/api/clients/{id}/approve")).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["client_id"], id.as_str());
    assert!(body["registration"].get("quarantined").is_none(), "{body}");
    assert_eq!(b.get(&url).await.status, 200, "the login page");
    assert!(
        !app.store
            .client(&id)
            .await
            .unwrap()
            .unwrap()
            .app
            .registration
            .quarantined
    );

    let r = admin_post(&app, &token, &format!("/admin/api/clients/{id}/quarantine")).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["registration"]["quarantined"], true);
    assert_eq!(b.get(&url).await.status, 400, "quarantined again");

    for action in ["approve", "quarantine"] {
        let r = admin_post(
            &app,
            &token,
            &format!("/admin/api/clients/nosuchclient/{action}"),
        )
        .await;
        assert_eq!(r.status(), 404, "{action}");
    }
}
