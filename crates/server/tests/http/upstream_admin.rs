//! Upstream providers through the admin API (issue 18): added on a running node and
//! offered on its login page at once, signed in through, the file's listed but changed
//! only in the file, the secret never shown, removed.

use crate::harness::spawn_with;
use crate::upstream_idp::{CLIENT_SECRET, Idp};
use oauth2::reqwest;
use serde_json::{Value, json};

#[tokio::test]
async fn a_provider_added_through_the_admin_api_signs_people_in() {
    let file_idp = Idp::start().await;
    let idp = Idp::start().await;
    let file_table = file_idp.oidc_table("corp");
    let app = spawn_with(move |mut p| {
        p.upstreams = Some(vec![file_table]);
        p
    })
    .await;
    let (admin, secret) = app.service(&["valet:admin"]).await;
    let token = app.token(&admin, &secret).await;
    let api = |m: reqwest::Method, path: &str| {
        app.http
            .request(m, app.url(&format!("/admin/api{path}")))
            .bearer_auth(&token)
    };
    let r = api(reqwest::Method::POST, "/upstreams")
        .json(&json!({
            "id": "partner",
            "name": "Partner",
            "issuer": idp.issuer,
            "client_id": "valet",
            "client_secret": CLIENT_SECRET,
            "domains": ["partner.example"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body = r.text().await.unwrap();
    assert!(!body.contains(CLIENT_SECRET), "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(created["source"], "database");

    // The same id as the file's provider, or one of its domains: refused.
    let r = api(reqwest::Method::POST, "/upstreams")
        .json(&json!({
            "id": "corp", "name": "Again", "issuer": idp.issuer,
            "client_id": "valet", "client_secret": "x",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = api(reqwest::Method::POST, "/upstreams")
        .json(&json!({
            "id": "other", "name": "Other", "issuer": idp.issuer,
            "client_id": "valet", "client_secret": "x", "domains": ["corp.example"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let list: Value = api(reqwest::Method::GET, "/upstreams")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_str().unwrap(), u["source"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, [("corp", "file"), ("partner", "database")]);
    // The file's provider is changed in the file.
    let r = api(reqwest::Method::PATCH, "/upstreams/corp")
        .json(&json!({ "name": "Renamed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Offered at once, and it signs people in.
    let (id, client_secret) = app.web_client().await;
    let browser = app.browser();
    let login = browser.get(&app.authorize_url(&id, "")).await;
    assert!(
        login.body.contains("Continue with Partner"),
        "{}",
        login.body
    );
    let to = browser
        .post_form(
            &app.url("/login/upstream/partner"),
            &[
                ("csrf", &login.field("csrf").unwrap()),
                ("interaction", &login.field("interaction").unwrap()),
            ],
        )
        .await;
    assert_eq!(to.status, 303, "{}", to.body);
    assert!(to.location().unwrap().starts_with(&idp.issuer));
    let back = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(to.location().unwrap())
        .send()
        .await
        .unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    let consent = browser.get(&callback).await;
    let done = browser.consent(&app, &consent, "allow").await;
    assert_eq!(done.status, 303, "{}", done.body);
    let r = app
        .redeem(&id, &client_secret, &done.location().unwrap())
        .await;
    assert_eq!(r.status(), 200);
    assert!(app.store.user("partner:alice").await.unwrap().is_some());

    // Renamed through the API: the login page follows.
    let r = api(reqwest::Method::PATCH, "/upstreams/partner")
        .json(&json!({ "name": "Partner Co" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let login = app.browser().get(&app.authorize_url(&id, "")).await;
    assert!(login.body.contains("Continue with Partner Co"));

    // The trail records the secret as hidden.
    let trail = app
        .store
        .audit_events(&valet_store::AuditQuery {
            action: Some("upstream.".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let entry = trail
        .iter()
        .find(|e| e.action == "upstream.create")
        .expect("audited");
    assert!(!entry.changes.contains(CLIENT_SECRET));
    assert!(entry.changes.contains("[hidden]"));

    // The console lists both, with the redirect URI to register; an admin removes the
    // database's there (the file's has no Remove).
    crate::console::with_role(&app, "ada", valet_protocol::user::Role::Admin).await;
    let ada = crate::console::signed_in(&app, "ada").await;
    let page = ada.get(&app.url("/admin/upstreams")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let html = crate::flow::unescape(&page.body);
    assert!(html.contains("Partner Co") && html.contains("Corp"));
    let callback = format!("{}/login/upstream/partner/callback", app.base);
    assert!(html.contains(&callback), "{html}");
    assert!(html.contains("/admin/upstreams/partner/remove"));
    assert!(!html.contains("/admin/upstreams/corp/remove"));
    assert!(!html.contains(CLIENT_SECRET));
    let csrf = crate::console::csrf(&app, &ada).await;
    let r = ada
        .post_form(&app.url("/admin/upstreams/corp/remove"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 400, "the file's provider is changed in the file");
    let r = ada
        .post_form(
            &app.url("/admin/upstreams/partner/remove"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.location().as_deref(),
        Some("/admin/upstreams?done=upstream.removed")
    );

    // Removed: no longer offered; its user stays.
    let login = app.browser().get(&app.authorize_url(&id, "")).await;
    assert!(!login.body.contains("Continue with Partner"));
    assert!(app.store.user("partner:alice").await.unwrap().is_some());
    let r = api(reqwest::Method::DELETE, "/upstreams/partner")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
