//! A live Valet for one test (over TLS on a random port, fresh SQLite file), the way
//! `crates/server/tests/http/harness.rs` spawns it, and a small API protected by this
//! crate, called in-process through tower.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;
use valet_jose::Algorithm;
use valet_protocol::application::{GrantType, Profile};
use valet_protocol::audience::ApiScope;
use valet_resource::{Authenticated, Config, ScopeName, Scoped, Validator};
use valet_server::admin::{Actor, Admin, NewClient, NewUser};
use valet_server::config::{Partial, Settings};
use valet_server::crypto::{MasterKey, Sealer};
use valet_server::{Clock, SystemClock, Valet, keyring, open_store};
use valet_store::Store;

pub const API: &str = "https://api.example";
pub const OTHER_API: &str = "https://other.example";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub admin: Admin,
    pub store: Arc<dyn Store>,
    pub sealer: Sealer,
    pub settings: Settings,
    /// The API's own confidential application (client_id, secret): named as the
    /// introspector of `API` and `OTHER_API`, as `valet api create --introspector` does.
    pub introspector: (String, String),
    _dir: tempfile::TempDir,
}

/// Now, in Unix seconds: the node here runs on the system clock (`Valet::build_on`).
pub fn now() -> i64 {
    SystemClock.now()
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|p| p).await
}

pub async fn spawn_with(tweak: impl FnOnce(Partial) -> Partial) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = cert.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let partial = Partial {
        issuer: Some(format!("https://localhost:{port}")),
        database: Some(format!(
            "sqlite://{}",
            dir.path().join("valet.db").display()
        )),
        master_key_file: Some(dir.path().join("valet.master-key")),
        tls_cert: Some(dir.path().join("cert.pem")),
        tls_key: Some(dir.path().join("key.pem")),
        cache_ttl: Some(0),
        ..Default::default()
    };
    let settings = Settings::resolve(tweak(partial)).unwrap();
    let key = MasterKey::generate().unwrap();
    let valet = Valet::build_on(settings.clone(), key.clone(), listener)
        .await
        .unwrap();
    tokio::spawn(valet.run());
    let store = open_store(&settings).await.unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], port)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut app = TestApp {
        base: format!("https://localhost:{port}"),
        http,
        admin: Admin::new(store.clone(), key.secret_hasher(), Actor::cli()),
        store,
        sealer: key.sealer().unwrap(),
        settings,
        introspector: (String::new(), String::new()),
        _dir: dir,
    };
    app.introspector = app.service(&[]).await;
    for (audience, scopes) in [
        (API, ["api:read", "api:write"]),
        (OTHER_API, ["other:read", "other:write"]),
    ] {
        let scopes = scopes
            .iter()
            .map(|s| ApiScope {
                name: (*s).into(),
                description: format!("{s} things"),
            })
            .collect();
        app.admin
            .create_api(
                valet_server::admin::NewApi {
                    name: None,
                    audience: audience.into(),
                    scopes,
                    access_token_format: Default::default(),
                    introspectors: vec![app.introspector.0.clone()],
                    token_exchange: vec![],
                },
                now(),
            )
            .await
            .unwrap();
    }
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The configuration of a validator for `API` that trusts this node's certificate.
    pub fn config(&self) -> Config {
        Config::new(&self.settings.issuer, API)
            .http_client(self.http.clone())
            .scopes_supported(["api:read", "api:write"])
    }

    pub async fn validator(&self) -> Validator {
        Validator::new(self.config()).await.unwrap()
    }

    /// A service application allowed `scopes`; returns (client_id, client_secret).
    pub async fn service(&self, scopes: &[&str]) -> (String, String) {
        self.client(NewClient {
            name: "svc".into(),
            profile: Some(Profile::Service),
            scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
            ..Default::default()
        })
        .await
    }

    pub async fn client(&self, new: NewClient) -> (String, String) {
        let c = self.admin.create_client(new, now()).await.unwrap();
        let secret = c
            .client_secret
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        (c.app.client_id, secret)
    }

    pub async fn post(&self, path: &str, id: &str, secret: &str, body: &str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// A client_credentials access token.
    pub async fn token(&self, id: &str, secret: &str) -> String {
        let r = self
            .post("/oauth2/token", id, secret, "grant_type=client_credentials")
            .await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A user's tokens from Valet itself (password grant: the one user flow that needs
    /// no browser): `access_token`, `id_token` and `refresh_token` for `scope`.
    pub async fn user_tokens(&self, scope: &str) -> Value {
        self.admin
            .create_user(
                NewUser {
                    username: "alice".into(),
                    password: PASSWORD.into(),
                    claims: Default::default(),
                },
                now(),
            )
            .await
            .unwrap();
        let (id, secret) = self
            .client(NewClient {
                name: "Legacy".into(),
                profile: Some(Profile::Web),
                redirect_uris: vec!["https://app.example/cb".into()],
                grant_types: Some(vec![GrantType::Password, GrantType::RefreshToken]),
                scopes: Some(vec!["api:read".into()]),
                ..Default::default()
            })
            .await;
        let body = format!(
            "grant_type=password&username=alice&password={}&scope={}",
            PASSWORD.replace(' ', "+"),
            scope.replace(' ', "+")
        );
        let r = self.post("/oauth2/token", &id, &secret, &body).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Signs `claims` with Valet's own current key of `alg`: tokens a bug or an
    /// attacker holding a signing oracle might present.
    pub async fn sign(&self, alg: Algorithm, typ: &str, claims: &Value) -> String {
        let snapshot = keyring::load_or_generate(self.store.as_ref(), &self.sealer, now())
            .await
            .unwrap();
        snapshot
            .signer(alg, now())
            .unwrap()
            .sign(typ, claims)
            .unwrap()
    }

    /// Valet's published JWKs.
    pub async fn jwks(&self) -> Vec<Value> {
        let r = self
            .http
            .get(self.url("/oauth2/jwks"))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["keys"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// The claims Valet itself would put in a token for `API`, issued now.
    pub fn claims(&self) -> Value {
        let now = now();
        json!({
            "iss": self.settings.issuer, "sub": "svc", "aud": API,
            "exp": now + 600, "iat": now, "nbf": now, "jti": format!("j{now}"),
            "client_id": "svc", "scope": "api:read"
        })
    }
}

pub struct ApiWrite;

impl ScopeName for ApiWrite {
    const SCOPE: &'static str = "api:write";
}

/// A small API: `GET /read` needs `api:read` (the layer), `POST /write` needs
/// `api:write` (the `Scoped` extractor), `GET /me` any valid token (`Authenticated`).
pub fn api(validator: &Validator) -> Router {
    Router::new()
        .route(
            "/read",
            get(|Authenticated(c): Authenticated| async move { c.sub })
                .route_layer(validator.require(["api:read"])),
        )
        .route(
            "/write",
            post(|s: Scoped<ApiWrite>| async move { s.0.client_id }),
        )
        .route(
            "/me",
            get(|Authenticated(c): Authenticated| async move { c.sub }),
        )
        .merge(validator.metadata_router())
        .with_state(validator.clone())
}

/// Calls `router` in-process; returns status, `WWW-Authenticate` and body.
pub async fn call(
    router: &Router,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> (StatusCode, String, String) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let r = router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = r.status();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    (status, challenge, String::from_utf8(body.to_vec()).unwrap())
}

/// `call` with a bearer token.
pub async fn call_with(
    router: &Router,
    method: &str,
    path: &str,
    token: &str,
) -> (StatusCode, String, String) {
    call(router, method, path, Some(&format!("Bearer {token}"))).await
}
