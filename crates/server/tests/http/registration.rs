//! Dynamic client registration (RFC 7591, RFC 7592; issue 14): a self-registered MCP-style
//! client completes the code flow with the `oauth2` crate; the configuration endpoint;
//! initial access tokens; error codes; discovery. The firewall (dedupe, throttle, flood,
//! expiry, quarantine) is in `registration_firewall.rs`.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};
use serde_json::{Value, json};
use valet_protocol::application::Origin;

use crate::flow::param;
use crate::harness::{TestApp, assert_oauth_error, spawn_app, spawn_with};

/// What the MCP TypeScript SDK sends (issue 14's contract).
pub fn mcp_body() -> Value {
    json!({
        "redirect_uris": ["http://localhost:3000/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "MCP Inspector",
        "application_type": "native",
        "scope": "openid",
    })
}

impl TestApp {
    /// `POST /oauth2/register` with `body`, and an initial access token if given.
    pub async fn register(&self, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut r = self.http.post(self.url("/oauth2/register")).json(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.unwrap()
    }

    /// Registers `body` and returns the 201 response's JSON.
    pub async fn registered(&self, body: &Value, token: Option<&str>) -> Value {
        let r = self.register(body, token).await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["cache-control"], "no-store");
        r.json().await.unwrap()
    }

    pub async fn initial_token(&self, uses: Option<u32>) -> String {
        let t = self
            .admin
            .create_initial_access_token(None, uses, self.now())
            .await
            .unwrap();
        t.expose().to_owned()
    }

    /// An RFC 7592 request to the registration's `registration_client_uri`.
    pub async fn configure(
        &self,
        method: reqwest::Method,
        reg: &Value,
        token: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let uri = reg["registration_client_uri"].as_str().unwrap();
        let mut r = self.http.request(method, uri).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(b);
        }
        r.send().await.unwrap()
    }
}

