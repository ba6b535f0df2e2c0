//! The OpenID Foundation conformance suite (`openid-certification/conformance-suite`),
//! Basic OP and Config OP plans, ported: one test per module, named after it
//! (`oidcc-codereuse-30seconds` → `oidcc_codereuse_30seconds`). The suite itself needs
//! Java, Maven, MongoDB and Docker; these tests drive Valet the way its modules do and
//! check what they check, including the checks every happy path makes on the way:
//!
//! - configuration: discovery fetched, JWKS valid, every key with a distinct `kid`;
//! - authorization response: the redirect URI, nothing in the fragment of a query
//!   response, `state`, `iss` (RFC 9207), a code;
//! - token endpoint: 200, JSON (UTF-8 where a charset is named), `Cache-Control:
//!   no-store`, `Pragma: no-cache` if present, `token_type` Bearer, access and refresh
//!   tokens of VSCHARs with more than 96 bits of Shannon entropy (the suite's own measure),
//!   a positive `expires_in`;
//! - ID token, verified by an independent JOSE library (`jsonwebtoken`) against the
//!   published key whose `kid` the header names: `iss`, `aud` (and `azp`), `exp`, `iat`,
//!   `nonce`, `sub`, `acr`, `auth_time`;
//! - UserInfo with the access token: 200, JSON, the same `sub`;
//! - errors: the codes the module accepts, and `error`, `error_description` and
//!   `error_uri` of the RFC 6749 character sets (no CR, LF or TAB), only the parameters
//!   an error response may carry, `state` echoed, no code.
//!
//! Where Valet does not support what a module exercises (request objects, `request_uri`,
//! the `claims` parameter, unsigned ID tokens, dynamic registration) the test checks the
//! refusal or the behaviour the module accepts. `docs/conformance.md` maps module → test →
//! status. Discovery gives every endpoint, as it does to the suite.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use valet_protocol::application::{AuthMethod, Profile};
use valet_protocol::user::UserClaims;
use valet_server::admin::{NewClient, NewUser};

use crate::flow::{Browser, PASSWORD, Page, REDIRECT};
use crate::harness::{TestApp, spawn_app, spawn_with};
use valet_server::config::Partial;

/// The scope of the standard request (the suite's `client.scope`).
pub(crate) const SCOPE: &str = "openid profile email";
/// The suite's clock-skew allowance for `exp`, `iat` and `auth_time` (`ValidateIdToken`).
const SKEW: i64 = 300;

// ---- The OP under test, as the suite configures it ----

pub(crate) struct Op {
    pub(crate) app: TestApp,
    /// The discovery document (`GetDynamicServerConfiguration`).
    pub(crate) meta: Value,
    /// The published keys (`FetchServerKeys`).
    pub(crate) jwks: Value,
    /// alice's `sub`.
    pub(crate) sub: String,
}

#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: String,
    /// `client_secret_post` instead of `client_secret_basic`.
    pub(crate) post: bool,
}

impl Op {
    pub(crate) fn endpoint(&self, name: &str) -> String {
        self.meta[name]
            .as_str()
            .unwrap_or_else(|| panic!("discovery has no {name}"))
            .to_owned()
    }

    pub(crate) fn issuer(&self) -> &str {
        self.meta["issuer"].as_str().unwrap()
    }

    /// A confidential web application redirecting to `REDIRECT`, as an admin registers
    /// it (the suite's static `client` and `client2`).
    async fn register(&self, method: AuthMethod) -> Client {
        let post = method == AuthMethod::ClientSecretPost;
        let (id, secret) = self
            .app
            .client(NewClient {
                name: "Conformance".into(),
                profile: Some(Profile::Web),
                redirect_uris: vec![REDIRECT.into()],
                token_endpoint_auth_method: Some(method),
                ..Default::default()
            })
            .await;
        Client { id, secret, post }
    }
}

/// Valet with alice and one `client_secret_basic` client; discovery and JWKS fetched and
/// checked the way every module's `configure` does (`CheckServerConfiguration`,
/// `ValidateServerJWKs`, `CheckForKeyIdInServerJWKs`).
pub(crate) async fn op() -> (Op, Client) {
    op_with(|p| p).await
}

/// `op` on a node with these settings.
pub(crate) async fn op_with(tweak: impl FnOnce(Partial) -> Partial) -> (Op, Client) {
    let app = spawn_with(tweak).await;
    let sub = app
        .admin
        .create_user(
            NewUser {
                username: "alice".into(),
                password: PASSWORD.into(),
                claims: UserClaims {
                    name: Some("Alice Liddell".into()),
                    given_name: Some("Alice".into()),
                    family_name: Some("Liddell".into()),
                    email: Some("alice@example.com".into()),
                    email_verified: true,
                    phone_number: Some("+44 20 7946 0000".into()),
                    phone_number_verified: true,
                    locale: Some("en-GB".into()),
                    groups: Vec::new(),
                },
            },
            app.now(),
        )
        .await
        .unwrap()
        .id;
    let r = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let meta: Value = r.json().await.unwrap();
    for member in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
    ] {
        assert!(
            meta[member].is_string(),
            "CheckServerConfiguration: {member}"
        );
    }
    let r = app
        .http
        .get(meta["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let jwks: Value = r.json().await.unwrap();
    check_server_jwks(&jwks);
    let op = Op {
        app,
        meta,
        jwks,
        sub,
    };
    let client = op.register(AuthMethod::ClientSecretBasic).await;
    (op, client)
}

/// `ValidateServerJWKs`, `CheckForKeyIdInServerJWKs` (OIDC Core §10.1: with more than one
/// key, each needs a `kid`, and they must differ), `EnsureServerJwksDoesNotContainPrivate
/// OrSymmetricKeys` (RFC 7518 §6.3.2.1).
fn check_server_jwks(jwks: &Value) {
    let keys = jwks["keys"].as_array().expect("a JWK Set has keys");
    assert!(!keys.is_empty());
    let mut kids = HashSet::new();
    for k in keys {
        let kty = k["kty"].as_str().expect("kty");
        assert!(["RSA", "EC", "OKP"].contains(&kty), "unexpected kty {kty}");
        let kid = k["kid"].as_str().expect("every key has a kid");
        assert!(!kid.is_empty());
        assert!(kids.insert(kid.to_owned()), "kid {kid} is not distinct");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(k.get(private).is_none(), "{kid} publishes {private}");
        }
        if let Some(u) = k.get("use") {
            assert_eq!(u, "sig");
        }
        match kty {
            "RSA" => {
                for m in ["n", "e"] {
                    assert!(is_b64url(k[m].as_str().unwrap()), "{kid}.{m}");
                }
            }
            _ => {
                assert!(k["crv"].is_string());
                // An EC key has x and y; an OKP key (Ed25519, RFC 8037 §2) x only.
                let members: &[&str] = if kty == "EC" { &["x", "y"] } else { &["x"] };
                for m in members {
                    assert!(is_b64url(k[*m].as_str().unwrap()), "{kid}.{m}");
                }
            }
        }
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(k.clone())
            .unwrap_or_else(|e| panic!("{kid} is not a valid JWK: {e}"));
        jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    }
}

