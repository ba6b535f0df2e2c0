//! An upstream OpenID Connect provider for the upstream tests, on plain HTTP on loopback,
//! that can be told to misbehave in each way a relying party must catch: a wrong `iss`
//! or `aud`, a bad signature, no or another `nonce`, an expired ID token, a wrong or
//! missing RFC 9207 `iss` in the authorization response, an outage. It also serves a
//! GitHub-shaped user API (`/user`) for the plain OAuth 2.0 mode. Its authorization
//! endpoint signs in `Behaviour::subject` at once and redirects back.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use valet_jose::{Algorithm, SigningKey, generate_pkcs8};

pub const CLIENT_ID: &str = "valet";
pub const CLIENT_SECRET: &str = "upstream secret";

#[derive(Clone)]
pub struct Behaviour {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub iss: Option<String>,
    pub aud: Option<Value>,
    pub nonce: Nonce,
    pub bad_signature: bool,
    pub expired: bool,
    /// RFC 9207: advertised in discovery, and sent in responses.
    pub advertise_iss: bool,
    pub response_iss: ResponseIss,
    pub down: bool,
    /// The issuer the discovery document names.
    pub discovery_issuer: Option<String>,
    /// `auth_time` an hour ago (a sign-in from an old session at the provider).
    pub stale_auth_time: bool,
    /// The ID token's `amr`.
    pub amr: Option<Vec<String>>,
}

#[derive(Clone, PartialEq)]
pub enum Nonce {
    Echo,
    Missing,
    Other,
}

#[derive(Clone, PartialEq)]
pub enum ResponseIss {
    Right,
    Wrong,
    Missing,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            subject: "alice".into(),
            email: Some("alice@corp.example".into()),
            email_verified: Some(true),
            iss: None,
            aud: None,
            nonce: Nonce::Echo,
            bad_signature: false,
            expired: false,
            advertise_iss: true,
            response_iss: ResponseIss::Right,
            down: false,
            discovery_issuer: None,
            stale_auth_time: false,
            amr: None,
        }
    }
}

struct Pending {
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
}

struct Inner {
    issuer: String,
    key: SigningKey,
    behaviour: Mutex<Behaviour>,
    codes: Mutex<HashMap<String, Pending>>,
    tokens: Mutex<HashMap<String, String>>,
    /// How many times the token endpoint redeemed a code.
    pub redeemed: Mutex<u32>,
}

#[derive(Clone)]
pub struct Idp {
    inner: Arc<Inner>,
    pub issuer: String,
}

impl Idp {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let key =
            SigningKey::from_pkcs8(Algorithm::ES256, &generate_pkcs8(Algorithm::ES256).unwrap())
                .unwrap();
        let inner = Arc::new(Inner {
            issuer: issuer.clone(),
            key,
            behaviour: Mutex::new(Behaviour::default()),
            codes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            redeemed: Mutex::new(0),
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/user", get(userinfo))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { inner, issuer }
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.inner.behaviour.lock().unwrap());
    }

    pub fn redeemed(&self) -> u32 {
        *self.inner.redeemed.lock().unwrap()
    }

    /// The `[[upstreams]]` table for this provider, as OpenID Connect.
    pub fn oidc_table(&self, id: &str) -> valet_server::upstream::config::UpstreamConfig {
        valet_server::upstream::config::UpstreamConfig {
            id: id.into(),
            name: "Corp".into(),
            issuer: Some(self.issuer.clone()),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            domains: Some(vec!["corp.example".into()]),
            ..Default::default()
        }
    }

