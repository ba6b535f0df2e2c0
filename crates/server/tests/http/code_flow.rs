//! The authorization code flow end to end with the `openidconnect` crate as the relying
//! party (a certified-style client nobody here wrote): discovery, PKCE, sign-in and
//! consent, code exchange, ID token validation (signature, nonce, at_hash), UserInfo,
//! refresh. Then the token-endpoint rules of checklist D and E that need a real code.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

use crate::flow::{REDIRECT, param};
use crate::harness::{TestApp, assert_oauth_error, spawn_app};

type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A relying party configured from Valet's discovery document.
async fn rp(app: &TestApp, id: &str, secret: &str) -> Rp {
    let issuer = IssuerUrl::new(app.settings.issuer.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &app.http)
        .await
        .unwrap();
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(id.to_owned()),
        Some(ClientSecret::new(secret.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
}

#[tokio::test]
async fn openid_connect_code_flow_with_the_openidconnect_crate() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let client = rp(&app, &id, &secret).await;

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = app.browser();
    let location = browser.sign_in(&app, url.as_str(), "alice").await;
    assert!(location.starts_with(REDIRECT));
    assert_eq!(
        param(&location, "state").as_deref(),
        Some(state.secret().as_str())
    );
    // RFC 9207 (checklist A12).
    assert_eq!(param(&location, "iss"), Some(app.settings.issuer.clone()));
    let code = param(&location, "code").unwrap();
    // Checklist D6: 256 bits, base64url.
    assert_eq!(code.len(), 43);

    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&app.http)
        .await
        .unwrap();
    let id_token = tokens
        .id_token()
        .expect("an OIDC request yields an ID token (D7)");
    let id_verifier = client.id_token_verifier();
    let claims = id_token.claims(&id_verifier, &nonce).unwrap();
    assert_eq!(claims.subject().as_str(), sub);
    assert_eq!(claims.issuer().as_str(), app.settings.issuer);
    assert!(claims.auth_time().is_some());
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    assert!(tokens.refresh_token().is_some());
    assert_eq!(tokens.expires_in().unwrap().as_secs(), 600);

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().to_owned(), None)
        .unwrap()
        .request_async(&app.http)
        .await
        .unwrap();
    // Checklist J8: same sub as the ID token; the scopes' claims.
    assert_eq!(info.subject().as_str(), sub);
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));

    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&app.http)
        .await
        .unwrap();
    assert_ne!(
        refreshed.access_token().secret(),
        tokens.access_token().secret()
    );

    // The access token is Valet's own JWT (RFC 9068) for the user.
    let introspected = app
        .introspect(&id, &secret, refreshed.access_token().secret())
        .await;
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["sub"], sub.as_str());
    assert_eq!(introspected["client_id"], id.as_str());
}

/// Runs a sign-in and returns the code, for token-endpoint tests.
async fn code_for(app: &TestApp, client_id: &str, extra: &str) -> String {
    let browser = app.browser();
    let location = browser
        .sign_in(app, &app.authorize_url(client_id, extra), "alice")
        .await;
    param(&location, "code").unwrap()
}

async fn exchange(app: &TestApp, id: &str, secret: &str, body: &str) -> reqwest::Response {
    app.post(
        "/oauth2/token",
        id,
        secret,
        &format!("grant_type=authorization_code&{body}"),
    )
    .await
}

const CB: &str = "redirect_uri=https%3A%2F%2Fapp.example%2Fcb";

