//! Issue 12, item 11: `valet:admin` belongs to service applications (client_credentials
//! alone) only. Registration refuses it anywhere else (CLI and admin API share
//! `Admin`), and the token and authorization endpoints refuse to issue it to anything
//! else, for a registration stored before the rule.

use oauth2::reqwest::Method;
use serde_json::{Value, json};
use valet_protocol::application::{Application, AuthMethod, GrantType, Profile};
use valet_server::admin::{AdminError, ClientChanges, NewClient};
use valet_store::ClientRecord;

use crate::flow::{REDIRECT, param};
use crate::harness::{assert_oauth_error, spawn_app};

fn admin_scope_refused(e: AdminError) {
    match e {
        AdminError::Field { field, message: m } => {
            assert_eq!(field, "scopes");
            assert!(m.contains("valet:admin") && m.contains("service"), "{m}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn only_service_applications_may_hold_valet_admin() {
    let app = spawn_app().await;
    let admin_scope = Some(vec!["valet:admin".to_owned()]);
    for profile in [Profile::Web, Profile::Spa, Profile::Native] {
        let e = app
            .admin
            .create_client(
                NewClient {
                    name: "console".into(),
                    profile: Some(profile),
                    redirect_uris: vec![REDIRECT.into()],
                    scopes: admin_scope.clone(),
                    ..Default::default()
                },
                app.now(),
            )
            .await
            .unwrap_err();
        admin_scope_refused(e);
    }
    // A service that may also act for users (password grant) is not a pure service.
    let e = app
        .admin
        .create_client(
            NewClient {
                name: "svc".into(),
                profile: Some(Profile::Service),
                scopes: admin_scope.clone(),
                grant_types: Some(vec![GrantType::ClientCredentials, GrantType::Password]),
                ..Default::default()
            },
            app.now(),
        )
        .await
        .unwrap_err();
    admin_scope_refused(e);

    // Updates obey the same rule, both ways round.
    let (svc, _) = app.service(&["valet:admin"]).await;
    let e = app
        .admin
        .update_client(
            &svc,
            ClientChanges {
                grant_types: Some(vec![GrantType::ClientCredentials, GrantType::Password]),
                ..Default::default()
            },
            None,
            app.now(),
        )
        .await
        .unwrap_err();
    admin_scope_refused(e);
    let (web, _) = app.web_client().await;
    let e = app
        .admin
        .update_client(
            &web,
            ClientChanges {
                scopes: Some(vec!["openid".into(), "valet:admin".into()]),
                ..Default::default()
            },
            None,
            app.now(),
        )
        .await
        .unwrap_err();
    admin_scope_refused(e);

    // The admin API says the same, as a 400.
    let (admin, admin_secret) = app.service(&["valet:admin"]).await;
    let token = app.token(&admin, &admin_secret).await;
    let call = |m: Method, path: &str| {
        app.http
            .request(m, app.url(&format!("/admin/api{path}")))
            .bearer_auth(&token)
    };
    let r = call(Method::POST, "/clients")
        .json(&json!({"name": "Console", "profile": "web",
            "redirect_uris": [REDIRECT], "scopes": ["openid", "valet:admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("valet:admin"),
        "{body}"
    );
    let r = call(Method::PATCH, &format!("/clients/{web}"))
        .json(&json!({"scopes": ["valet:admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let shown: Value = call(Method::GET, &format!("/clients/{web}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!shown["scopes"].to_string().contains("valet:admin"));
}

/// A web application holding `valet:admin`, written straight into the store the way a
/// registration made before the rule would be.
async fn legacy_admin_web_app(app: &crate::harness::TestApp) -> (String, String) {
    let (id, secret) = app
        .client(NewClient {
            name: "Legacy console".into(),
            profile: Some(Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: Some(vec![
                GrantType::AuthorizationCode,
                GrantType::ClientCredentials,
            ]),
            ..Default::default()
        })
        .await;
    let mut record: ClientRecord = app.store.client(&id).await.unwrap().unwrap();
    record.app.scopes.push("valet:admin".into());
    assert!(app.store.update_client(&record).await.unwrap());
    let stored: Application = app.store.client(&id).await.unwrap().unwrap().app;
    assert!(stored.scopes.iter().any(|s| s == "valet:admin"));
    assert_eq!(
        stored.token_endpoint_auth_method,
        AuthMethod::ClientSecretBasic
    );
    (id, secret)
}

#[tokio::test]
async fn valet_admin_is_never_issued_to_anything_but_a_service() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = legacy_admin_web_app(&app).await;

    // client_credentials: asked for, refused; by default, left out.
    let r = app
        .post(
            "/oauth2/token",
            &id,
            &secret,
            "grant_type=client_credentials&scope=valet%3Aadmin",
        )
        .await;
    assert_oauth_error(r, 400, "invalid_scope").await;
    let r = app
        .post(
            "/oauth2/token",
            &id,
            &secret,
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(!body["scope"].to_string().contains("valet:admin"), "{body}");

    // A user's sign-in asking for it is refused at the authorization endpoint.
    let b = app.browser();
    let p = b
        .get(&app.url(&format!(
            "/oauth2/authorize?client_id={id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
             &response_type=code&scope=openid+valet%3Aadmin&state=s1"
        )))
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let loc = p.location().unwrap();
    assert_eq!(
        param(&loc, "error").as_deref(),
        Some("invalid_scope"),
        "{loc}"
    );

    // Signing in with the default scope never yields an admin token either.
    let loc = b.sign_in(&app, &app.authorize_url(&id, ""), "alice").await;
    let code = param(&loc, "code").unwrap();
    let r = app
        .post(
            "/oauth2/token",
            &id,
            &secret,
            &format!(
                "grant_type=authorization_code&code={code}\
                 &redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
            ),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(!body["scope"].to_string().contains("valet:admin"), "{body}");
    let user_token = body["access_token"].as_str().unwrap();
    let r = app
        .http
        .get(app.url("/admin/api/clients"))
        .bearer_auth(user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a user's token is no admin token");
}