fn is_b64url(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

// ---- Requests ----

/// Random letters and digits (the suite's `CreateRandomStateValue` and friends).
pub(crate) fn random(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// An authorization request: its parameters in the order they are sent.
#[derive(Clone)]
pub(crate) struct AuthRequest {
    params: Vec<(String, String)>,
}

impl AuthRequest {
    /// `CreateAuthorizationEndpointRequestFromClientInformation` + state + nonce +
    /// `response_type=code`.
    pub(crate) fn code(client_id: &str, scope: &str) -> Self {
        let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        Self {
            params: vec![
                p("client_id", client_id),
                p("redirect_uri", REDIRECT),
                p("scope", scope),
                p("state", &random(10)),
                p("nonce", &random(10)),
                p("response_type", "code"),
            ],
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// This request with `name` set to `value` (replaced where present).
    pub(crate) fn set(mut self, name: &str, value: &str) -> Self {
        match self.params.iter_mut().find(|(k, _)| k == name) {
            Some(p) => p.1 = value.to_owned(),
            None => self.params.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.params.retain(|(k, _)| k != name);
        self
    }

    /// Only these parameters, in this order.
    fn only(&self, names: &[&str]) -> Self {
        Self {
            params: names
                .iter()
                .filter_map(|n| self.get(n).map(|v| ((*n).to_owned(), v.to_owned())))
                .collect(),
        }
    }

    pub(crate) fn url(&self, op: &Op) -> String {
        Url::parse_with_params(&op.endpoint("authorization_endpoint"), &self.params)
            .unwrap()
            .to_string()
    }

    /// The request as the claims of an unsigned request object (OIDC Core §6.1,
    /// `SerializeRequestObjectWithNullAlgorithm`), with `iss` and `aud`.
    fn as_unsigned_request_object(&self, op: &Op) -> String {
        let mut claims: serde_json::Map<String, Value> = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        claims.insert("iss".into(), claims["client_id"].clone());
        claims.insert("aud".into(), op.issuer().into());
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        format!("{header}.{payload}.")
    }
}

// ---- The browser's part ----

pub(crate) fn is_login_page(p: &Page) -> bool {
    p.status == 200 && p.body.contains("name=\"password\"")
}

fn is_consent_page(p: &Page) -> bool {
    p.status == 200 && p.body.contains("value=\"allow\"")
}

/// Where the browser ended up, and what the user was asked on the way.
struct Authorized {
    location: String,
    saw_login: bool,
    saw_consent: bool,
}

/// From the first page of an authorization request to the redirect back: alice signs in
/// if asked and allows if asked.
async fn complete(op: &Op, b: &Browser, first: Page) -> Authorized {
    let (mut p, mut saw_login, mut saw_consent) = (first, false, false);
    if is_login_page(&p) {
        saw_login = true;
        p = b.login(&op.app, &p, "alice", PASSWORD).await;
    }
    if is_consent_page(&p) {
        saw_consent = true;
        p = b.consent(&op.app, &p, "allow").await;
    }
    assert_eq!(
        p.status, 303,
        "expected a redirect to the client: {}",
        p.body
    );
    Authorized {
        location: p.location().unwrap(),
        saw_login,
        saw_consent,
    }
}

/// A redirect back to the client: the URI without query and fragment, and both sets of
/// parameters (each name at most once).
pub(crate) struct Callback {
    pub(crate) base: String,
    pub(crate) query: HashMap<String, String>,
    pub(crate) fragment: HashMap<String, String>,
}

fn pairs_of(s: Option<&str>) -> HashMap<String, String> {
    let Some(s) = s else {
        return HashMap::new();
    };
    let url = Url::parse(&format!("https://x.invalid/?{s}")).unwrap();
    let mut out = HashMap::new();
    for (k, v) in url.query_pairs() {
        assert!(
            out.insert(k.to_string(), v.to_string()).is_none(),
            "{k} is repeated"
        );
    }
    out
}

pub(crate) fn callback(location: &str) -> Callback {
    let url = Url::parse(location).unwrap();
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    Callback {
        base: base.to_string(),
        query: pairs_of(url.query()),
        fragment: pairs_of(url.fragment()),
    }
}

/// A successful code response (`CheckIfAuthorizationEndpointError`,
/// `CheckMatchingStateParameter`, `ValidateIssIfPresentInAuthorizationResponse`,
/// `ExtractAuthorizationCodeFromAuthorizationResponse`); returns the code. A code
/// response is in the query: nothing in the fragment (the counterpart of
/// `RejectAuthCodeInUrlQuery` for fragment flows).
fn check_code_response(op: &Op, req: &AuthRequest, location: &str) -> String {
    let cb = callback(location);
    assert_eq!(cb.base, req.get("redirect_uri").unwrap());
    assert!(
        cb.fragment.is_empty(),
        "nothing in the fragment: {location}"
    );
    assert!(!cb.query.contains_key("error"), "an error: {location}");
    assert_eq!(
        cb.query.get("state").map(String::as_str),
        req.get("state"),
        "state"
    );
    // RFC 9207: advertised, so always present, and the issuer exactly.
    assert_eq!(
        op.meta["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(cb.query.get("iss").map(String::as_str), Some(op.issuer()));
    let code = cb.query.get("code").expect("a code").clone();
    assert!(!code.is_empty());
    code
}

/// `performGenericAuthorizationEndpointErrorResponseValidation` plus the module's own
/// list of acceptable errors; returns the parameters.
pub(crate) fn check_error_response(
    op: &Op,
    location: &str,
    redirect_uri: &str,
    state: Option<&str>,
    accepted: &[&str],
) -> HashMap<String, String> {
    let cb = callback(location);
    assert_eq!(cb.base, redirect_uri);
    // No response_type known or a code flow: the error is in the query.
    assert!(cb.fragment.is_empty(), "{location}");
    let p = cb.query;
    // CheckStateInAuthorizationResponse
    assert_eq!(p.get("state").map(String::as_str), state, "state");
    // ValidateIssIfPresentInAuthorizationResponse
    assert_eq!(p.get("iss").map(String::as_str), Some(op.issuer()));
    // EnsureErrorFromAuthorizationEndpointResponse + the module's acceptable codes.
    let error = p.get("error").expect("an error");
    assert!(
        accepted.contains(&error.as_str()),
        "{error} not in {accepted:?}"
    );
    assert!(is_error_token(error));
    // RejectAuthCodeInAuthorizationEndpointResponse
    assert!(!p.contains_key("code"));
    // CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint
    for k in p.keys() {
        assert!(
            [
                "error",
                "error_description",
                "error_uri",
                "state",
                "session_state",
                "iss"
            ]
            .contains(&k.as_str()),
            "unexpected parameter {k} in an error response"
        );
    }
    check_error_description_and_uri(p.get("error_description"), p.get("error_uri"));
    p
}

/// RFC 6749 §4.1.2.1, §5.2: `error` and `error_description` are
/// %x20-21 / %x23-5B / %x5D-7E (`ValidateErrorFromTokenEndpointResponseError`,
/// `ValidateErrorDescriptionFrom…`).
fn is_error_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
}

fn check_error_description_and_uri(description: Option<&String>, uri: Option<&String>) {
    if let Some(d) = description {
        // CheckErrorDescription…ContainsCRLFTAB
        assert!(!d.contains(['\r', '\n', '\t']), "{d:?}");
        assert!(is_error_token(d), "error_description {d:?}");
    }
    if let Some(u) = uri {
        // ValidateErrorUriFrom…: %x21 / %x23-5B / %x5D-7E, and a URI.
        assert!(
            u.chars()
                .all(|c| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
        );
        Url::parse(u).unwrap();
    }
}

// ---- The token endpoint ----

async fn token_request(op: &Op, client: &Client, form: &[(&str, &str)]) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let mut rb = op.app.http.post(op.endpoint("token_endpoint"));
    if client.post {
        form.push(("client_id", &client.id));
        form.push(("client_secret", &client.secret));
    } else {
        rb = rb.basic_auth(&client.id, Some(&client.secret));
    }
    rb.form(&form).send().await.unwrap()
}

/// `CheckTokenEndpointReturnedJsonContentType`: the media type is application/json; where
/// a charset is named it is UTF-8 (RFC 8259 §8.1).
fn check_json_content_type(headers: &reqwest::header::HeaderMap) {
    let ct = headers["content-type"].to_str().unwrap();
    let mut parts = ct.split(';').map(str::trim);
    assert_eq!(parts.next(), Some("application/json"), "{ct}");
    for param in parts {
        if let Some((k, v)) = param.split_once('=') {
            if k.trim().eq_ignore_ascii_case("charset") {
                assert!(
                    v.trim_matches('"').eq_ignore_ascii_case("utf-8"),
                    "charset {v}"
                );
            }
        }
    }
}

/// `CheckTokenEndpointCacheHeaders` (RFC 6749 §5.1): `no-store`, and `no-cache` in a
/// `Pragma` if there is one.
fn check_no_store(headers: &reqwest::header::HeaderMap) {
    let cc = headers
        .get("cache-control")
        .expect("Cache-Control")
        .to_str()
        .unwrap();
    assert!(cc.split(',').any(|d| d.trim() == "no-store"), "{cc}");
    if let Some(p) = headers.get("pragma") {
        let p = p.to_str().unwrap();
        assert!(p.split(',').any(|d| d.trim() == "no-cache"), "{p}");
    }
}

/// The suite's `AbstractEnsureMinimumEntropy`: Shannon entropy per character × length.
fn shannon_bits(s: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let n = s.chars().count() as f64;
    let per_char: f64 = counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_char * n
}

/// RFC 6749 Appendix A.12, A.17: 1*VSCHAR; and `EnsureMinimum…Entropy` (> 96 bits, the
/// suite's allowance for measuring 128).
fn check_token_value(what: &str, t: &str) {
    assert!(!t.is_empty(), "{what} is empty");
    assert!(
        t.chars().all(|c| matches!(c, '\x20'..='\x7e')),
        "{what} has characters outside VSCHAR"
    );
    let bits = shannon_bits(t);
    assert!(bits > 96.0, "{what}: {bits} bits of entropy");
}

/// A successful token response: `CheckTokenEndpointHttpStatus200`, JSON, cache headers,
/// `CheckForAccessTokenValue`, `CheckTokenTypeIsBearer`, entropy and characters,
/// `ValidateExpiresIn`, the refresh token if any.
async fn check_token_success(r: reqwest::Response) -> Value {
    let status = r.status();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    check_json_content_type(&headers);
    check_no_store(&headers);
    let at = body["access_token"].as_str().expect("access_token");
    check_token_value("access_token", at);
    assert!(
        body["token_type"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("bearer")
    );
    let expires_in = body["expires_in"].as_i64().expect("expires_in, an integer");
    assert!(expires_in > 0);
    if let Some(rt) = body.get("refresh_token") {
        check_token_value("refresh_token", rt.as_str().unwrap());
    }
    if let Some(scope) = body.get("scope") {
        let scope = scope.as_str().unwrap();
        assert!(scope.split(' ').all(is_scope_token), "{scope}");
    }
    body
}

/// A token error (`CheckTokenEndpointHttpStatus400`, JSON, the expected `error`, its
/// syntax and that of `error_description` and `error_uri`).
async fn check_token_error(r: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(r.status(), status, "status for {error}");
    let headers = r.headers().clone();
    check_json_content_type(&headers);
    check_no_store(&headers);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(is_error_token(error));
    let text = |k: &str| body.get(k).map(|v| v.as_str().unwrap().to_owned());
    check_error_description_and_uri(
        text("error_description").as_ref(),
        text("error_uri").as_ref(),
    );
    body
}

/// RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ).
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
}

// ---- ID tokens ----

/// `ValidateIdToken`, `ValidateIdTokenNonce`, `ValidateIdTokenSignature`,
/// `ValidateIdTokenSignatureUsingKid`, `CheckForSubjectInIdToken`, and the `acr` Valet
/// always sends. Verification is by `jsonwebtoken` with the published key whose `kid`
/// the header names. Returns the claims.
fn check_id_token(op: &Op, client_id: &str, jwt: &str, nonce: Option<&str>) -> Value {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    // No id_token_signed_response_alg registered: RS256 (OIDC Core §3.1.3.7 step 7,
    // OIDC Registration §2), one of the advertised algorithms.
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert!(
        op.meta["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"RS256".into())
    );
    let kid = header.kid.expect("the ID token names its key");
    let keys = op.jwks["keys"].as_array().unwrap();
    let matching: Vec<&Value> = keys.iter().filter(|k| k["kid"] == kid.as_str()).collect();
    assert_eq!(matching.len(), 1, "exactly one published key has kid {kid}");
    let key = matching[0];
    assert_eq!(key["kty"], "RSA");
    if let Some(alg) = key.get("alg") {
        assert_eq!(alg, "RS256");
    }
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_issuer(&[op.issuer()]);
    v.set_audience(&[client_id]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = SKEW as u64;
    let claims =
        jsonwebtoken::decode::<Value>(jwt, &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(), &v)
            .unwrap_or_else(|e| panic!("the ID token does not verify: {e}"))
            .claims;

    let now = op.app.now();
    assert_eq!(claims["iss"], op.issuer());
    match &claims["aud"] {
        Value::String(a) => assert_eq!(a, client_id),
        Value::Array(list) => {
            assert!(list.contains(&client_id.into()));
            if list.len() > 1 {
                assert_eq!(claims["azp"], client_id);
            }
        }
        other => panic!("aud {other}"),
    }
    if let Some(azp) = claims.get("azp") {
        assert_eq!(azp, client_id);
    }
    let exp = claims["exp"].as_i64().expect("exp");
    let iat = claims["iat"].as_i64().expect("iat");
    assert!(exp > now - SKEW, "expired");
    assert!(iat <= now + SKEW, "issued in the future");
    // OIDC Core §2: sub is at most 255 ASCII characters.
    let sub = claims["sub"].as_str().expect("sub");
    assert!(!sub.is_empty() && sub.len() <= 255 && sub.is_ascii());
    match nonce {
        Some(n) => assert_eq!(claims["nonce"], n, "nonce"),
        None => assert!(claims.get("nonce").is_none(), "no nonce sent, none back"),
    }
    let acr = claims["acr"].as_str().expect("acr");
    assert!(!acr.is_empty());
    if let Some(t) = claims.get("auth_time") {
        let t = t.as_i64().expect("auth_time is a number");
        assert!(t <= now + SKEW);
    }
    claims
}

// ---- UserInfo ----

/// `CallUserInfoEndpointWithBearerToken`: GET with the header; 200, JSON, a `sub`.
async fn userinfo_get(op: &Op, access_token: &str) -> Value {
    let r = op
        .app
        .http
        .get(op.endpoint("userinfo_endpoint"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    check_userinfo(r).await
}

async fn check_userinfo(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), 200);
    check_json_content_type(r.headers());
    let info: Value = r.json().await.unwrap();
    // EnsureUserInfoContainsSub
    assert!(
        info["sub"].as_str().is_some_and(|s| !s.is_empty()),
        "{info}"
    );
    info
}

/// `ValidateUserInfoStandardClaims` (OIDC Core §5.1): each standard claim has its type.
fn check_standard_claim_types(info: &Value) {
    for (k, v) in info.as_object().unwrap() {
        match k.as_str() {
            "email_verified" | "phone_number_verified" => assert!(v.is_boolean(), "{k}"),
            "address" => assert!(v.is_object(), "{k}"),
            "updated_at" => assert!(v.is_number(), "{k}"),
            "sub" | "name" | "given_name" | "family_name" | "middle_name" | "nickname"
            | "preferred_username" | "profile" | "picture" | "website" | "email" | "gender"
            | "birthdate" | "zoneinfo" | "locale" | "phone_number" => {
                assert!(v.is_string(), "{k}");
            }
            _ => {}
        }
    }
}

/// The claims each scope stands for (`AbstractVerifyScopesReturnedInClaims`, after
/// pyoidc).
fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "openid" => &["sub"],
        "profile" => &[
            "name",
            "given_name",
            "family_name",
            "middle_name",
            "nickname",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
            "preferred_username",
        ],
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        _ => &[],
    }
}

// ---- Whole flows ----

/// One authorization code flow as `AbstractOIDCCServerTest` runs it.
pub(crate) struct Flow {
    auth: Authorized,
    tokens: Value,
    /// The verified ID token claims.
    pub(crate) id: Value,
    pub(crate) id_token: String,
    access_token: String,
    /// UserInfo for the access token (`requestProtectedResource`).
    userinfo: Value,
}

pub(crate) async fn happy(op: &Op, client: &Client, b: &Browser, req: &AuthRequest) -> Flow {
    let first = b.get(&req.url(op)).await;
    happy_from(op, client, b, req, first, &[]).await
}

/// The flow from the first page the authorization endpoint answered; `token_extra` goes
/// into the token request.
async fn happy_from(
    op: &Op,
    client: &Client,
    b: &Browser,
    req: &AuthRequest,
    first: Page,
    token_extra: &[(&str, &str)],
) -> Flow {
    let auth = complete(op, b, first).await;
    let code = check_code_response(op, req, &auth.location);
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", req.get("redirect_uri").unwrap()),
    ];
    form.extend_from_slice(token_extra);
    let tokens = check_token_success(token_request(op, client, &form).await).await;
    let id_token = tokens["id_token"]
        .as_str()
        .expect("an openid request yields an ID token (OIDC Core §3.1.3.3)")
        .to_owned();
    let id = check_id_token(op, &client.id, &id_token, req.get("nonce"));
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    let userinfo = userinfo_get(op, &access_token).await;
    // OIDC Core §5.3.2: the same sub.
    assert_eq!(userinfo["sub"], id["sub"]);
    assert_eq!(id["sub"], op.sub.as_str());
    Flow {
        auth,
        tokens,
        id,
        id_token,
        access_token,
        userinfo,
    }
}

/// A code redeemed once: the second attempt, as `AbstractOIDCCAuthCodeReuse` makes it.
async fn redeem_again(op: &Op, client: &Client, req: &AuthRequest, f: &Flow) -> reqwest::Response {
    let code = callback(&f.auth.location).query["code"].clone();
    token_request(
        op,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", req.get("redirect_uri").unwrap()),
        ],
    )
    .await
}

// ================= Basic OP plan (oidcc-basic-certification-test-plan) =================

// 1. Happy code flow with client_secret_basic, every hidden check on the way.
#[tokio::test]
async fn oidcc_server() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE);
    let f = happy(&op, &client, &b, &req).await;
    assert!(f.auth.saw_login && f.auth.saw_consent);
    assert!(f.id["auth_time"].is_i64());
    assert!(f.tokens["refresh_token"].is_string());
}

// 2. No response_type: an error redirected in the query (invalid_request or
// unsupported_response_type), or an error page.
#[tokio::test]
async fn oidcc_response_type_missing() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE).without("response_type");
    let p = b.get(&req.url(&op)).await;
    // Valet takes the redirect branch: client and redirect URI are verified.
    assert_eq!(p.status, 303, "{}", p.body);
    let e = check_error_response(
        &op,
        &p.location().unwrap(),
        REDIRECT,
        req.get("state"),
        &["invalid_request", "unsupported_response_type"],
    );
    assert!(e["error_description"].contains("response_type"));
}

