//! Issue 12, items 15 and 18: client authentication at the token, introspection and
//! revocation endpoints. Every failure gets one answer (`invalid_client`, 401,
//! `WWW-Authenticate: Basic`, one description), so a caller cannot tell a registered
//! client_id from an unknown one; the reason goes to the log only.

use oauth2::reqwest;
use serde_json::Value;
use valet_protocol::application::{AuthMethod, Profile};
use valet_server::admin::NewClient;

use crate::flow::REDIRECT;
use crate::harness::{TestApp, assert_oauth_error, spawn_app};

/// How a request presents its credentials.
enum Creds<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
    IdOnly(&'a str),
    Header(&'a str),
    Nothing,
}

async fn call(
    app: &TestApp,
    path: &str,
    creds: &Creds<'_>,
    body: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = body.to_vec();
    let mut req = app.http.post(app.url(path));
    match creds {
        Creds::Basic(id, secret) => req = req.basic_auth(id, Some(secret)),
        Creds::Post(id, secret) => {
            form.push(("client_id", id));
            form.push(("client_secret", secret));
        }
        Creds::IdOnly(id) => form.push(("client_id", id)),
        Creds::Header(h) => req = req.header("authorization", *h),
        Creds::Nothing => {}
    }
    req.form(&form).send().await.unwrap()
}

/// The error of a failed authentication: 401, `Basic` challenge, `invalid_client`.
async fn failure(r: reqwest::Response, case: &str) -> String {
    let challenge = r
        .headers()
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("{case}: no WWW-Authenticate"))
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Basic"), "{case}: {challenge}");
    let body: Value = assert_oauth_error(r, 401, "invalid_client").await;
    body["error_description"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_client_authentication_failure_reads_the_same() {
    let app = spawn_app().await;
    let (svc, secret) = app.service(&[]).await;
    // One that chose client_secret_post explicitly, and a public one.
    let (post_only, post_secret) = app
        .client(NewClient {
            name: "post".into(),
            profile: Some(Profile::Service),
            token_endpoint_auth_method: Some(AuthMethod::ClientSecretPost),
            ..Default::default()
        })
        .await;
    let (spa, _) = app
        .client(NewClient {
            name: "spa".into(),
            profile: Some(Profile::Spa),
            redirect_uris: vec![REDIRECT.into()],
            ..Default::default()
        })
        .await;
    let token = app.token(&svc, &secret).await;

    let cases: Vec<(&str, Creds<'_>)> = vec![
        (
            "unknown id, Basic",
            Creds::Basic("no-such-client", "a-secret-value"),
        ),
        (
            "unknown id, post",
            Creds::Post("no-such-client", "a-secret-value"),
        ),
        ("unknown id, no secret", Creds::IdOnly("no-such-client")),
        ("wrong secret, Basic", Creds::Basic(&svc, "wrong")),
        ("wrong secret, post", Creds::Post(&svc, "wrong")),
        ("confidential id without a secret", Creds::IdOnly(&svc)),
        (
            "registered post, used Basic",
            Creds::Basic(&post_only, &post_secret),
        ),
        ("public client with a secret", Creds::Basic(&spa, "made-up")),
        ("malformed Basic", Creds::Header("Basic !!!")),
        ("another scheme", Creds::Header("Bearer abc")),
        ("no credentials", Creds::Nothing),
    ];
    let mut seen: Vec<(String, String)> = Vec::new();
    for (path, body) in [
        ("/oauth2/token", vec![("grant_type", "client_credentials")]),
        ("/oauth2/introspect", vec![("token", token.as_str())]),
        ("/oauth2/revoke", vec![("token", token.as_str())]),
    ] {
        for (case, creds) in &cases {
            let what = format!("{path}: {case}");
            let d = failure(call(&app, path, creds, &body).await, &what).await;
            seen.push((what, d));
        }
    }
    let first = &seen[0].1;
    for (what, d) in &seen {
        assert_eq!(d, first, "{what} reads differently from {}", seen[0].0);
    }
    // Nothing about methods or registrations leaks into that one message.
    for word in [
        "registered",
        "client_secret_post",
        "client_secret_basic",
        "unknown",
    ] {
        assert!(!first.contains(word), "{first}");
    }
    // The token is still live: none of the revocations above authenticated.
    assert_eq!(app.introspect(&svc, &secret, &token).await["active"], true);
}

/// A service registered with `method` (`None`: no choice made).
async fn service_with(app: &TestApp, method: Option<AuthMethod>) -> (String, String) {
    app.client(NewClient {
        name: "svc".into(),
        profile: Some(Profile::Service),
        token_endpoint_auth_method: method,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn without_a_chosen_method_basic_and_post_both_work() {
    let app = spawn_app().await;
    let cc = [("grant_type", "client_credentials")];
    let status = |r: reqwest::Response| r.status().as_u16();

    // RFC 7591 §2: no method given means client_secret_basic; the same secret in the body
    // (client_secret_post, openid-client's default) is accepted too.
    let (id, secret) = service_with(&app, None).await;
    assert_eq!(
        status(call(&app, "/oauth2/token", &Creds::Basic(&id, &secret), &cc).await),
        200
    );
    assert_eq!(
        status(call(&app, "/oauth2/token", &Creds::Post(&id, &secret), &cc).await),
        200
    );
    let token = app.token(&id, &secret).await;
    let r = call(
        &app,
        "/oauth2/introspect",
        &Creds::Post(&id, &secret),
        &[("token", &token)],
    )
    .await;
    assert_eq!(r.status(), 200);
    // Still a secret-based method: the client_id alone is not enough.
    failure(
        call(&app, "/oauth2/token", &Creds::IdOnly(&id), &cc).await,
        "id only",
    )
    .await;
    let shown = app.admin.get(&id).await.unwrap().app;
    assert_eq!(
        shown.token_endpoint_auth_method,
        AuthMethod::ClientSecretBasic
    );
    assert!(!shown.token_endpoint_auth_method_chosen);
    assert_eq!(
        shown.accepted_auth_methods(),
        [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost]
    );

    // An explicit choice keeps exactly that one.
    let (basic, basic_secret) = service_with(&app, Some(AuthMethod::ClientSecretBasic)).await;
    assert_eq!(
        status(
            call(
                &app,
                "/oauth2/token",
                &Creds::Basic(&basic, &basic_secret),
                &cc
            )
            .await
        ),
        200
    );
    failure(
        call(
            &app,
            "/oauth2/token",
            &Creds::Post(&basic, &basic_secret),
            &cc,
        )
        .await,
        "chose basic, sent post",
    )
    .await;
    let (post, post_secret) = service_with(&app, Some(AuthMethod::ClientSecretPost)).await;
    assert_eq!(
        status(
            call(
                &app,
                "/oauth2/token",
                &Creds::Post(&post, &post_secret),
                &cc
            )
            .await
        ),
        200
    );
    failure(
        call(
            &app,
            "/oauth2/token",
            &Creds::Basic(&post, &post_secret),
            &cc,
        )
        .await,
        "chose post, sent basic",
    )
    .await;
    let shown = app.admin.get(&basic).await.unwrap().app;
    assert!(shown.token_endpoint_auth_method_chosen);
    assert_eq!(
        shown.accepted_auth_methods(),
        [AuthMethod::ClientSecretBasic]
    );

    // The admin API shows the registration as stored: the method and whether it was chosen.
    let (admin, admin_secret) = app.service(&["valet:admin"]).await;
    let admin_token = app.token(&admin, &admin_secret).await;
    for (client, chosen) in [(&id, false), (&basic, true)] {
        let v: Value = app
            .http
            .get(app.url(&format!("/admin/api/clients/{client}")))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(v["token_endpoint_auth_method_chosen"], chosen, "{v}");
    }

    // Discovery offers both.
    let meta: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let methods = meta["token_endpoint_auth_methods_supported"].to_string();
    assert!(methods.contains("client_secret_basic") && methods.contains("client_secret_post"));
}
