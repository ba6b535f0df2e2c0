//! Refresh tokens (checklist G), the password grant (H1), UserInfo (J8), CORS for browser
//! applications, and the admin's "revoke every grant of an application".

use serde_json::Value;
use valet_protocol::application::{GrantType, Profile};
use valet_server::admin::NewClient;

use crate::flow::{PASSWORD, param};
use crate::harness::{TestApp, assert_oauth_error, spawn_app, spawn_with};

const CB: &str = "redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A single-page application (public, PKCE, rotating refresh tokens).
pub(crate) async fn spa(app: &TestApp) -> String {
    app.client(NewClient {
        name: "SPA".into(),
        profile: Some(Profile::Spa),
        redirect_uris: vec!["https://app.example/cb".into()],
        ..Default::default()
    })
    .await
    .0
}

/// Signs alice in for `client_id` and redeems the code; returns the token response.
pub(crate) async fn tokens(app: &TestApp, client_id: &str, secret: &str, scope: &str) -> Value {
    let browser = app.browser();
    let url = app.url(&format!(
        "/oauth2/authorize?client_id={client_id}&{CB}&response_type=code&scope={scope}\
         &code_challenge={CHALLENGE}&code_challenge_method=S256"
    ));
    let code = param(&browser.sign_in(app, &url, "alice").await, "code").unwrap();
    let body = format!("grant_type=authorization_code&code={code}&{CB}&code_verifier={VERIFIER}");
    let r = token(app, client_id, secret, &body).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// POST to the token endpoint: Basic auth for confidential clients, `client_id` only in
/// the body for public ones.
async fn token(app: &TestApp, id: &str, secret: &str, body: &str) -> reqwest::Response {
    let req = app
        .http
        .post(app.url("/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded");
    let req = if secret.is_empty() {
        req.body(format!("{body}&client_id={id}"))
    } else {
        req.basic_auth(id, Some(secret)).body(body.to_owned())
    };
    req.send().await.unwrap()
}

pub(crate) async fn refresh(
    app: &TestApp,
    id: &str,
    secret: &str,
    rt: &str,
    extra: &str,
) -> reqwest::Response {
    token(
        app,
        id,
        secret,
        &format!("grant_type=refresh_token&refresh_token={rt}{extra}"),
    )
    .await
}

pub(crate) fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_owned()
}

#[tokio::test]
async fn public_refresh_tokens_rotate_and_a_late_reuse_revokes_the_family() {
    // Checklist G1, G3 (outside the window), G10. A 1-second retry window keeps it short.
    let app = spawn_with(|p| valet_server::config::Partial {
        refresh_retry_window: Some(1),
        ..p
    })
    .await;
    app.user("alice").await;
    let id = spa(&app).await;
    let t = tokens(&app, &id, "", "openid+offline_access").await;
    let rt1 = s(&t, "refresh_token");
    let r = refresh(&app, &id, "", &rt1, "").await;
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.unwrap();
    let rt2 = s(&t2, "refresh_token");
    assert_ne!(rt1, rt2, "a public client's refresh token rotates");
    let at2 = s(&t2, "access_token");

    // Outside the window: two seconds after the rotation on the node's clock.
    app.clock.advance(2);
    let replay = refresh(&app, &id, "", &rt1, "").await;
    assert_oauth_error(replay, 400, "invalid_grant").await;
    // The whole family is gone: the successor and its access token.
    assert_oauth_error(refresh(&app, &id, "", &rt2, "").await, 400, "invalid_grant").await;
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&at2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_retry_within_the_window_gets_the_same_pair() {
    // The user-flow issue's "rotation that does not log people out"; G3 inside the window.
    let app = spawn_app().await;
    app.user("alice").await;
    let id = spa(&app).await;
    let rt1 = s(&tokens(&app, &id, "", "openid").await, "refresh_token");
    let first: Value = refresh(&app, &id, "", &rt1, "").await.json().await.unwrap();
    let second: Value = refresh(&app, &id, "", &rt1, "").await.json().await.unwrap();
    assert_eq!(first, second, "a retry gets the very same response");
    // And the family lives on.
    let r = refresh(&app, &id, "", &s(&first, "refresh_token"), "").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn concurrent_refreshes_never_fork_the_family() {
    // Checklist G2, with and without the retry window.
    for window in [0, 10] {
        let app = spawn_with(|p| valet_server::config::Partial {
            refresh_retry_window: Some(window),
            ..p
        })
        .await;
        app.user("alice").await;
        let id = spa(&app).await;
        let rt = s(&tokens(&app, &id, "", "openid").await, "refresh_token");
        let mut racers = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (http, url) = (app.http.clone(), app.url("/oauth2/token"));
            let body = format!("grant_type=refresh_token&refresh_token={rt}&client_id={id}");
            racers.spawn(async move {
                let r = http
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            });
        }
        let results = racers.join_all().await;
        let successors: std::collections::HashSet<String> = results
            .iter()
            .filter(|(status, _)| *status == 200)
            .map(|(_, b)| s(b, "refresh_token"))
            .collect();
        assert_eq!(
            successors.len(),
            1,
            "one family continues (window {window})"
        );
        if window == 0 {
            let ok = results.iter().filter(|(st, _)| *st == 200).count();
            assert_eq!(ok, 1, "without a window exactly one refresh succeeds");
        }
    }
}

#[tokio::test]
async fn refresh_tokens_are_bound_narrow_only_and_die_with_revocation() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let (other, other_secret) = app.web_client().await;
    let t = tokens(&app, &id, &secret, "openid+profile+email").await;
    let rt = s(&t, "refresh_token");

    // G4: another client's credentials.
    assert_oauth_error(
        refresh(&app, &other, &other_secret, &rt, "").await,
        400,
        "invalid_grant",
    )
    .await;
    // G5: narrowing is fine, widening is invalid_scope.
    let narrow: Value = refresh(&app, &id, &secret, &rt, "&scope=openid")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(narrow["scope"], "openid");
    assert_oauth_error(
        refresh(&app, &id, &secret, &rt, "&scope=openid+phone").await,
        400,
        "invalid_scope",
    )
    .await;
    // G10: a confidential client's token is not rotated by default; it keeps working.
    assert_eq!(s(&narrow, "refresh_token"), rt);
    assert_eq!(refresh(&app, &id, &secret, &rt, "").await.status(), 200);

    // RFC 7662: introspection understands refresh tokens too; another public client may not.
    let seen = app.introspect(&id, &secret, &rt).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["token_type"], "refresh_token");
    assert_eq!(seen["scope"], "openid profile email");
    assert_eq!(seen["client_id"], id.as_str());
    // Another (confidential) application may introspect access tokens, never a refresh
    // token that is not its own.
    assert_eq!(
        app.introspect(&other, &other_secret, &rt).await,
        serde_json::json!({"active": false})
    );

    // G7, L7: revoking the refresh token ends it and the grant's access tokens.
    let access = s(&t, "access_token");
    let r = app
        .post("/oauth2/revoke", &id, &secret, &format!("token={rt}"))
        .await;
    assert_eq!(r.status(), 200);
    assert_oauth_error(
        refresh(&app, &id, &secret, &rt, "").await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(app.introspect(&id, &secret, &access).await["active"], false);

    // D8: a code or garbage as a refresh token.
    assert_oauth_error(
        refresh(&app, &id, &secret, "x", "").await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn expired_refresh_tokens_are_invalid_grant() {
    // Checklist G6.
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let rt = s(&tokens(&app, &id, &secret, "openid").await, "refresh_token");
    let path = app.sqlite_path();
    rusqlite::Connection::open(path)
        .unwrap()
        .execute("UPDATE refresh_tokens SET expires_at = 1", [])
        .unwrap();
    assert_oauth_error(
        refresh(&app, &id, &secret, &rt, "").await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn the_admin_revokes_every_grant_of_an_application() {
    let app = spawn_app().await;
    app.user("alice").await;
    app.api().await;
    let (id, secret) = app.web_client().await;
    let t = tokens(&app, &id, &secret, "openid").await;
    let (admin_id, admin_secret) = app.service(&["valet:admin"]).await;
    let admin_token = app.token(&admin_id, &admin_secret).await;
    let r = app
        .http
        .delete(app.url(&format!("/admin/api/clients/{id}/grants")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["revoked"], 1);
    assert_oauth_error(
        refresh(&app, &id, &secret, &s(&t, "refresh_token"), "").await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        app.introspect(&id, &secret, &s(&t, "access_token")).await["active"],
        false
    );
    // The consent is forgotten too: the next sign-in asks again.
    let browser = app.browser();
    let p = browser.get(&app.authorize_url(&id, "")).await;
    let p = browser.login(&app, &p, "alice", PASSWORD).await;
    assert!(p.body.contains("value=\"allow\""), "consent is asked again");
}

#[tokio::test]
async fn the_password_grant_is_opt_in_and_throttled() {
    // Checklist H1.
    let app = spawn_app().await;
    app.user("alice").await;
    let (plain, plain_secret) = app.web_client().await;
    let body = format!(
        "grant_type=password&username=alice&password={}",
        PASSWORD.replace(' ', "+")
    );
    assert_oauth_error(
        token(&app, &plain, &plain_secret, &body).await,
        400,
        "unauthorized_client",
    )
    .await;

    let (id, secret) = app
        .client(NewClient {
            name: "Legacy".into(),
            profile: Some(Profile::Web),
            redirect_uris: vec!["https://app.example/cb".into()],
            grant_types: Some(vec![GrantType::Password, GrantType::RefreshToken]),
            ..Default::default()
        })
        .await;
    let r = token(&app, &id, &secret, &format!("{body}&scope=openid")).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert!(t.get("refresh_token").is_some());
    assert!(t.get("id_token").is_some());

    // An unknown user and a wrong password: the same answer.
    let wrong = token(
        &app,
        &id,
        &secret,
        "grant_type=password&username=alice&password=nope-nope",
    )
    .await;
    let unknown = token(
        &app,
        &id,
        &secret,
        "grant_type=password&username=mallory&password=nope-nope",
    )
    .await;
    let wrong = assert_oauth_error(wrong, 400, "invalid_grant").await;
    let unknown = assert_oauth_error(unknown, 400, "invalid_grant").await;
    assert_eq!(wrong, unknown);
    // Ten failures for the account, then 429 even with the right password.
    for _ in 0..9 {
        token(
            &app,
            &id,
            &secret,
            "grant_type=password&username=alice&password=nope-nope",
        )
        .await;
    }
    let r = token(&app, &id, &secret, &body).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn userinfo_follows_rfc_6750() {
    // Checklist J8.
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let t = tokens(&app, &id, &secret, "openid+email").await;
    let at = s(&t, "access_token");
    let get = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let info: Value = get.json().await.unwrap();
    assert_eq!(info["email"], "alice@example.com");
    assert!(info.get("name").is_none(), "profile was not granted");
    let post = app
        .http
        .post(app.url("/userinfo"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token={at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.json::<Value>().await.unwrap(), info);
    let in_query = app
        .http
        .get(app.url(&format!("/userinfo?access_token={at}")))
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status(), 400);
    let missing = app.http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert!(
        missing.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    // A token without openid: 403 insufficient_scope.
    let t = tokens(&app, &id, &secret, "profile").await;
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(s(&t, "access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}

#[tokio::test]
async fn cors_answers_only_registered_origins() {
    let app = spawn_app().await;
    spa(&app).await;
    let preflight = |origin: &'static str, path: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let r = preflight("https://app.example", "/oauth2/token")
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let r = preflight("https://evil.example", "/oauth2/token")
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // Checklist A11: never on the authorization endpoint or the pages.
    for path in ["/oauth2/authorize", "/login"] {
        let r = app
            .http
            .get(app.url(path))
            .header("origin", "https://app.example")
            .send()
            .await
            .unwrap();
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "{path}"
        );
    }
    let r = app
        .http
        .get(app.url("/oauth2/jwks"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
}