// 3. No alg requested: the ID token is signed (RS256) with a published key named by kid.
#[tokio::test]
async fn oidcc_idtoken_signature() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE);
    let f = happy(&op, &client, &b, &req).await;
    let header = jsonwebtoken::decode_header(&f.id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    // The signature really is checked: one flipped byte fails verification.
    let mut forged = f.id_token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let kid = header.kid.unwrap();
    let key = op.jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[&client.id]);
    assert!(
        jsonwebtoken::decode::<Value>(
            &forged,
            &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
            &v
        )
        .is_err()
    );
}

// 4. Needs dynamic registration of id_token_signed_response_alg=none and is skipped
// unless `none` is advertised. Valet advertises RS256 only and refuses to register a
// client asking for `none`, so its ID tokens are never unsigned.
#[tokio::test]
async fn oidcc_idtoken_unsigned() {
    let (op, client) = op().await;
    let algs = op.meta["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(!algs.contains(&"none".into()));
    // With a registration endpoint the module would register a client asking for unsigned
    // ID tokens: refused (issue 14), so every ID token stays signed.
    let r = op
        .app
        .http
        .post(op.meta["registration_endpoint"].as_str().unwrap())
        .json(
            &serde_json::json!({"redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "none", "id_token_signed_response_alg": "none"}),
        )
        .send()
        .await
        .unwrap();
    crate::harness::assert_oauth_error(r, 400, "invalid_client_metadata").await;
    let b = op.app.browser();
    let f = happy(&op, &client, &b, &AuthRequest::code(&client.id, SCOPE)).await;
    let parts: Vec<&str> = f.id_token.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert!(!parts[2].is_empty(), "signed");
}

// 5. UserInfo by GET with the Bearer header.
#[tokio::test]
async fn oidcc_userinfo_get() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let f = happy(&op, &client, &b, &AuthRequest::code(&client.id, SCOPE)).await;
    let info = userinfo_get(&op, &f.access_token).await;
    assert_eq!(info["sub"], f.id["sub"]);
    check_standard_claim_types(&info);
    assert_eq!(info["email"], "alice@example.com");
}

// 6. UserInfo by POST with the Bearer header.
#[tokio::test]
async fn oidcc_userinfo_post_header() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let f = happy(&op, &client, &b, &AuthRequest::code(&client.id, SCOPE)).await;
    let r = op
        .app
        .http
        .post(op.endpoint("userinfo_endpoint"))
        .bearer_auth(&f.access_token)
        .send()
        .await
        .unwrap();
    let info = check_userinfo(r).await;
    assert_eq!(info, f.userinfo);
}

// 7. UserInfo by POST with the token in the form body (RFC 6750 §2.2; the module only
// warns if refused). Valet accepts it.
#[tokio::test]
async fn oidcc_userinfo_post_body() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let f = happy(&op, &client, &b, &AuthRequest::code(&client.id, SCOPE)).await;
    let r = op
        .app
        .http
        .post(op.endpoint("userinfo_endpoint"))
        .form(&[("access_token", f.access_token.as_str())])
        .send()
        .await
        .unwrap();
    let info = check_userinfo(r).await;
    assert_eq!(info, f.userinfo);
}

