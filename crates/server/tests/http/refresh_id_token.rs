//! `id_token_on_refresh` (issue 17, item 3): a refresh of an `openid` grant brings a new
//! ID token (OIDC Core §12.2) unless the application's registration says not to, set at
//! creation or by the admin API's PATCH and shown in its JSON.

use serde_json::{Value, json};
use valet_protocol::application::Profile;
use valet_server::admin::NewClient;

use crate::harness::TestApp;
use crate::refresh::{refresh, s, tokens};

async fn spa(app: &TestApp, id_token_on_refresh: Option<bool>) -> String {
    app.client(NewClient {
        name: "SPA".into(),
        profile: Some(Profile::Spa),
        redirect_uris: vec!["https://app.example/cb".into()],
        id_token_on_refresh,
        ..Default::default()
    })
    .await
    .0
}

/// A refresh of a fresh `openid` grant of `id`: the token response.
async fn refreshed(app: &TestApp, id: &str) -> Value {
    let t = tokens(app, id, "", "openid+offline_access").await;
    assert!(
        t.get("id_token").is_some(),
        "the code grant's ID token: {t}"
    );
    let r = refresh(app, id, "", &s(&t, "refresh_token"), "").await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_refresh_brings_an_id_token_unless_the_application_says_not_to() {
    let app = crate::harness::spawn_app().await;
    app.user("alice").await;

    // By default, and when asked for: a new ID token with the access token.
    for choice in [None, Some(true)] {
        let id = spa(&app, choice).await;
        let t = refreshed(&app, &id).await;
        assert!(t.get("id_token").is_some(), "{choice:?}: {t}");
    }

    // Off: the access and refresh tokens only.
    let id = spa(&app, Some(false)).await;
    let t = refreshed(&app, &id).await;
    assert!(t.get("id_token").is_none(), "{t}");
    s(&t, "access_token");
    s(&t, "refresh_token");

    // The admin API shows it and turns it back on.
    let (admin, secret) = app.service(&["valet:admin"]).await;
    let bearer = app.token(&admin, &secret).await;
    let url = app.url(&format!("/admin/api/clients/{id}"));
    let shown: Value = app
        .http
        .get(&url)
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["id_token_on_refresh"], false, "{shown}");
    let r = app
        .http
        .patch(&url)
        .bearer_auth(&bearer)
        .json(&json!({"id_token_on_refresh": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["id_token_on_refresh"],
        true
    );
    let t = refreshed(&app, &id).await;
    assert!(t.get("id_token").is_some(), "{t}");
}
