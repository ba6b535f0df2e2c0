//! Issue 12 item 6: introspection answers only a caller that may know about the token
//! (RFC 7662 §2.2, §4): the token's own application, and the applications an API names as
//! its introspectors, for tokens whose `aud` includes that API. Anyone else gets
//! `{"active":false}` and nothing more, for JWT and opaque tokens alike.

use serde_json::{Value, json};
use valet_protocol::application::Profile;
use valet_protocol::audience::ApiScope;
use valet_protocol::opaque_token::AccessTokenFormat;
use valet_server::admin::{AdminError, NewClient};

use crate::flow::REDIRECT;
use crate::harness::{TestApp, spawn_app};

/// Registers the API `aud` with the one scope `scope`, introspected by `introspectors`.
async fn api(
    app: &TestApp,
    aud: &str,
    scope: &str,
    introspectors: &[&str],
) -> Result<(), AdminError> {
    let scopes = vec![ApiScope {
        name: scope.into(),
        description: format!("{scope} things"),
    }];
    let introspectors = introspectors.iter().map(|s| (*s).to_owned()).collect();
    app.admin
        .create_api(
            valet_server::admin::NewApi {
                name: None,
                audience: aud.into(),
                scopes,
                access_token_format: Default::default(),
                introspectors,
                token_exchange: vec![],
            },
            app.now(),
        )
        .await
        .map(|_| ())
}