// 8. A code flow without nonce succeeds, and the ID token carries no nonce.
#[tokio::test]
async fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE).without("nonce");
    let f = happy(&op, &client, &b, &req).await;
    assert!(f.id.get("nonce").is_none());
}

/// Modules 9-13: a happy flow for `scope`, then UserInfo checked as
/// `AbstractOIDCCScopesServerTest` does. `warned` lists the claims of the requested
/// scopes Valet does not return (`VerifyScopesReturnedInUserInfoClaims` is a WARNING);
/// everything else of those scopes must be there, and nothing of other scopes.
async fn scope_module(scope: &str, warned: &[&str]) {
    let (op, client) = op().await;
    // OIDCCCheckScopesSupportedContainScopeTest: otherwise the module is skipped.
    let supported = op.meta["scopes_supported"].as_array().unwrap();
    for s in scope.split(' ') {
        assert!(supported.contains(&s.into()), "{s} is advertised");
    }
    let b = op.app.browser();
    let f = happy(&op, &client, &b, &AuthRequest::code(&client.id, scope)).await;
    let info = &f.userinfo;
    check_standard_claim_types(info);
    let expected: Vec<&str> = scope.split(' ').flat_map(scope_claims).copied().collect();
    let missing: Vec<&str> = expected
        .iter()
        .filter(|c| info.get(**c).is_none())
        .copied()
        .collect();
    assert_eq!(missing, warned, "claims missing from {info}");
    for k in info.as_object().unwrap().keys() {
        assert!(
            expected.contains(&k.as_str()),
            "{k} was not asked for (checklist J9)"
        );
    }
}

