//! Issue 12, item 16: what an admin types is checked before it is stored. URIs are ASCII
//! (a right-to-left override in a redirect URI went raw into `Location`), and no
//! free-text field takes control characters (terminal escapes were printed raw by
//! `valet client show`). The admin API refuses with 400 and names the field.

use oauth2::reqwest::Method;
use serde_json::{Value, json};
use valet_protocol::audience::ApiScope;
use valet_protocol::user::UserClaims;
use valet_server::admin::{AdminError, NewUser};

use crate::flow::REDIRECT;
use crate::harness::spawn_app;

const RLO: &str = "\u{202e}";
const ESC: &str = "\u{1b}[2J";

fn refused(e: AdminError, field: &str) {
    match e {
        AdminError::Invalid(m) | AdminError::Field { message: m, .. } => {
            assert!(m.contains(field), "`{m}` should name {field}");
            assert!(
                !m.contains('\u{1b}') && !m.contains(RLO),
                "the message shows the value escaped: {m:?}"
            );
        }
        other => panic!("{field}: expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_admin_api_refuses_non_ascii_uris_and_control_characters() {
    let app = spawn_app().await;
    let (admin, admin_secret) = app.service(&["valet:admin"]).await;
    let token = app.token(&admin, &admin_secret).await;
    let create = |body: Value| {
        let req = app
            .http
            .request(Method::POST, app.url("/admin/api/clients"))
            .bearer_auth(&token)
            .json(&body);
        async move { req.send().await.unwrap() }
    };
    let web = |extra: Value| {
        let mut v = json!({"name": "Web", "profile": "web", "redirect_uris": [REDIRECT]});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let cases = [
        (
            "redirect URI",
            web(json!({"redirect_uris": [format!("https://app.example/{RLO}cb")]})),
        ),
        (
            "redirect URI",
            web(json!({"redirect_uris": ["https://xn--app.example/cb", "https://äpp.example/cb"]})),
        ),
        (
            "post-logout redirect URI",
            web(json!({"post_logout_redirect_uris": [format!("https://app.example/bye{RLO}")]})),
        ),
        (
            "website",
            web(json!({"website": format!("https://app.example/{RLO}")})),
        ),
        (
            "logo_uri",
            web(json!({"logo_uri": "https://app.example/lögo.png"})),
        ),
        (
            "policy_uri",
            web(json!({"policy_uri": format!("https://app.example/{RLO}")})),
        ),
        (
            "CORS origin",
            web(json!({"cors_origins": ["https://äpp.example"]})),
        ),
        ("name", web(json!({"name": format!("Web{ESC}")}))),
        ("name", web(json!({"name": format!("Evil {RLO}ppA")}))),
        (
            "description",
            web(json!({"description": format!("fine\u{7}{ESC}")})),
        ),
        (
            "service user",
            json!({"name": "svc", "profile": "service", "service_subject": format!("u{ESC}")}),
        ),
    ];
    for (field, body) in cases {
        let r = create(body.clone()).await;
        assert_eq!(r.status(), 400, "{field}: {body}");
        let v: Value = r.json().await.unwrap();
        let d = v["error_description"].as_str().unwrap();
        assert!(d.contains(field), "{field}: {d}");
    }
    // The same rules on update.
    let (id, _) = app.web_client().await;
    let r = app
        .http
        .request(Method::PATCH, app.url(&format!("/admin/api/clients/{id}")))
        .bearer_auth(&token)
        .json(&json!({"description": format!("x{ESC}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Printable text in any script is fine.
    let r = create(web(
        json!({"name": "Café 東京", "description": "Ünïcödé is welcome"}),
    ))
    .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn users_and_apis_refuse_control_characters() {
    let app = spawn_app().await;
    let user = |username: &str, claims: UserClaims| NewUser {
        username: username.into(),
        password: "a long enough password".into(),
        claims,
    };
    for (field, new) in [
        (
            "username",
            user(&format!("al{ESC}ice"), UserClaims::default()),
        ),
        (
            "username",
            user(&format!("alice{RLO}"), UserClaims::default()),
        ),
        (
            "name",
            user(
                "bob",
                UserClaims {
                    name: Some(format!("Bob{ESC}")),
                    ..Default::default()
                },
            ),
        ),
        (
            "given_name",
            user(
                "bob",
                UserClaims {
                    given_name: Some(format!("B{RLO}")),
                    ..Default::default()
                },
            ),
        ),
        (
            "family_name",
            user(
                "bob",
                UserClaims {
                    family_name: Some("B\u{9b}1m".into()),
                    ..Default::default()
                },
            ),
        ),
        (
            "e-mail",
            user(
                "bob",
                UserClaims {
                    email: Some(format!("bob@example.com{RLO}")),
                    ..Default::default()
                },
            ),
        ),
    ] {
        refused(
            app.admin.create_user(new, app.now()).await.unwrap_err(),
            field,
        );
    }

    let scope = |name: &str, description: &str| ApiScope {
        name: name.into(),
        description: description.into(),
    };
    let api = |name: Option<String>, audience: &str, scopes: Vec<ApiScope>| {
        app.admin.create_api(
            valet_server::admin::NewApi {
                name,
                audience: audience.into(),
                scopes,
                access_token_format: Default::default(),
                introspectors: vec![],
                token_exchange: vec![],
            },
            app.now(),
        )
    };
    refused(
        api(
            None,
            "https://api.example",
            vec![scope("a.read", &format!("Read{ESC}"))],
        )
        .await
        .unwrap_err(),
        "description of scope a.read",
    );
    refused(
        api(
            Some(format!("API{ESC}")),
            "https://api.example",
            vec![scope("a.read", "Read")],
        )
        .await
        .unwrap_err(),
        "API name",
    );
    refused(
        api(
            None,
            &format!("https://api.example/{RLO}"),
            vec![scope("a.read", "Read")],
        )
        .await
        .unwrap_err(),
        "audience",
    );
    // Nothing was stored.
    assert!(app.store.apis().await.unwrap().is_empty());
    assert!(app.store.users().await.unwrap().is_empty());
}