/// A client_credentials token of `id` for `scope`.
async fn token_for(app: &TestApp, id: &str, secret: &str, scope: &str) -> String {
    let r = app
        .post(
            "/oauth2/token",
            id,
            secret,
            &format!("grant_type=client_credentials&scope={scope}"),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn another_application_learns_nothing_about_a_token() {
    let app = spawn_app().await;
    app.api().await;
    let (a, a_secret) = app.service(&["api:read"]).await;
    let (b, b_secret) = app.service(&[]).await;
    let (opaque, opaque_secret) = app
        .client(NewClient {
            name: "opaque svc".into(),
            profile: Some(Profile::Service),
            scopes: Some(vec!["api:read".into()]),
            access_token_format: AccessTokenFormat::Opaque,
            ..Default::default()
        })
        .await;
    let jwt = app.token(&a, &a_secret).await;
    let reference = app.token(&opaque, &opaque_secret).await;
    assert!(reference.starts_with("valet_at_"));
    for (what, token) in [("JWT", &jwt), ("opaque", &reference)] {
        assert_eq!(
            app.introspect(&b, &b_secret, token).await,
            json!({"active": false}),
            "{what}: B knows nothing of A's token"
        );
    }
    // Each owner still sees its own.
    assert_eq!(app.introspect(&a, &a_secret, &jwt).await["active"], true);
    assert_eq!(
        app.introspect(&opaque, &opaque_secret, &reference).await["active"],
        true
    );
}

// The applications an API names see the tokens for it, whatever application they were
// issued to and whatever their format; not tokens for other APIs, nor refresh tokens.
#[tokio::test]
async fn an_apis_introspectors_see_the_tokens_for_that_api() {
    let app = spawn_app().await;
    let (rs_a, rs_a_secret) = app.service(&[]).await;
    let (rs_b, rs_b_secret) = app.service(&[]).await;
    api(&app, "https://a.example", "a:read", &[&rs_a])
        .await
        .unwrap();
    api(&app, "https://b.example", "b:read", &[&rs_b])
        .await
        .unwrap();
    let (svc, svc_secret) = app.service(&["a:read", "b:read"]).await;
    let (opaque, opaque_secret) = app
        .client(NewClient {
            name: "opaque svc".into(),
            profile: Some(Profile::Service),
            scopes: Some(vec!["a:read".into()]),
            access_token_format: AccessTokenFormat::Opaque,
            ..Default::default()
        })
        .await;
    let sees = |id: &str, secret: &str, token: &str| {
        let (id, secret, token) = (id.to_owned(), secret.to_owned(), token.to_owned());
        let app = &app;
        async move {
            let v = app.introspect(&id, &secret, &token).await;
            if v["active"] == false {
                assert_eq!(v, json!({"active": false}));
            }
            v["active"] == true
        }
    };

    let for_a = token_for(&app, &svc, &svc_secret, "a:read").await;
    let for_b = token_for(&app, &svc, &svc_secret, "b:read").await;
    let for_both = token_for(&app, &svc, &svc_secret, "a:read+b:read").await;
    let opaque_for_a = token_for(&app, &opaque, &opaque_secret, "a:read").await;
    assert!(opaque_for_a.starts_with("valet_at_"));
    assert!(sees(&rs_a, &rs_a_secret, &for_a).await);
    assert!(
        !sees(&rs_b, &rs_b_secret, &for_a).await,
        "B's backend, A's token"
    );
    assert!(sees(&rs_b, &rs_b_secret, &for_b).await);
    assert!(!sees(&rs_a, &rs_a_secret, &for_b).await);
    assert!(sees(&rs_a, &rs_a_secret, &for_both).await, "aud includes A");
    assert!(sees(&rs_b, &rs_b_secret, &for_both).await, "aud includes B");
    assert!(
        sees(&rs_a, &rs_a_secret, &opaque_for_a).await,
        "opaque alike"
    );
    assert!(!sees(&rs_b, &rs_b_secret, &opaque_for_a).await);
    let v = app.introspect(&rs_a, &rs_a_secret, &for_a).await;
    assert_eq!(
        v["client_id"],
        svc.as_str(),
        "the claims of the token, all of them"
    );
    assert_eq!(v["aud"], "https://a.example");

    // A user's tokens: the access token to A's backend, the refresh token to nobody but
    // the application it was issued to.
    app.user("alice").await;
    let (web, web_secret) = app
        .client(NewClient {
            name: "Web App".into(),
            profile: Some(Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            scopes: Some(vec!["openid".into(), "a:read".into()]),
            ..Default::default()
        })
        .await;
    let url = app
        .authorize_url(&web, "")
        .replace("scope=openid+profile+email", "scope=openid+a%3Aread");
    let location = app.browser().sign_in(&app, &url, "alice").await;
    let t: Value = app
        .redeem(&web, &web_secret, &location)
        .await
        .json()
        .await
        .unwrap();
    let (access, refresh) = (
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    );
    assert!(sees(&rs_a, &rs_a_secret, access).await);
    assert!(!sees(&rs_b, &rs_b_secret, access).await);
    assert!(!sees(&rs_a, &rs_a_secret, refresh).await, "a refresh token");
    assert!(
        sees(&web, &web_secret, refresh).await,
        "its own application"
    );
    assert!(sees(&web, &web_secret, access).await);
}

// Valet's own audiences name no introspectors: a token with only OpenID scopes (`aud` the
// issuer) and an admin token are visible to their own application alone, even if an API
// were registered over that audience and named an introspector.
#[tokio::test]
async fn valets_own_audiences_have_no_introspectors() {
    let app = spawn_app().await;
    let (rs, rs_secret) = app.service(&[]).await;
    let admin_audience = app.settings.admin_audience();
    api(&app, &app.settings.issuer, "squat:read", &[&rs])
        .await
        .unwrap();
    api(&app, &admin_audience, "squat:admin", &[&rs])
        .await
        .unwrap();
    let (admin, admin_secret) = app.service(&["valet:admin"]).await;
    let admin_token = token_for(&app, &admin, &admin_secret, "valet%3Aadmin").await;
    let (svc, svc_secret) = app.service(&[]).await;
    let plain = app.token(&svc, &svc_secret).await;
    for (what, owner, secret, token) in [
        ("admin token", &admin, &admin_secret, &admin_token),
        ("issuer-audience token", &svc, &svc_secret, &plain),
    ] {
        assert_eq!(
            app.introspect(&rs, &rs_secret, token).await,
            json!({"active": false}),
            "{what}"
        );
        assert_eq!(app.introspect(owner, secret, token).await["active"], true);
    }
}

// Only registered confidential applications can be introspectors: a public one
// authenticates with its client_id alone, so anyone could introspect as it.
#[tokio::test]
async fn introspectors_are_registered_confidential_applications() {
    let app = spawn_app().await;
    let (spa, _) = app
        .client(NewClient {
            name: "spa".into(),
            profile: Some(Profile::Spa),
            redirect_uris: vec!["https://spa.example/cb".into()],
            ..Default::default()
        })
        .await;
    for who in [spa.as_str(), "no-such-client"] {
        match api(&app, "https://a.example", "a:read", &[who]).await {
            Err(AdminError::Field { field, message: m }) => {
                assert_eq!(field, "introspectors");
                assert!(m.contains(who), "{m}")
            }
            other => panic!("{who}: expected a refusal, got {other:?}"),
        }
    }
    assert!(app.store.apis().await.unwrap().is_empty(), "nothing stored");
}