/// The profile claims the user store has no field for (the module warns about them).
const PROFILE_NOT_HELD: &[&str] = &[
    "middle_name",
    "nickname",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "updated_at",
];

// 9.
#[tokio::test]
async fn oidcc_scope_profile() {
    scope_module("openid profile", PROFILE_NOT_HELD).await;
}

// 10.
#[tokio::test]
async fn oidcc_scope_email() {
    scope_module("openid email", &[]).await;
}

// 11. Valet accepts the address scope but holds no address (ARCHITECTURE: deliberately
// absent): the module's warning.
#[tokio::test]
async fn oidcc_scope_address() {
    scope_module("openid address", &["address"]).await;
}

// 12.
#[tokio::test]
async fn oidcc_scope_phone() {
    scope_module("openid phone", &[]).await;
}

// 13.
#[tokio::test]
async fn oidcc_scope_all() {
    let mut warned = PROFILE_NOT_HELD.to_vec();
    warned.push("address");
    scope_module("openid profile email address phone", &warned).await;
}

// 14. OIDCCScopeEmail with the scope reversed and the parameters in another order.
#[tokio::test]
async fn oidcc_alternate_happy_flow() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let mut req = AuthRequest::code(&client.id, "email openid");
    req.params.reverse();
    let f = happy(&op, &client, &b, &req).await;
    assert_eq!(f.userinfo["email"], "alice@example.com");
    assert_eq!(f.userinfo["email_verified"], true);
}

// 15.
#[tokio::test]
async fn oidcc_display_page() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE).set("display", "page");
    happy(&op, &client, &b, &req).await;
}

// 16.
#[tokio::test]
async fn oidcc_display_popup() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE).set("display", "popup");
    happy(&op, &client, &b, &req).await;
}

// 17. A second authorization with prompt=login shows the login page again, and the new
// ID token has the same sub and a later auth_time.
#[tokio::test]
async fn oidcc_prompt_login() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let one = happy(&op, &client, &b, &AuthRequest::code(&client.id, SCOPE)).await;
    // auth_time has a resolution of one second.
    op.app.clock.advance(1);
    let req = AuthRequest::code(&client.id, SCOPE).set("prompt", "login");
    let two = happy(&op, &client, &b, &req).await;
    assert!(two.auth.saw_login, "prompt=login must re-authenticate");
    assert_eq!(one.id["sub"], two.id["sub"]);
    assert!(two.id["auth_time"].as_i64().unwrap() > one.id["auth_time"].as_i64().unwrap());
}

// 18. prompt=none without a session: an error that needs a user interface, redirected
// with a 128-character state intact.
#[tokio::test]
async fn oidcc_prompt_none_not_logged_in() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let state = random(128);
    let req = AuthRequest::code(&client.id, SCOPE)
        .set("state", &state)
        .set("prompt", "none");
    let p = b.get(&req.url(&op)).await;
    assert_eq!(p.status, 303, "never a page under prompt=none: {}", p.body);
    check_error_response(
        &op,
        &p.location().unwrap(),
        REDIRECT,
        Some(&state),
        &[
            "interaction_required",
            "login_required",
            "account_selection_required",
            "consent_required",
        ],
    );
}

// 19. prompt=none with a session: no login page, the same sub and auth_time.
#[tokio::test]
async fn oidcc_prompt_none_logged_in() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let one = happy(&op, &client, &b, &AuthRequest::code(&client.id, SCOPE)).await;
    let req = AuthRequest::code(&client.id, SCOPE).set("prompt", "none");
    let first = b.get(&req.url(&op)).await;
    assert_eq!(first.status, 303, "silent: {}", first.body);
    let two = happy_from(&op, &client, &b, &req, first, &[]).await;
    assert_eq!(one.id["sub"], two.id["sub"]);
    assert_eq!(one.id["auth_time"], two.id["auth_time"]);
}

// 20. Just over a second after signing in, max_age=1 makes the user sign in again; the
// ID token must carry auth_time, later than the first and recent.
#[tokio::test]
async fn oidcc_max_age_1() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let one = happy(&op, &client, &b, &AuthRequest::code(&client.id, SCOPE)).await;
    op.app.clock.advance(1);
    let req = AuthRequest::code(&client.id, SCOPE).set("max_age", "1");
    let two = happy(&op, &client, &b, &req).await;
    assert!(
        two.auth.saw_login,
        "max_age=1 must re-authenticate (ExpectSecondLoginPage)"
    );
    // CheckIdTokenAuthTimeClaimPresentDueToMaxAge, CheckSecondIdTokenAuthTimeIsLater…,
    // CheckIdTokenAuthTimeIsRecentIfPresent.
    let t1 = one.id["auth_time"].as_i64().unwrap();
    let t2 = two.id["auth_time"]
        .as_i64()
        .expect("auth_time with max_age");
    assert!(t2 > t1);
    assert!((op.app.now() - t2).abs() <= SKEW);
}

// 21. max_age=10000: no new sign-in; auth_time present and unchanged, the same sub.
#[tokio::test]
async fn oidcc_max_age_10000() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let one = happy(&op, &client, &b, &AuthRequest::code(&client.id, SCOPE)).await;
    let req = AuthRequest::code(&client.id, SCOPE).set("max_age", "10000");
    let two = happy(&op, &client, &b, &req).await;
    assert!(!two.auth.saw_login);
    assert_eq!(one.id["sub"], two.id["sub"]);
    assert!(two.id["auth_time"].is_i64(), "auth_time with max_age");
    assert_eq!(one.id["auth_time"], two.id["auth_time"]);
}

// 22. An unknown parameter is ignored (RFC 6749 §3.1).
#[tokio::test]
async fn oidcc_ensure_request_with_unknown_parameter_succeeds() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE).set("extra", "foobar");
    happy(&op, &client, &b, &req).await;
}