    /// The same provider as a plain OAuth 2.0 one (GitHub-shaped: `/user`, numeric ids).
    pub fn oauth_table(&self, id: &str) -> valet_server::upstream::config::UpstreamConfig {
        valet_server::upstream::config::UpstreamConfig {
            id: id.into(),
            name: "Hub".into(),
            authorization_endpoint: Some(format!("{}/authorize", self.issuer)),
            token_endpoint: Some(format!("{}/token", self.issuer)),
            userinfo_endpoint: Some(format!("{}/user", self.issuer)),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            auth_method: Some("client_secret_post".into()),
            scopes: Some(valet_server::upstream::config::Scopes::Text(
                "read:user".into(),
            )),
            claims: Some(valet_server::upstream::config::ClaimsConfig {
                sub: Some("id".into()),
                preferred_username: Some("login".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

fn b(s: &Inner) -> Behaviour {
    s.behaviour.lock().unwrap().clone()
}

fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "down").into_response()
}

async fn discovery(State(s): State<Arc<Inner>>) -> Response {
    let be = b(&s);
    if be.down {
        return unavailable();
    }
    axum::Json(json!({
        "issuer": be.discovery_issuer.clone().unwrap_or_else(|| s.issuer.clone()),
        "authorization_endpoint": format!("{}/authorize", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
        "userinfo_endpoint": format!("{}/userinfo", s.issuer),
        "jwks_uri": format!("{}/jwks", s.issuer),
        "authorization_response_iss_parameter_supported": be.advertise_iss,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    }))
    .into_response()
}

async fn jwks(State(s): State<Arc<Inner>>) -> Response {
    if b(&s).down {
        return unavailable();
    }
    axum::Json(json!({ "keys": [s.key.jwk()] })).into_response()
}

async fn authorize(
    State(s): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let be = b(&s);
    if be.down {
        return unavailable();
    }
    assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
    assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    let code = format!("code-{}", rand_id());
    s.codes.lock().unwrap().insert(
        code.clone(),
        Pending {
            nonce: q.get("nonce").cloned(),
            challenge: q["code_challenge"].clone(),
            redirect_uri: q["redirect_uri"].clone(),
        },
    );
    let mut back = url::Url::parse(&q["redirect_uri"]).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q["state"]);
    match be.response_iss {
        ResponseIss::Right if be.advertise_iss => {
            back.query_pairs_mut().append_pair("iss", &s.issuer);
        }
        ResponseIss::Wrong => {
            back.query_pairs_mut()
                .append_pair("iss", "http://evil.example");
        }
        _ => {}
    }
    Redirect::to(back.as_str()).into_response()
}

fn rand_id() -> String {
    let mut b = [0u8; 12];
    aws_lc_rs::rand::fill(&mut b).unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

async fn token(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let be = b(&s);
    if be.down {
        return unavailable();
    }
    // client_secret_basic (form-encoded before base64, RFC 6749 §2.3.1) or _post.
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|v| {
            let raw = base64::engine::general_purpose::STANDARD.decode(v).unwrap();
            let text = String::from_utf8(raw).unwrap();
            let (id, secret) = text.split_once(':').unwrap();
            let dec = |x: &str| {
                form_urlencoded::parse(format!("x={x}").as_bytes())
                    .next()
                    .unwrap()
                    .1
                    .into_owned()
            };
            (dec(id), dec(secret))
        });
    let (id, secret) = basic.unwrap_or_else(|| {
        (
            f.get("client_id").cloned().unwrap_or_default(),
            f.get("client_secret").cloned().unwrap_or_default(),
        )
    });
    if id != CLIENT_ID || secret != CLIENT_SECRET {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let Some(p) = s.codes.lock().unwrap().remove(&f["code"]) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let verifier = &f["code_verifier"];
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
    );
    if challenge != p.challenge || f["redirect_uri"] != p.redirect_uri {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    *s.redeemed.lock().unwrap() += 1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let exp = if be.expired { now - 600 } else { now + 300 };
    let mut claims = json!({
        "iss": be.iss.clone().unwrap_or_else(|| s.issuer.clone()),
        "aud": be.aud.clone().unwrap_or_else(|| json!(CLIENT_ID)),
        "sub": be.subject,
        "iat": now,
        "exp": exp,
        "auth_time": if be.stale_auth_time { now - 3600 } else { now },
    });
    if let Some(amr) = &be.amr {
        claims["amr"] = serde_json::json!(amr);
    }
    match be.nonce {
        Nonce::Echo => {
            if let Some(n) = p.nonce {
                claims["nonce"] = n.into();
            }
        }
        Nonce::Other => claims["nonce"] = "not the one sent".into(),
        Nonce::Missing => {}
    }
    let mut id_token = s.key.sign("JWT", &claims).unwrap();
    if be.bad_signature {
        // Another payload under the same signature.
        let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
        claims["sub"] = "mallory".into();
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims).unwrap());
        id_token = parts.join(".");
    }
    let access = format!("at-{}", rand_id());
    s.tokens
        .lock()
        .unwrap()
        .insert(access.clone(), be.subject.clone());
    axum::Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
        "refresh_token": "upstream-refresh-token",
    }))
    .into_response()
}

async fn userinfo(State(s): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    let be = b(&s);
    if be.down {
        return unavailable();
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(sub) = s.tokens.lock().unwrap().get(token).cloned() else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let mut info = json!({
        "sub": sub,
        // GitHub-shaped members: a numeric id and a login.
        "id": 583_231,
        "login": "octo",
        "name": format!("{sub} Corp"),
        "groups": ["staff", "on-call"],
    });
    if let Some(e) = be.email {
        info["email"] = e.into();
    }
    if let Some(v) = be.email_verified {
        info["email_verified"] = v.into();
    }
    axum::Json(info).into_response()
}
