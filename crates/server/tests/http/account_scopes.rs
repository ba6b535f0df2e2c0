//! Withdrawing one scope of an application on /account (issue 16): the consent and the
//! grant keep the others, a refresh yields only those, and the access tokens minted
//! before read inactive.

use oauth2::reqwest;
use serde_json::Value;

use crate::account_sessions::{FIREFOX, active, signed_in};
use crate::flow::Page;
use crate::harness::{TestApp, spawn_app};

async fn refresh(
    app: &TestApp,
    (id, secret): (&str, &str),
    rt: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    form.extend_from_slice(extra);
    app.http
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap()
}

fn scope_forms(page: &Page) -> Vec<String> {
    page.body
        .split("action=\"/account/withdraw-scope\"")
        .skip(1)
        .map(|f| {
            f.split("name=\"scope\" value=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn withdrawing_one_scope_keeps_the_rest() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let c = (id.as_str(), secret.as_str());
    let (b, tokens) = signed_in(
        &app,
        c,
        "alice",
        FIREFOX,
        "openid profile email offline_access",
    )
    .await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();

    let page = b.get(&app.url("/account")).await;
    // A button per scope but openid.
    let offered = scope_forms(&page);
    assert_eq!(offered, ["profile", "email", "offline_access"]);
    let csrf = page.field("csrf").unwrap();

    // openid alone, or a scope never given, is refused.
    for (scope, token) in [
        ("openid", csrf.as_str()),
        ("phone", csrf.as_str()),
        ("email", "forged"),
    ] {
        let r = b
            .post_form(
                &app.url("/account/withdraw-scope"),
                &[("csrf", token), ("client_id", &id), ("scope", scope)],
            )
            .await;
        assert_ne!(r.status, 200, "{scope}");
    }
    assert!(active(&app, c, &tokens).await);

    app.clock.advance(5);
    let r = b
        .post_form(
            &app.url("/account/withdraw-scope"),
            &[("csrf", &csrf), ("client_id", &id), ("scope", "email")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("no longer has email"));
    assert_eq!(scope_forms(&r), ["profile", "offline_access"]);
    assert_eq!(
        app.store.consent(&sub, &id).await.unwrap().unwrap().scope,
        "openid profile offline_access"
    );

    // The access token minted before is inactive, at introspection and UserInfo.
    assert!(!active(&app, c, &tokens).await);
    let ui = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 401);

    // A refresh yields what is left; asking for the withdrawn scope is refused.
    let r = refresh(&app, c, &rt, &[("scope", "openid email")]).await;
    assert_eq!(r.status(), 400);
    let r = refresh(&app, c, &rt, &[]).await;
    assert_eq!(r.status(), 200);
    let fresh: Value = r.json().await.unwrap();
    let scope = fresh["scope"].as_str().unwrap();
    assert!(!scope.split(' ').any(|s| s == "email"), "{scope}");
    assert!(scope.split(' ').any(|s| s == "profile"), "{scope}");
    assert!(active(&app, c, &fresh).await);
    let seen = app
        .introspect(&id, &secret, fresh["access_token"].as_str().unwrap())
        .await;
    assert!(!seen["scope"].as_str().unwrap().contains("email"));
    // So does the refresh token itself, read at introspection.
    let seen = app.introspect(&id, &secret, &rt).await;
    assert_eq!(seen["active"], true);
    assert!(!seen["scope"].as_str().unwrap().contains("email"));
    let ui: Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(fresh["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ui.get("email").is_none() && ui.get("name").is_some(),
        "{ui}"
    );

    // Asking for email again asks the user again.
    let p = b.get(&app.authorize_url(&id, "")).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("value=\"allow\""));
}