// 23. A second authorization with prompt=none and the first ID token as id_token_hint:
// silent, the same sub.
#[tokio::test]
async fn oidcc_id_token_hint() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let one = happy(&op, &client, &b, &AuthRequest::code(&client.id, SCOPE)).await;
    let req = AuthRequest::code(&client.id, SCOPE)
        .set("prompt", "none")
        .set("id_token_hint", &one.id_token);
    let first = b.get(&req.url(&op)).await;
    assert_eq!(first.status, 303, "silent: {}", first.body);
    let two = happy_from(&op, &client, &b, &req, first, &[]).await;
    assert_eq!(one.id["sub"], two.id["sub"]);
}

// 24. login_hint causes no error (Valet fills in the username with it).
#[tokio::test]
async fn oidcc_login_hint() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE).set("login_hint", "alice");
    let first = b.get(&req.url(&op)).await;
    assert!(is_login_page(&first));
    assert_eq!(first.field("username").as_deref(), Some("alice"));
    happy_from(&op, &client, &b, &req, first, &[]).await;
}

// 25.
#[tokio::test]
async fn oidcc_ui_locales() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE).set("ui_locales", "se");
    happy(&op, &client, &b, &req).await;
}

// 26.
#[tokio::test]
async fn oidcc_claims_locales() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE).set("claims_locales", "se");
    happy(&op, &client, &b, &req).await;
}

// 27. acr_values (the advertised acr_values_supported, else "1 2") must not cause an
// error; the acr SHOULD be one of them, a warning otherwise. Valet advertises none and
// answers with its password acr: the module's warning.
#[tokio::test]
async fn oidcc_ensure_request_with_acr_values_succeeds() {
    let (op, client) = op().await;
    let values: Vec<String> = match op.meta.get("acr_values_supported") {
        Some(v) => v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect(),
        None => vec!["1".into(), "2".into()],
    };
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE).set("acr_values", &values.join(" "));
    let f = happy(&op, &client, &b, &req).await;
    let acr = f.id["acr"].as_str().unwrap();
    if op.meta.get("acr_values_supported").is_some() {
        assert!(
            values.iter().any(|v| v == acr),
            "an advertised acr is honoured"
        );
    } else {
        assert_eq!(acr, valet_protocol::id_token::ACR_PASSWORD);
    }
}

// 28. The code used again at once: 400, JSON, invalid_grant.
#[tokio::test]
async fn oidcc_codereuse() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE);
    let f = happy(&op, &client, &b, &req).await;
    let again = redeem_again(&op, &client, &req, &f).await;
    check_token_error(again, 400, "invalid_grant").await;
}

// 29. The code used again after 30 seconds: 400 invalid_grant, and then the first
// access token no longer works at UserInfo (RFC 6749 §4.1.2 SHOULD; a warning otherwise).
// The module really waits 30 s; here the node's clock moves 30 s on.
#[tokio::test]
async fn oidcc_codereuse_30seconds() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE);
    let f = happy(&op, &client, &b, &req).await;
    op.app.clock.advance(30);
    let again = redeem_again(&op, &client, &req, &f).await;
    check_token_error(again, 400, "invalid_grant").await;
    // CallProtectedResourceWithBearerTokenExpectingError
    let r = op
        .app
        .http
        .get(op.endpoint("userinfo_endpoint"))
        .bearer_auth(&f.access_token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

/// The error page the suite asks a screenshot of: 400, HTML, no redirect and no form.
pub(crate) fn check_error_page(p: &Page, mentions: &str) {
    assert_eq!(p.status, 400, "an error page, not {:?}", p.location());
    assert!(p.location().is_none());
    assert!(
        p.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(!p.body.contains("<form"), "nothing is posted anywhere");
    assert!(p.body.contains(mentions), "the page names {mentions}");
}

// 30. An unregistered redirect_uri: an error page, never a redirect.
#[tokio::test]
async fn oidcc_ensure_registered_redirect_uri() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let bad = format!("https://suite.example/test/a/valet/callback{}", random(8));
    let req = AuthRequest::code(&client.id, SCOPE).set("redirect_uri", &bad);
    let p = b.get(&req.url(&op)).await;
    check_error_page(&p, "redirect_uri");
    assert!(!p.body.contains(&bad), "the unregistered URI is not linked");
}

// 31. The authorization request as a form POST (OIDC Core §3.1.2.1).
#[tokio::test]
async fn oidcc_ensure_post_request_succeeds() {
    let (op, client) = op().await;
    let b = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE);
    let form: Vec<(&str, &str)> = req
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let first = b
        .post_form(&op.endpoint("authorization_endpoint"), &form)
        .await;
    happy_from(&op, &client, &b, &req, first, &[]).await;
}

// 32. oidcc-server again with client_secret_post.
#[tokio::test]
async fn oidcc_server_client_secret_post() {
    let (op, _) = op().await;
    assert!(
        op.meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&"client_secret_post".into())
    );
    let client = op.register(AuthMethod::ClientSecretPost).await;
    let b = op.app.browser();
    let f = happy(&op, &client, &b, &AuthRequest::code(&client.id, SCOPE)).await;
    assert!(f.auth.saw_login);
    // The same client over Basic is refused: it registered client_secret_post.
    let basic = Client {
        post: false,
        ..client.clone()
    };
    let r = token_request(&op, &basic, &[("grant_type", "client_credentials")]).await;
    check_token_error(r, 401, "invalid_client").await;
}

/// The parameters the suite repeats outside a request object (OIDC Core §6.1 and RFC 6749
/// §3.1.2.3): state and nonce travel only inside it.
const OUTSIDE_REQUEST_OBJECT: &[&str] = &["client_id", "redirect_uri", "response_type", "scope"];

// 33. An unsigned request object by reference: processed, or request_uri_not_supported.
// Valet refuses (no state: it was only inside the object) and never fetches the URI.
#[tokio::test]
async fn oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported() {
    let (op, client) = op().await;
    assert_eq!(op.meta["request_uri_parameter_supported"], false);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let request_uri = format!(
        "https://127.0.0.1:{}/requests/{}.jwt",
        listener.local_addr().unwrap().port(),
        random(12)
    );
    // The suite would serve `inner.as_unsigned_request_object(..)` there.
    let inner = AuthRequest::code(&client.id, SCOPE);
    let req = inner
        .only(OUTSIDE_REQUEST_OBJECT)
        .set("request_uri", &request_uri);
    let b = op.app.browser();
    let p = b.get(&req.url(&op)).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let e = check_error_response(
        &op,
        &p.location().unwrap(),
        REDIRECT,
        None,
        &["request_uri_not_supported"],
    );
    assert!(e["error_description"].contains("request_uri"));
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "the request_uri was never fetched"
    );
}

// 34. An unsigned request object by value: processed, or request_not_supported (ignoring
// it fails the module). Valet takes signed ones only and refuses this one.
#[tokio::test]
async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported() {
    let (op, client) = op().await;
    assert_eq!(op.meta["request_parameter_supported"], true);
    let inner = AuthRequest::code(&client.id, SCOPE);
    let req = inner
        .only(OUTSIDE_REQUEST_OBJECT)
        .set("request", &inner.as_unsigned_request_object(&op));
    let b = op.app.browser();
    let p = b.get(&req.url(&op)).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let e = check_error_response(
        &op,
        &p.location().unwrap(),
        REDIRECT,
        None,
        &["request_not_supported"],
    );
    assert!(e["error_description"].contains("request"));
}