#[tokio::test]
async fn a_code_works_once_and_a_replay_revokes_what_it_issued() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let code = code_for(&app, &id, "").await;
    let r = exchange(&app, &id, &secret, &format!("code={code}&{CB}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let first: Value = r.json().await.unwrap();
    let access = first["access_token"].as_str().unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    assert_eq!(app.introspect(&id, &secret, access).await["active"], true);

    // Checklist D1: a second use fails and revokes the first use's tokens.
    let again = exchange(&app, &id, &secret, &format!("code={code}&{CB}")).await;
    assert_oauth_error(again, 400, "invalid_grant").await;
    assert_eq!(
        app.introspect(&id, &secret, access).await,
        serde_json::json!({"active": false})
    );
    let r = app
        .post(
            "/oauth2/token",
            &id,
            &secret,
            &format!("grant_type=refresh_token&refresh_token={refresh}"),
        )
        .await;
    assert_oauth_error(r, 400, "invalid_grant").await;
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn fifty_concurrent_exchanges_of_one_code_yield_one_token() {
    // Checklist D2.
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let code = code_for(&app, &id, "").await;
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (http, url) = (app.http.clone(), app.url("/oauth2/token"));
        let (id, secret) = (id.clone(), secret.clone());
        let body = format!("grant_type=authorization_code&code={code}&{CB}");
        racers.spawn(async move {
            http.post(url)
                .basic_auth(id, Some(secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses = racers.join_all().await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "exactly one redemption wins: {statuses:?}"
    );
}

#[tokio::test]
async fn codes_are_bound_to_client_redirect_uri_and_pkce() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let (other, other_secret) = app.web_client().await;

    // D3: another client's valid credentials.
    let code = code_for(&app, &id, "").await;
    let r = exchange(&app, &other, &other_secret, &format!("code={code}&{CB}")).await;
    assert_oauth_error(r, 400, "invalid_grant").await;

    // D4: missing or different redirect_uri.
    let code = code_for(&app, &id, "").await;
    assert_oauth_error(
        exchange(&app, &id, &secret, &format!("code={code}")).await,
        400,
        "invalid_grant",
    )
    .await;
    let code = code_for(&app, &id, "").await;
    let r = exchange(
        &app,
        &id,
        &secret,
        &format!("code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%2F"),
    )
    .await;
    assert_oauth_error(r, 400, "invalid_grant").await;

    // D6, D8: garbage and an access token as a code.
    for bogus in ["x", &"A".repeat(43)] {
        let r = exchange(&app, &id, &secret, &format!("code={bogus}&{CB}")).await;
        assert_oauth_error(r, 400, "invalid_grant").await;
    }

    // E4: a verifier without a challenge (downgrade).
    let code = code_for(&app, &id, "").await;
    let verifier = PkceCodeVerifier::new("a".repeat(43));
    let r = exchange(
        &app,
        &id,
        &secret,
        &format!("code={code}&{CB}&code_verifier={}", verifier.secret()),
    )
    .await;
    assert_oauth_error(r, 400, "invalid_grant").await;

    // E1-E3, E5 with a challenge; E9: a confidential client using PKCE succeeds.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let with_pkce = format!(
        "&code_challenge={}&code_challenge_method=S256",
        challenge.as_str()
    );
    for bad in [
        String::new(),
        format!("&code_verifier={}", "a".repeat(42)),
        format!("&code_verifier={}", "a".repeat(129)),
        format!("&code_verifier={}%2B", "a".repeat(43)),
        format!("&code_verifier={}", "b".repeat(64)),
    ] {
        let code = code_for(&app, &id, &with_pkce).await;
        let r = exchange(&app, &id, &secret, &format!("code={code}&{CB}{bad}")).await;
        assert_oauth_error(r, 400, "invalid_grant").await;
        // E3 hardening: the code is burned by the failed attempt.
        let retry = exchange(
            &app,
            &id,
            &secret,
            &format!("code={code}&{CB}&code_verifier={}", verifier.secret()),
        )
        .await;
        assert_oauth_error(retry, 400, "invalid_grant").await;
    }
    let code = code_for(&app, &id, &with_pkce).await;
    let r = exchange(
        &app,
        &id,
        &secret,
        &format!("code={code}&{CB}&code_verifier={}", verifier.secret()),
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_plain_oauth_code_yields_no_id_token() {
    // Checklist D7.
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let browser = app.browser();
    let url = app.url(&format!(
        "/oauth2/authorize?client_id={id}&{CB}&response_type=code&scope=profile"
    ));
    let code = param(&browser.sign_in(&app, &url, "alice").await, "code").unwrap();
    let r = exchange(&app, &id, &secret, &format!("code={code}&{CB}")).await;
    let body: Value = r.json().await.unwrap();
    assert!(body.get("id_token").is_none(), "{body}");
    assert_eq!(body["scope"], "profile");
}

#[tokio::test]
async fn expired_codes_are_invalid_grant() {
    // Checklist D5: codes live 60 s. Backdate one through the store.
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let code = code_for(&app, &id, "").await;
    let db = rusqlite::Connection::open(app.sqlite_path()).unwrap();
    db.execute(
        "UPDATE authorization_codes SET expires_at = expires_at - 61",
        [],
    )
    .unwrap();
    let r = exchange(&app, &id, &secret, &format!("code={code}&{CB}")).await;
    assert_oauth_error(r, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_users_access_token_is_for_the_api_the_resource_names() {
    // Issue 3, item 8: the token's `aud` is the API; RFC 8707 `resource` selects it.
    let app = spawn_app().await;
    app.api().await;
    app.user("alice").await;
    let (id, secret) = app
        .client(valet_server::admin::NewClient {
            name: "Reports".into(),
            profile: Some(valet_protocol::application::Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            scopes: Some(vec!["openid".into(), "api:read".into()]),
            ..Default::default()
        })
        .await;
    let url = app.url(&format!(
        "/oauth2/authorize?client_id={id}&{CB}&response_type=code&scope=openid+api%3Aread\
         &resource=https%3A%2F%2Fapi.example"
    ));
    let browser = app.browser();
    let location = browser.sign_in(&app, &url, "alice").await;
    let code = param(&location, "code").unwrap();
    let body: Value = exchange(&app, &id, &secret, &format!("code={code}&{CB}"))
        .await
        .json()
        .await
        .unwrap();
    let seen = app
        .introspect(&id, &secret, body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(seen["aud"], "https://api.example");
    assert_eq!(seen["scope"], "openid api:read");
    // A resource the application holds no scope for is refused at the authorization
    // endpoint, back at the registered redirect URI.
    let url = app.url(&format!(
        "/oauth2/authorize?client_id={id}&{CB}&response_type=code&scope=openid\
         &resource=https%3A%2F%2Fother.example"
    ));
    let p = browser.get(&url).await;
    assert_eq!(p.status, 303);
    assert_eq!(
        param(&p.location().unwrap(), "error").as_deref(),
        Some("invalid_target")
    );
}
