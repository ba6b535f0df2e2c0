//! Issue 21: every response carries `X-Request-Id`; a JSON error says the same id as
//! `request_id`, an error page shows it, and a refused request is kept in the audit
//! trail under it with what was sent, secrets masked. `traceparent` continues.

use crate::harness::{assert_oauth_error, spawn_app};
use serde_json::Value;
use valet_store::{AuditQuery, AuditRecord};

fn id_of(r: &reqwest::Response) -> String {
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        id.len() >= 16
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{id}"
    );
    id
}

/// The refused request's row (the audit writer stores rows in the background).
async fn refused(app: &crate::harness::TestApp, id: &str) -> AuditRecord {
    let query = AuditQuery {
        action: Some("request.refused".into()),
        request_id: Some(id.into()),
        limit: 5,
        ..Default::default()
    };
    crate::harness::audit_event(app, query).await
}

#[tokio::test]
async fn every_response_has_its_own_request_id() {
    let app = spawn_app().await;
    let a = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    let b = app.http.get(app.url("/health/live")).send().await.unwrap();
    let c = app.http.get(app.url("/nowhere")).send().await.unwrap();
    let ids = [id_of(&a), id_of(&b), id_of(&c)];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    // An id a caller sends is not taken: it could point at someone else's request.
    let d = app
        .http
        .get(app.url("/health/live"))
        .header("x-request-id", "chosen-by-caller")
        .send()
        .await
        .unwrap();
    assert_ne!(id_of(&d), "chosen-by-caller");
}

#[tokio::test]
async fn a_refused_token_request_names_its_id_and_is_kept_masked() {
    let app = spawn_app().await;
    app.api().await;
    let (id, _) = app.service(&["api:read"]).await;
    let r = app
        .post(
            "/oauth2/token",
            &id,
            "not-the-secret",
            "grant_type=client_credentials&scope=api%3Aread&code=SECRET-ASSERTION",
        )
        .await;
    let rid = id_of(&r);
    // (`assert_oauth_error` checks that the body's `request_id` is the header's.)
    assert_oauth_error(r, 401, "invalid_client").await;

    let row = refused(&app, &rid).await;
    assert_eq!(row.target, format!("request:{rid}"));
    let details: Value = serde_json::from_str(&row.changes).unwrap();
    assert_eq!(details["route"], "/oauth2/token");
    assert_eq!(details["status"], 401);
    assert_eq!(details["error"], "invalid_client");
    assert_eq!(
        details["sent"]["parameters"]["grant_type"],
        "client_credentials"
    );
    assert_eq!(details["sent"]["parameters"]["scope"], "api:read");
    assert_eq!(
        details["sent"]["authorization"],
        format!("Basic (client_id {id}, secret masked)").as_str()
    );
    assert!(
        !row.changes.contains("not-the-secret") && !row.changes.contains("SECRET-ASSERTION"),
        "{}",
        row.changes
    );
}

#[tokio::test]
async fn an_error_page_shows_the_request_id() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/oauth2/authorize?client_id=nobody&response_type=code"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let rid = id_of(&r);
    let html = r.text().await.unwrap();
    assert!(html.contains(&rid), "{html}");
    let row = refused(&app, &rid).await;
    let details: Value = serde_json::from_str(&row.changes).unwrap();
    assert_eq!(details["route"], "/oauth2/authorize");
    assert_eq!(details["sent"]["parameters"]["client_id"], "nobody");
}

#[tokio::test]
async fn a_traceparent_is_continued_and_a_bad_one_ignored() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/health/live"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap();
    let tp = r.headers()["traceparent"].to_str().unwrap();
    let parts: Vec<_> = tp.split('-').collect();
    assert_eq!(parts[0], "00");
    assert_eq!(
        parts[1], "4bf92f3577b34da6a3ce929d0e0e4736",
        "the same trace"
    );
    assert_eq!(parts[2].len(), 16);
    assert_ne!(parts[2], "00f067aa0ba902b7", "a span of Valet's own");
    assert_eq!(parts[3], "01");

    let r = app
        .http
        .get(app.url("/health/live"))
        .header("traceparent", "00-zz-00f067aa0ba902b7-01")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("traceparent").is_none());
}