// 35. claims={"userinfo":{"name":{"essential":true}}}: the request must succeed; name in
// UserInfo is a SHOULD (a warning if absent). Valet does not support the claims parameter
// (claims_parameter_supported: false) and ignores it like any unknown parameter, so with
// scope=openid the name is not released: the module's warning.
#[tokio::test]
async fn oidcc_claims_essential() {
    let (op, client) = op().await;
    assert_eq!(op.meta["claims_parameter_supported"], false);
    let b = op.app.browser();
    let claims = json!({"userinfo": {"name": {"essential": true}}}).to_string();
    let req = AuthRequest::code(&client.id, "openid").set("claims", &claims);
    let f = happy(&op, &client, &b, &req).await;
    assert!(f.userinfo.get("name").is_none(), "claims is ignored");
    // EnsureIdTokenDoesNotContainName
    assert!(f.id.get("name").is_none());
}

// 36. A request object whose redirect_uri differs from the query's: use the object's, or
// show an invalid redirect_uri error. Valet checks the query's redirect_uri (unregistered
// here) before anything else and shows the error page.
#[tokio::test]
async fn oidcc_ensure_request_object_with_redirect_uri() {
    let (op, client) = op().await;
    let inner = AuthRequest::code(&client.id, SCOPE);
    let invalid = format!("{REDIRECT}_invalid"); // AddInvalidRedirectUriToAuthorizationRequest
    let req = inner
        .only(OUTSIDE_REQUEST_OBJECT)
        .set("redirect_uri", &invalid)
        .set("request", &inner.as_unsigned_request_object(&op));
    let b = op.app.browser();
    let p = b.get(&req.url(&op)).await;
    check_error_page(&p, "redirect_uri");
}

// 37. Refresh: the token's characters, a refresh with the original scope one second later
// (200, JSON, no-store, Bearer, entropy, expires_in, a new access token, an ID token
// comparable to the first per OIDC Core §12.2), UserInfo with the new token; then each
// client presents the other's refresh token: 400 JSON invalid_grant.
#[tokio::test]
async fn oidcc_refresh_token() {
    let (op, client) = op().await;
    let client2 = op.register(AuthMethod::ClientSecretBasic).await;
    // EnsureServerConfigurationSupportsRefreshToken (a warning otherwise).
    assert!(
        op.meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"refresh_token".into())
    );
    let b = op.app.browser();

    let mut refresh_tokens = vec![];
    for c in [&client, &client2] {
        let req = AuthRequest::code(&c.id, SCOPE);
        let f = happy(&op, c, &b, &req).await;
        let rt = f.tokens["refresh_token"]
            .as_str()
            .expect("a refresh token (else the module is skipped)")
            .to_owned();
        check_token_value("refresh_token", &rt); // EnsureRefreshTokenContainsAllowedCharactersOnly
        // WaitForOneSecond, so that iat differs (on the node's clock).
        op.app.clock.advance(1);
        let r = token_request(
            &op,
            c,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("scope", SCOPE), // AddScopeToTokenEndpointRequest
            ],
        )
        .await;
        let refreshed = check_token_success(r).await;
        let at = refreshed["access_token"].as_str().unwrap();
        assert_ne!(at, f.access_token, "EnsureAccessTokenValuesAreDifferent");
        // CompareIdTokenClaims (OIDC Core §12.2) runs when the refresh returns an ID
        // token; Valet returns one for an openid grant, without nonce.
        let jwt = refreshed["id_token"].as_str().expect("an ID token");
        let second = check_id_token(&op, &c.id, jwt, None);
        for same in ["iss", "sub", "aud", "auth_time", "azp"] {
            assert_eq!(second.get(same), f.id.get(same), "{same}");
        }
        assert!(second["iat"].as_i64().unwrap() > f.id["iat"].as_i64().unwrap());
        // A refresh need not return a new refresh token; the one to test binding with is
        // the newest.
        let newest = refreshed["refresh_token"]
            .as_str()
            .unwrap_or(&rt)
            .to_owned();
        let info = userinfo_get(&op, at).await;
        assert_eq!(info["sub"], f.id["sub"]);
        refresh_tokens.push(newest);
    }
    // RefreshTokenRequestExpectingErrorSteps: 2's token with 1's credentials, and back.
    for (c, rt) in [
        (&client, &refresh_tokens[1]),
        (&client2, &refresh_tokens[0]),
    ] {
        let r = token_request(
            &op,
            c,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
        check_token_error(r, 400, "invalid_grant").await;
    }
}

// 38. PKCE S256 with a confidential client succeeds.
#[tokio::test]
async fn oidcc_ensure_request_with_valid_pkce_succeeds() {
    let (op, client) = op().await;
    let verifier = random(64);
    let challenge =
        URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref());
    let req = AuthRequest::code(&client.id, SCOPE)
        .set("code_challenge", &challenge)
        .set("code_challenge_method", "S256");
    let b = op.app.browser();
    let first = b.get(&req.url(&op)).await;
    happy_from(
        &op,
        &client,
        &b,
        &req,
        first,
        &[("code_verifier", &verifier)],
    )
    .await;
}

// ================= Config OP plan (oidcc-config-certification-test-plan) =================

/// Metadata members defined by OIDC Discovery §3, RFC 8414 §2 and the registered
/// extensions; anything else is the module's "unexpected member" warning.
const KNOWN_METADATA: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "registration_endpoint",
    "scopes_supported",
    "response_types_supported",
    "response_modes_supported",
    "grant_types_supported",
    "acr_values_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "id_token_encryption_alg_values_supported",
    "id_token_encryption_enc_values_supported",
    "userinfo_signing_alg_values_supported",
    "userinfo_encryption_alg_values_supported",
    "userinfo_encryption_enc_values_supported",
    "request_object_signing_alg_values_supported",
    "request_object_encryption_alg_values_supported",
    "request_object_encryption_enc_values_supported",
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "display_values_supported",
    "claim_types_supported",
    "claims_supported",
    "service_documentation",
    "claims_locales_supported",
    "ui_locales_supported",
    "claims_parameter_supported",
    "request_parameter_supported",
    "request_uri_parameter_supported",
    "require_request_uri_registration",
    "op_policy_uri",
    "op_tos_uri",
    "revocation_endpoint",
    "revocation_endpoint_auth_methods_supported",
    "revocation_endpoint_auth_signing_alg_values_supported",
    "introspection_endpoint",
    "introspection_endpoint_auth_methods_supported",
    "introspection_endpoint_auth_signing_alg_values_supported",
    "code_challenge_methods_supported",
    "end_session_endpoint",
    "check_session_iframe",
    "frontchannel_logout_supported",
    "frontchannel_logout_session_supported",
    "backchannel_logout_supported",
    "backchannel_logout_session_supported",
    "authorization_response_iss_parameter_supported",
    "prompt_values_supported",
    "pushed_authorization_request_endpoint",
    "require_pushed_authorization_requests",
    "device_authorization_endpoint",
    "tls_client_certificate_bound_access_tokens",
    "mtls_endpoint_aliases",
    "dpop_signing_alg_values_supported",
    "signed_metadata",
    // draft-ietf-oauth-client-id-metadata-document (issue 14).
    "client_id_metadata_document_supported",
];

/// The metadata members whose value is a boolean; other `…_supported` are arrays.
const BOOLEAN_METADATA: &[&str] = &[
    "claims_parameter_supported",
    "request_parameter_supported",
    "request_uri_parameter_supported",
    "require_request_uri_registration",
    "frontchannel_logout_supported",
    "frontchannel_logout_session_supported",
    "backchannel_logout_supported",
    "backchannel_logout_session_supported",
    "authorization_response_iss_parameter_supported",
    "require_pushed_authorization_requests",
    "tls_client_certificate_bound_access_tokens",
    "client_id_metadata_document_supported",
];

