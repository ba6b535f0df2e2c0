//! Issue 12, item 19: what a new user tripped over. The login page keeps the username
//! after a wrong password (escaped), and a browser that asks for an unknown path gets a
//! page, while API clients keep getting JSON.

use crate::flow::{PASSWORD, Page, unescape};
use crate::harness::spawn_app;

fn username_value(p: &Page) -> Option<String> {
    p.field("username")
}

#[tokio::test]
async fn a_wrong_password_keeps_the_username_escaped() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();

    // From the authorization endpoint.
    let login = b.get(&app.authorize_url(&id, "")).await;
    assert_eq!(login.status, 200);
    assert_eq!(username_value(&login), None, "nothing typed yet");
    let again = b.login(&app, &login, "alice", "not the password").await;
    assert_eq!(again.status, 200);
    assert!(
        again
            .body
            .contains("The username or password is not right.")
    );
    assert_eq!(username_value(&again).as_deref(), Some("alice"));
    // The form still works with the refilled name.
    let next = b.login(&app, &again, "alice", PASSWORD).await;
    assert!(
        next.status == 303 || next.body.contains("value=\"allow\""),
        "{}",
        next.body
    );

    // A hostile name comes back escaped, never as markup.
    let evil = "\"><script>alert(1)</script>";
    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    let again = b.login(&app, &login, evil, "whatever it is").await;
    assert_eq!(again.status, 200);
    assert!(!again.body.contains("<script>alert(1)"), "{}", again.body);
    assert_eq!(username_value(&again).as_deref(), Some(evil));

    // The standalone login page (on the way to /account) does the same.
    let b = app.browser();
    let login = b.get(&app.url("/login")).await;
    let again = b.login(&app, &login, "alice", "nope nope").await;
    assert_eq!(again.status, 200);
    assert_eq!(username_value(&again).as_deref(), Some("alice"));
}

#[tokio::test]
async fn an_unknown_path_is_a_page_for_browsers_and_json_for_apis() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/no/such/page"))
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let h = r.headers().clone();
    assert!(
        h["content-type"].to_str().unwrap().starts_with("text/html"),
        "{h:?}"
    );
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let body = r.text().await.unwrap();
    assert!(body.contains("<!doctype html") || body.contains("<!DOCTYPE html"));
    assert!(unescape(&body).contains("Not found"), "{body}");
    assert!(!body.contains("\"error\""), "no JSON for a browser: {body}");

    // An API client (no Accept, JSON, or anything) keeps the JSON error.
    for accept in [None, Some("application/json"), Some("*/*")] {
        let mut req = app.http.get(app.url("/no/such/page"));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{accept:?}"
        );
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], "not_found");
    }
}
