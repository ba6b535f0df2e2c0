//! `spawn_app()`: a Valet node for one test, plus handles on its store and keys so tests
//! can set up state the way the CLI would (the CLI shares the database, not the process).

use oauth2::reqwest;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use valet_jose::Algorithm;
use valet_protocol::audience::ApiScope;
use valet_server::admin::{Actor, Admin, NewClient};
use valet_server::config::{Partial, Settings};
use valet_server::crypto::{MasterKey, Sealer};
use valet_server::{Clock, ManualClock, Valet, keyring, open_store};
use valet_store::Store;

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub admin: Admin,
    pub store: Arc<dyn Store>,
    pub sealer: Sealer,
    pub settings: Settings,
    pub master_key: MasterKey,
    pub cert_pem: String,
    pub port: u16,
    /// The node's clock: it stands still unless a test sets or advances it (a second node
    /// from `spawn_sharing` shares it).
    pub clock: Arc<ManualClock>,
    /// Where `/metrics` is served, when the test set `metrics_listen`.
    pub metrics: Option<SocketAddr>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// Now on the node's clock, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The node's SQLite file (these tests run on SQLite; PostgreSQL has its own suites).
    pub fn sqlite_path(&self) -> &std::path::Path {
        match &self.settings.database {
            valet_server::config::Database::Sqlite(path) => path,
            valet_server::config::Database::Postgres(_) => panic!("this test app runs on SQLite"),
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|p| p).await
}

pub async fn spawn_with(tweak: impl FnOnce(Partial) -> Partial) -> TestApp {
    spawn_inner(tweak, None).await
}

/// A second node over the same database and master key as `other`.
pub async fn spawn_sharing(other: &TestApp) -> TestApp {
    spawn_inner(|p| p, Some(other)).await
}

async fn spawn_inner(tweak: impl FnOnce(Partial) -> Partial, sharing: Option<&TestApp>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = cert.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let partial = Partial {
        // Nodes of one deployment share one issuer.
        issuer: Some(sharing.map_or_else(
            || format!("https://localhost:{port}"),
            |o| o.settings.issuer.clone(),
        )),
        database: Some(match sharing {
            Some(o) => format!("sqlite://{}", o.sqlite_path().display()),
            None => format!("sqlite://{}", dir.path().join("valet.db").display()),
        }),
        master_key_file: Some(dir.path().join("valet.master-key")),
        tls_cert: Some(dir.path().join("cert.pem")),
        tls_key: Some(dir.path().join("key.pem")),
        cache_ttl: Some(0),
        ..Default::default()
    };
    let settings = Settings::resolve(tweak(partial)).unwrap();
    let key = match sharing {
        Some(o) => o.master_key.clone(),
        None => MasterKey::generate().unwrap(),
    };
    let clock = match sharing {
        Some(o) => o.clock.clone(),
        None => Arc::new(ManualClock::at_system_time()),
    };
    let valet = Valet::build_with_clock(settings.clone(), key.clone(), listener, clock.clone())
        .await
        .unwrap();
    let metrics = valet.metrics_addr();
    tokio::spawn(valet.run());
    let store = open_store(&settings).await.unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], port)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        base: format!("https://localhost:{port}"),
        http,
        admin: Admin::new(store.clone(), key.secret_hasher(), Actor::cli()),
        store,
        sealer: key.sealer().unwrap(),
        settings,
        master_key: key,
        cert_pem,
        port,
        clock,
        metrics,
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn jwks(&self) -> Value {
        let r = self
            .http
            .get(self.url("/oauth2/jwks"))
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    /// Registers `https://api.example` with scopes `api:read` and `api:write`.
    pub async fn api(&self) {
        self.api_introspected_by(&[]).await;
    }

    /// Registers `https://api.example` like `api`, naming these applications its
    /// introspectors.
    pub async fn api_introspected_by(&self, introspectors: &[&str]) {
        let scopes = ["api:read", "api:write"]
            .iter()
            .map(|s| ApiScope {
                name: (*s).into(),
                description: format!("{s} things"),
            })
            .collect();
        self.admin
            .create_api(
                valet_server::admin::NewApi {
                    name: None,
                    audience: "https://api.example".into(),
                    scopes,
                    access_token_format: Default::default(),
                    introspectors: introspectors.iter().map(|s| (*s).to_owned()).collect(),
                    token_exchange: vec![],
                },
                self.now(),
            )
            .await
            .unwrap();
    }

    /// A service application allowed `scopes`; returns (client_id, client_secret).
    pub async fn service(&self, scopes: &[&str]) -> (String, String) {
        self.client(NewClient {
            name: "svc".into(),
            profile: Some(valet_protocol::application::Profile::Service),
            scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
            ..Default::default()
        })
        .await
    }

    pub async fn client(&self, new: NewClient) -> (String, String) {
        let c = self.admin.create_client(new, self.now()).await.unwrap();
        let secret = c
            .client_secret
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        (c.app.client_id, secret)
    }

    /// POST a form with Basic credentials.
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

    pub async fn introspect(&self, id: &str, secret: &str, token: &str) -> Value {
        let r = self
            .post("/oauth2/introspect", id, secret, &format!("token={token}"))
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Signs arbitrary claims with Valet's own current ES256 key, to build tokens a bug
    /// or an attacker might present.
    pub async fn sign_with_valet_key(&self, typ: &str, claims: &Value) -> String {
        let snapshot = keyring::load_or_generate(self.store.as_ref(), &self.sealer, self.now())
            .await
            .unwrap();
        snapshot
            .signer(Algorithm::ES256, self.now())
            .unwrap()
            .sign(typ, claims)
            .unwrap()
    }

    /// The claims Valet itself would issue to `client_id` now.
    pub fn claims(&self, client_id: &str) -> Value {
        let now = self.now();
        serde_json::json!({
            "iss": self.settings.issuer, "sub": client_id, "aud": "https://api.example",
            "exp": now + 600, "iat": now, "nbf": now, "jti": format!("j{now}{client_id}"),
            "client_id": client_id, "scope": "api:read"
        })
    }
}

/// Asserts the token-endpoint error contract: status, JSON, `error`, no-store.
pub async fn assert_oauth_error(r: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(r.status(), status, "status for expected {error}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    // Issue 21: the body names the response's request id; the rest of the body is what
    // callers compare (two refusals must read alike but for their ids).
    assert_eq!(body["request_id"], request_id.as_str(), "{body}");
    body.as_object_mut().unwrap().remove("request_id");
    let d = body["error_description"].as_str().unwrap();
    assert!(
        d.chars()
            .all(valet_protocol::error::allowed_description_char),
        "{d}"
    );
    body
}

/// The newest audit event matching `query`; security events are written by a background
/// task, so this waits for that write (never for a clock).
pub async fn audit_event(
    app: &TestApp,
    query: valet_store::AuditQuery,
) -> valet_store::AuditRecord {
    for _ in 0..300 {
        let found = app.store.audit_events(&query).await.unwrap();
        if let Some(e) = found.into_iter().next() {
            return e;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no audit event for {query:?}");
}
