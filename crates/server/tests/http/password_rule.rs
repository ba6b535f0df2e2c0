//! Issue 16, NIST SP 800-63B §5.1.1.2: one rule for every new password, wherever it is set
//! — the admin API (create, set), a reset link, the account page (sign-up has its own
//! tests, the CLI its own): at least 8 characters and not one of the most common
//! passwords, in any case; no composition rules. A refused password changes nothing.

use serde_json::{Value, json};

use crate::flow::{PASSWORD, Page};
use crate::harness::spawn_app;
use crate::signup::{login, with_signup};

const COMMON: &[&str] = &["password123", "Qwerty123", "ILOVEYOU1", "baseball1"];
/// Long enough, all lower case, no digit: fine.
const FINE: &str = "tangerine umbrella";

fn too_common(p: &Page) -> bool {
    p.status == 400 && p.body.contains("too common")
}

#[tokio::test]
async fn the_admin_api_refuses_common_passwords() {
    let app = spawn_app().await;
    let (id, secret) = app.service(&["valet:admin"]).await;
    let token = app.token(&id, &secret).await;
    let call = |path: &str, body: Value| {
        app.http
            .post(app.url(&format!("/admin/api{path}")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    for p in COMMON {
        let r = call("/users", json!({ "username": "carol", "password": p }))
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{p}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["fields"]["password"]
                .as_str()
                .unwrap()
                .contains("too common"),
            "{body}"
        );
    }
    assert!(app.store.user_by_username("carol").await.unwrap().is_none());
    let r = call("/users", json!({ "username": "carol", "password": FINE }))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = call("/users/carol/password", json!({ "password": "Sunshine1" }))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["fields"]["password"]
            .as_str()
            .unwrap()
            .contains("too common")
    );
}

#[tokio::test]
async fn the_account_page_refuses_common_passwords() {
    let app = spawn_app().await;
    app.user("alice").await;
    let b = app.browser();
    assert_eq!(login(&app, &b, "alice", PASSWORD).await.status, 303);
    for p in COMMON {
        let page = b.get(&app.url("/account")).await;
        let r = b
            .post_form(
                &app.url("/account/password"),
                &[
                    ("csrf", &page.field("csrf").unwrap()),
                    ("current", PASSWORD),
                    ("new", p),
                    ("confirm", p),
                ],
            )
            .await;
        assert!(too_common(&r), "{p}: {} {}", r.status, r.body);
    }
    // The old password still signs in.
    assert_eq!(
        login(&app, &app.browser(), "alice", PASSWORD).await.status,
        303
    );
}

#[tokio::test]
async fn a_reset_link_refuses_common_passwords_and_stays_usable() {
    let (app, sink) = with_signup(None).await;
    app.user("alice").await;
    let b = app.browser();
    let forgot = b.get(&app.url("/password/forgot")).await;
    b.post_form(
        &app.url("/password/forgot"),
        &[("who", "alice"), ("csrf", &forgot.field("csrf").unwrap())],
    )
    .await;
    let m = &sink.wait_for(1).await[0];
    let joined = m.data.replace("=\n", "").replace("=3D", "=");
    let start = joined.find("token=").unwrap() + "token=".len();
    let token: String = joined[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let form = b
        .get(&app.url(&format!("/password/reset?token={token}")))
        .await;
    let csrf = form.field("csrf").unwrap();
    let reset = |p: &'static str| {
        let (b, app, token, csrf) = (&b, &app, &token, &csrf);
        async move {
            b.post_form(
                &app.url("/password/reset"),
                &[
                    ("token", token.as_str()),
                    ("password", p),
                    ("confirm", p),
                    ("csrf", csrf.as_str()),
                ],
            )
            .await
        }
    };
    for p in ["PASSWORD123", "qwerty123"] {
        assert!(too_common(&reset(p).await), "{p}");
    }
    let done = reset(FINE).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(login(&app, &app.browser(), "alice", FINE).await.status, 303);
}