#[tokio::test]
async fn an_mcp_client_registers_then_signs_a_user_in_with_pkce_and_refreshes() {
    let app = spawn_app().await;
    app.api().await;
    let sub = app.user("alice").await;
    let mut body = mcp_body();
    // API scopes in `scope`, as the SDK sends them (the contract).
    body["scope"] = json!("openid api:read");
    let reg = app.registered(&body, None).await;
    let id = reg["client_id"].as_str().unwrap().to_owned();
    assert_eq!(reg["scope"], "openid api:read");
    assert_eq!(reg["token_endpoint_auth_method"], "none");
    assert_eq!(reg["application_type"], "native");
    assert!(reg.get("client_secret").is_none());
    assert_eq!(reg["client_id_issued_at"], app.now());
    assert_eq!(
        reg["registration_client_uri"],
        app.url(&format!("/oauth2/register/{id}"))
    );
    let stored = app.store.client(&id).await.unwrap().unwrap();
    assert_eq!(stored.app.registration.origin, Origin::Dynamic);
    assert!(!stored.app.trusted);

    // The SDK's callback listens on another port this time (RFC 8252 §7.3).
    let redirect = "http://localhost:54321/callback";
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_auth_uri(AuthUrl::new(app.url("/oauth2/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/oauth2/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("api:read".into()))
        .add_extra_param("resource", "https://api.example")
        .set_pkce_challenge(challenge)
        .url();
    let browser = app.browser();
    // Never trusted: the consent page shows (sign_in answers it).
    let mut p = browser.get(url.as_str()).await;
    p = browser
        .login(&app, &p, "alice", crate::flow::PASSWORD)
        .await;
    assert!(p.body.contains("value=\"allow\""), "a consent page");
    let location = browser.consent(&app, &p, "allow").await.location().unwrap();
    assert!(location.starts_with(redirect), "{location}");
    assert_eq!(param(&location, "state").unwrap(), *state.secret());
    let tokens = client
        .exchange_code(AuthorizationCode::new(param(&location, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&app.http)
        .await
        .unwrap();
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&app.http)
        .await
        .unwrap();
    let claims: Value = {
        let t = refreshed.access_token().secret();
        let payload = t.split('.').nth(1).unwrap();
        serde_json::from_slice(&valet_server::crypto::unb64(payload).unwrap()).unwrap()
    };
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["aud"], "https://api.example");
    // Its last use was recorded (once: a second issuance within the hour writes nothing).
    let r = app.store.registration(&id).await.unwrap().unwrap();
    assert_eq!(r.last_used_at, Some(app.now()));
    assert_eq!(
        r.expires_at,
        app.now() + app.settings.registration.unused_ttl
    );
}

#[tokio::test]
async fn both_discovery_documents_advertise_the_endpoint_unless_registration_is_off() {
    let app = spawn_app().await;
    for doc in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let m: Value = app
            .http
            .get(app.url(doc))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            m["registration_endpoint"],
            app.url("/oauth2/register"),
            "{doc}"
        );
    }
    let off = spawn_with(|p| valet_server::config::Partial {
        registration: Some("off".into()),
        ..p
    })
    .await;
    let m: Value = off
        .http
        .get(off.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(m.get("registration_endpoint").is_none());
    assert_eq!(off.register(&mcp_body(), None).await.status(), 404);
    assert!(off.store.clients().await.unwrap().is_empty());
}

#[tokio::test]
async fn rfc_7592_read_update_delete_with_the_registration_access_token() {
    let app = spawn_app().await;
    let reg = app.registered(&mcp_body(), None).await;
    let token = reg["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    use reqwest::Method;

    // §2.1 read: the registration as it stands, no-store.
    let r = app.configure(Method::GET, &reg, &token, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let read: Value = r.json().await.unwrap();
    assert_eq!(read["client_id"], reg["client_id"]);
    assert_eq!(read["redirect_uris"], reg["redirect_uris"]);

    // A wrong, absent or other scheme's token: 401 invalid_token, the same for an
    // application that does not exist (nothing tells them apart).
    let r = app.configure(Method::GET, &reg, "wrong", None).await;
    let wrong = assert_oauth_error(r, 401, "invalid_token").await;
    let nobody = json!({"registration_client_uri": app.url("/oauth2/register/nobody")});
    let r = app.configure(Method::GET, &nobody, &token, None).await;
    assert_eq!(assert_oauth_error(r, 401, "invalid_token").await, wrong);
    let r = app
        .http
        .get(reg["registration_client_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_oauth_error(r, 401, "invalid_token").await;

    // §2.2 update: replaces the registration, rotates the token.
    let mut body = mcp_body();
    body["client_id"] = reg["client_id"].clone();
    body["client_name"] = json!("Renamed");
    let r = app.configure(Method::PUT, &reg, &token, Some(&body)).await;
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["client_name"], "Renamed");
    let new_token = updated["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_token, token);
    let r = app.configure(Method::GET, &reg, &token, None).await;
    assert_oauth_error(r, 401, "invalid_token").await;
    // An update naming another client_id, or an invalid one, changes nothing.
    let mut other = body.clone();
    other["client_id"] = json!("someone-else");
    let r = app
        .configure(Method::PUT, &reg, &new_token, Some(&other))
        .await;
    assert_oauth_error(r, 400, "invalid_request").await;
    let mut bad = body.clone();
    bad["redirect_uris"] = json!(["https://app.example/cb#frag"]);
    let r = app
        .configure(Method::PUT, &reg, &new_token, Some(&bad))
        .await;
    assert_oauth_error(r, 400, "invalid_redirect_uri").await;
    let mut to_secret = body.clone();
    to_secret["token_endpoint_auth_method"] = json!("client_secret_basic");
    let r = app
        .configure(Method::PUT, &reg, &new_token, Some(&to_secret))
        .await;
    assert_oauth_error(r, 400, "invalid_client_metadata").await;
    let id = reg["client_id"].as_str().unwrap();
    assert_eq!(
        app.store.client(id).await.unwrap().unwrap().app.name,
        "Renamed"
    );

    // §2.3 delete: 204, then the application and its token are gone.
    let r = app.configure(Method::DELETE, &reg, "wrong", None).await;
    assert_oauth_error(r, 401, "invalid_token").await;
    let r = app.configure(Method::DELETE, &reg, &new_token, None).await;
    assert_eq!(r.status(), 204);
    assert!(app.store.client(id).await.unwrap().is_none());
    let r = app.configure(Method::GET, &reg, &new_token, None).await;
    assert_oauth_error(r, 401, "invalid_token").await;
}

#[tokio::test]
async fn confidential_registrations_need_an_initial_access_token_and_then_authenticate() {
    let app = spawn_app().await;
    let body = json!({"redirect_uris": ["https://app.example/cb"], "client_name": "Web"});
    // RFC 7591 §2: no method means client_secret_basic, a confidential client.
    let r = app.register(&body, None).await;
    assert_oauth_error(r, 401, "invalid_token").await;
    let r = app.register(&body, Some("made-up")).await;
    assert_oauth_error(r, 401, "invalid_token").await;
    assert!(app.store.clients().await.unwrap().is_empty());

    let token = app.initial_token(Some(2)).await;
    assert!(!format!("{token:?}").is_empty());
    let basic = app.registered(&body, Some(&token)).await;
    assert_eq!(basic["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(basic["client_secret_expires_at"], 0);
    let (id, secret) = (
        basic["client_id"].as_str().unwrap(),
        basic["client_secret"].as_str().unwrap(),
    );
    // The secret authenticates (introspection is an authenticated endpoint).
    let r = app.post("/oauth2/introspect", id, secret, "token=x").await;
    assert_eq!(r.status(), 200);
    let r = app.post("/oauth2/introspect", id, "wrong", "token=x").await;
    assert_oauth_error(r, 401, "invalid_client").await;

    let mut post_body = body.clone();
    post_body["token_endpoint_auth_method"] = json!("client_secret_post");
    let post = app.registered(&post_body, Some(&token)).await;
    let form = format!(
        "token=x&client_id={}&client_secret={}",
        post["client_id"].as_str().unwrap(),
        post["client_secret"].as_str().unwrap()
    );
    let r = app
        .http
        .post(app.url("/oauth2/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Two uses: the third is refused and writes nothing.
    let r = app.register(&body, Some(&token)).await;
    assert_oauth_error(r, 401, "invalid_token").await;
    assert_eq!(app.store.clients().await.unwrap().len(), 2);
}

#[tokio::test]
async fn token_mode_asks_every_registration_for_a_token() {
    let app = spawn_with(|p| valet_server::config::Partial {
        registration: Some("token".into()),
        ..p
    })
    .await;
    let r = app.register(&mcp_body(), None).await;
    assert_oauth_error(r, 401, "invalid_token").await;
    let token = app.initial_token(None).await;
    app.registered(&mcp_body(), Some(&token)).await;
}

#[tokio::test]
async fn bad_registrations_get_rfc_7591_errors_and_change_nothing() {
    let app = spawn_app().await;
    let uri = json!(["http://localhost:3000/callback"]);
    for (body, error) in [
        (
            json!({"token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb#x"], "token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://a.example/cb"], "token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": uri, "token_endpoint_auth_method": "none", "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": uri, "token_endpoint_auth_method": "none", "scope": "valet:admin"}),
            "invalid_client_metadata",
        ),
        // private_key_jwt without keys (jwks or jwks_uri) cannot authenticate.
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ] {
        let r = app.register(&body, None).await;
        let e = assert_oauth_error(r, 400, error).await;
        assert!(!e["error_description"].as_str().unwrap().is_empty());
    }
    let r = app
        .http
        .post(app.url("/oauth2/register"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("redirect_uris=x")
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, 400, "invalid_request").await;
    let r = app
        .http
        .post(app.url("/oauth2/register"))
        .header("content-type", "application/json")
        .body(vec![b' '; 70 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = app
        .http
        .get(app.url("/oauth2/register"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(app.store.clients().await.unwrap().is_empty());
}