/// A BCP 47 language tag, as `CheckDiscEndpointLocalesSyntax` reads it (simplified:
/// alphanumeric subtags of 1-8 characters, the first alphabetic).
fn is_language_tag(s: &str) -> bool {
    let mut subtags = s.split('-');
    subtags
        .next()
        .is_some_and(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()))
        && subtags
            .all(|t| (1..=8).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub(crate) fn is_https_url(s: &str) -> bool {
    Url::parse(s).is_ok_and(|u| u.scheme() == "https" && u.host().is_some())
}

#[tokio::test]
async fn oidcc_discovery_endpoint_verification() {
    let app = spawn_app().await;
    let discovery_url = app.url("/.well-known/openid-configuration");
    let r = app.http.get(&discovery_url).send().await.unwrap();
    // EnsureDiscoveryEndpointResponseStatusCodeIs200, CheckDiscoveryEndpointReturnedJson…
    assert_eq!(r.status(), 200);
    check_json_content_type(r.headers());
    let m: Value = r.json().await.unwrap();
    let m = m.as_object().expect("a JSON object");
    let strings = |k: &str| -> Vec<String> {
        m[k].as_array()
            .unwrap_or_else(|| panic!("{k} is an array"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };

    // OIDCCCheckDiscEndpointResponseTypesSupported (OIDC Core §3): at least one OpenID
    // response type; a response type is a set, so compare sorted.
    let sorted = |s: &str| {
        let mut v: Vec<&str> = s.split(' ').collect();
        v.sort_unstable();
        v.join(" ")
    };
    let types: Vec<String> = strings("response_types_supported")
        .iter()
        .map(|t| sorted(t))
        .collect();
    assert!(
        [
            "code",
            "code id_token",
            "id_token",
            "id_token token",
            "code id_token token",
            "code token"
        ]
        .iter()
        .any(|t| types.contains(&sorted(t)))
    );
    assert!(types.contains(&"code".into()));

    // CheckDiscEndpointDiscoveryUrl, CheckDiscEndpointIssuer (OIDC Discovery §4.3: the
    // issuer is exactly the URL the document was fetched under, minus the well-known
    // suffix), CheckDiscEndpointIssuerIsValidUrl (RFC 8414 §2: https, no query, no
    // fragment).
    let issuer = m["issuer"].as_str().unwrap();
    assert_eq!(
        format!("{issuer}/.well-known/openid-configuration"),
        discovery_url
    );
    let issuer_url = Url::parse(issuer).unwrap();
    assert_eq!(issuer_url.scheme(), "https");
    assert!(issuer_url.query().is_none() && issuer_url.fragment().is_none());

    // Schema: each member has its type; unknown members would be the module's warning.
    for (k, v) in m {
        assert!(
            KNOWN_METADATA.contains(&k.as_str()),
            "unexpected member {k}"
        );
        if BOOLEAN_METADATA.contains(&k.as_str()) {
            assert!(v.is_boolean(), "{k} is a boolean");
        } else if k.ends_with("_supported") {
            let a = v.as_array().unwrap_or_else(|| panic!("{k} is an array"));
            assert!(!a.is_empty() && a.iter().all(Value::is_string), "{k}");
        } else if k != "mtls_endpoint_aliases" {
            assert!(v.is_string(), "{k} is a string");
        }
    }

    // CheckDiscEndpointSubjectTypesSupported
    let subjects = strings("subject_types_supported");
    assert!(!subjects.is_empty());
    assert!(subjects.iter().all(|s| s == "public" || s == "pairwise"));
    // OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported: RS256 (OIDC Core §15.1).
    let algs = strings("id_token_signing_alg_values_supported");
    assert!(algs.contains(&"RS256".into()));
    // OIDCCCheckDiscEndpointUserinfoSigningAlgValuesSupported: skipped when absent.
    if m.contains_key("userinfo_signing_alg_values_supported") {
        assert!(!strings("userinfo_signing_alg_values_supported").is_empty());
    }

    // CheckDiscEndpointAuthorizationEndpoint, …TokenEndpoint, …UserinfoEndpoint (https),
    // …RegistrationEndpoint (issue 14: dynamic registration is on by default).
    for k in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "registration_endpoint",
    ] {
        assert!(is_https_url(m[k].as_str().unwrap()), "{k}");
    }

    // CheckJwksUri, FetchServerKeys, ValidateServerJWKs,
    // EnsureServerJwksDoesNotContainPrivateOrSymmetricKeys.
    let jwks_uri = m["jwks_uri"].as_str().unwrap();
    assert!(is_https_url(jwks_uri));
    let r = app.http.get(jwks_uri).send().await.unwrap();
    assert_eq!(r.status(), 200);
    check_json_content_type(r.headers());
    check_server_jwks(&r.json().await.unwrap());

    // CheckDiscEndpointRequestParameterSupported, …RequestUriParameterSupported,
    // …ClaimsParameterSupported (INFO): booleans. Signed request objects are taken
    // (issue 19); request objects by reference and the claims parameter are not.
    assert_eq!(m["request_parameter_supported"], true);
    for k in [
        "request_uri_parameter_supported",
        "claims_parameter_supported",
    ] {
        assert_eq!(m[k], false, "{k}");
    }
    // CheckDiscRequestObjectSigningAlgValuesSupportedIncludesRS256, and no `none`.
    let algs = m["request_object_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&"RS256".into()) && !algs.contains(&"none".into()));
    // OIDCCCheckDiscEndpointClaimsSupported (WARNING): an array, with sub.
    assert!(strings("claims_supported").contains(&"sub".into()));

    // OIDCCCheckDiscEndpointGrantTypesSupported (static clients): authorization_code and
    // implicit.
    let grants = strings("grant_types_supported");
    for g in ["authorization_code", "implicit"] {
        assert!(grants.contains(&g.into()), "{g}");
    }

    // CheckDiscEndpointScopesSupportedContainsOpenId, …ScopesSupportedSyntax (RFC 6749
    // §3.3).
    let scopes = strings("scopes_supported");
    assert!(scopes.contains(&"openid".into()));
    assert!(scopes.iter().all(|s| is_scope_token(s)), "{scopes:?}");

    // CheckDiscEndpointLocalesSyntax, …LocalesCanonicalCasing (RFC 5646 §2.1.1: language
    // lower case, region upper case).
    for k in ["ui_locales_supported", "claims_locales_supported"] {
        if m.contains_key(k) {
            for tag in strings(k) {
                assert!(is_language_tag(&tag), "{k}: {tag}");
                let mut parts = tag.split('-');
                let lang = parts.next().unwrap();
                assert_eq!(lang, lang.to_ascii_lowercase(), "{tag}");
            }
        }
    }

    // CheckDiscEndpointAllEndpointsAreHttps: every endpoint and URI member.
    for (k, v) in m {
        if k.ends_with("_endpoint") || k == "jwks_uri" || k.ends_with("_iframe") {
            assert!(is_https_url(v.as_str().unwrap()), "{k} is https");
        }
    }

    // EnsureServerConfigurationCodeChallengeMethodsSupportedIsAnArray (RFC 8414 §2,
    // RFC 7636 §4.3).
    assert!(m["code_challenge_methods_supported"].is_array());
}
