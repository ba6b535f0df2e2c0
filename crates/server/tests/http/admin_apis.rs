//! `/admin/api/apis`: APIs registered through the admin API, with the applications that
//! may introspect their tokens (issue 12 item 6), as `valet api create --introspector`.

use crate::harness::spawn_app;
use serde_json::{Value, json};

#[tokio::test]
async fn the_admin_api_registers_apis_and_their_introspectors() {
    let app = spawn_app().await;
    let (admin, admin_secret) = app.service(&["valet:admin"]).await;
    let token = app.token(&admin, &admin_secret).await;
    let (rs, rs_secret) = app.service(&[]).await;
    let post = |body: Value| {
        app.http
            .post(app.url("/admin/api/apis"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };

    // An unknown introspector, and an unknown field, are refused and nothing is stored.
    let r = post(json!({
        "audience": "https://reports.example",
        "scopes": [{"name": "reports.read", "description": "Read reports"}],
        "introspectors": ["nobody"],
    }))
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("nobody"));
    let r = post(json!({"audience": "https://reports.example", "scopes": [], "owner": "x"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = post(json!({
        "name": "Reports",
        "audience": "https://reports.example",
        "scopes": [{"name": "reports.read", "description": "Read reports"}],
        "introspectors": [rs],
    }))
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["introspectors"], json!([rs]));
    assert_eq!(created["access_token_format"], "jwt");

    let listed: Value = app
        .http
        .get(app.url("/admin/api/apis"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let apis = listed.as_array().unwrap();
    assert!(
        apis.iter().any(
            |a| a["audience"] == "https://reports.example" && a["introspectors"] == json!([rs])
        ),
        "{listed}"
    );

    // The named introspector sees a token for the API; another service does not.
    let (svc, svc_secret) = app.service(&["reports.read"]).await;
    let report_token = app.token(&svc, &svc_secret).await;
    let (other, other_secret) = app.service(&[]).await;
    let active = |id: String, secret: String| {
        let t = report_token.clone();
        let app = &app;
        async move {
            let r = app
                .post("/oauth2/introspect", &id, &secret, &format!("token={t}"))
                .await;
            r.json::<Value>().await.unwrap()["active"] == json!(true)
        }
    };
    assert!(active(rs.clone(), rs_secret.clone()).await);
    assert!(!active(other, other_secret).await);

    // Without the admin scope, nothing.
    let plain = app.token(&rs, &rs_secret).await;
    let r = app
        .http
        .get(app.url("/admin/api/apis"))
        .bearer_auth(&plain)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
