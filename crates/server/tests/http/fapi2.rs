//! The OpenID Foundation conformance suite's **FAPI 2.0 Security Profile** plan
//! (`fapi2-security-profile-final-test-plan`, `FAPI2SPFinalTestPlan`) for the variant
//! `client_auth_type=private_key_jwt`, `sender_constrain=dpop`, `fapi_profile=plain_fapi`,
//! `fapi_request_method=unsigned`, `fapi_response_mode=plain_response`, both
//! `openid=openid_connect` and `plain_oauth`, ported like `conformance.rs` ports the Basic
//! plan: one test per module, named after it (`fapi2-security-profile-final-happy-flow` →
//! `fapi2_happy_flow`), checking what the module checks on the way (its conditions named).
//! The client is `fapi2_client.rs`: its own keys, assertions and DPoP proofs.
//!
//! Every module's flow (`AbstractFAPI2SPFinalServerTestModule`): discovery and JWKS
//! fetched and checked; the authorization request pushed (RFC 9126) with `private_key_jwt`
//! (RFC 7523, `aud` the issuer), PKCE S256, `state` and `nonce`; the browser sent to the
//! authorization endpoint with `client_id` and `request_uri` only; the response checked
//! (`iss` per RFC 9207, `state`, a code of enough entropy, nothing in the fragment); the
//! code redeemed with a fresh assertion, the verifier and a DPoP proof (RFC 9449); the
//! token response checked (`token_type` DPoP, entropy, `expires_in`, no-store); the ID
//! token verified by `jsonwebtoken` against the published key named by `kid` (PS256, FAPI
//! 2.0 SP §5.4); UserInfo, the resource, called with `Authorization: DPoP` and a proof with
//! `ath`.
//!
//! Files: this one (the OP, the request, PAR and the authorization response, and the
//! discovery module), `fapi2_flow.rs` (token request and response, ID token, UserInfo,
//! whole flows), `fapi2_authorize.rs` (happy flows and authorization-request modules),
//! `fapi2_token.rs` (token endpoint, client assertions, PKCE, refresh), `fapi2_dpop.rs`
//! (DPoP modules), `fapi2_par.rs` (PAR and request-object modules).
//!
//! Not ported: the modules the plan runs only for other variants — mTLS
//! (`…-ensure-holder-of-key-required` in its mTLS half; its DPoP half is in
//! `fapi2_dpop.rs`), the Brazil, ConnectID, CDR, KSA and CBUAE profiles, Grant Management
//! (`…-grant-management-*`, disabled), `…-ensure-registered-redirect-uri` (not applicable to
//! `plain_fapi`, which runs `…-plain-fapi-tolerate-unregistered-redirect-uri` instead), and
//! the signed-request-object modules the plan itself removes (they belong to the Message
//! Signing plan). `…-test-claims-parameter-identity-claims` is ported as its skip: Valet
//! advertises `claims_parameter_supported: false`. TLS cipher checks of the happy flow
//! (`EnsureTLS12RequireBCP195Ciphers` …) are rustls's, not Valet's, and are not repeated.

use reqwest::Url;
use serde_json::{Value, json};
use std::collections::HashSet;
use valet_protocol::application::{Profile, SigningAlg};
use valet_protocol::user::UserClaims;
use valet_server::admin::{NewClient, NewUser};
use valet_server::config::Partial;

use crate::conformance::{Op, callback, is_https_url, random};
use crate::fapi2_client::{FapiClient, Key, pkce, post_form};
use crate::flow::{Browser, PASSWORD, Page};
use crate::harness::spawn_with;

/// The suite's redirect URI for the first client.
pub(crate) const CB: &str = "https://client.example/cb";
/// The OpenID Connect variant's scope (the suite's `client.scope`).
pub(crate) const SCOPE: &str = "openid profile email";

// ---- The OP under test ----

/// Valet configured for FAPI 2.0 (`fapi2 = true`), with alice; discovery and JWKS fetched
/// and checked (`CheckServerConfiguration`, `FetchServerKeys`, `CheckServerKeysIsValid`,
/// `CheckForKeyIdInServerJWKs`, `FAPI2FinalEnsureMinimumServerKeyLength`), and one client.
pub(crate) async fn fapi() -> (Op, FapiClient) {
    fapi_with(|p| p).await
}

pub(crate) async fn fapi_with(tweak: impl FnOnce(Partial) -> Partial) -> (Op, FapiClient) {
    let app = spawn_with(|p| {
        tweak(Partial {
            fapi2: Some(true),
            ..p
        })
    })
    .await;
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
                    ..Default::default()
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
    for m in [
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "pushed_authorization_request_endpoint",
    ] {
        assert!(meta[m].is_string(), "CheckServerConfiguration: {m}");
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
    let client = register(&op, Key::es256()).await;
    (op, client)
}

/// The JWKS checks: distinct `kid`s, no private or symmetric members, every key usable by
/// `jsonwebtoken`, RSA keys of at least 2048 bits and EC keys of at least 256
/// (`FAPI2FinalEnsureMinimumServerKeyLength`, FAPI 2.0 SP §5.4).
fn check_server_jwks(jwks: &Value) {
    let keys = jwks["keys"].as_array().expect("a JWK Set has keys");
    assert!(!keys.is_empty());
    let mut kids = HashSet::new();
    for k in keys {
        let kid = k["kid"].as_str().expect("every key has a kid");
        assert!(kids.insert(kid.to_owned()), "kid {kid} is not distinct");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(k.get(private).is_none(), "{kid} publishes {private}");
        }
        match k["kty"].as_str().unwrap() {
            "RSA" => {
                let n = k["n"].as_str().unwrap();
                let bits = crate::fapi2_client::b64_decode(n).len() * 8;
                assert!(bits >= 2048, "{kid}: {bits}-bit RSA");
            }
            "EC" => assert_eq!(k["crv"], "P-256", "{kid}"),
            "OKP" => assert_eq!(k["crv"], "Ed25519", "{kid}"),
            other => panic!("{kid}: unexpected kty {other}"),
        }
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(k.clone())
            .unwrap_or_else(|e| panic!("{kid} is not a valid JWK: {e}"));
        jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    }
}

/// A FAPI 2.0 client registered by an admin with `key` (the suite's static `client`):
/// `private_key_jwt` by default, no secret, redirecting to `CB`.
pub(crate) async fn register(op: &Op, key: Key) -> FapiClient {
    register_as(op, key, None).await
}

pub(crate) async fn register_as(op: &Op, key: Key, id_token_alg: Option<SigningAlg>) -> FapiClient {
    let c = op
        .app
        .admin
        .create_client(
            NewClient {
                name: "FAPI 2.0 Conformance".into(),
                profile: Some(Profile::Fapi2),
                redirect_uris: vec![CB.into()],
                jwks: Some(json!({"keys": [key.registered_jwk()]})),
                id_token_alg,
                ..Default::default()
            },
            op.app.now(),
        )
        .await
        .unwrap();
    assert!(
        c.client_secret.is_none(),
        "a private_key_jwt client has no secret"
    );
    FapiClient {
        id: c.app.client_id,
        key,
        dpop: Key::es256(),
        issuer: op.issuer().to_owned(),
    }
}

// ---- Requests ----

/// An authorization request as the suite builds it before pushing it: its parameters in
/// order, and the PKCE verifier kept back for the token request.
#[derive(Clone)]
pub(crate) struct Request {
    pub(crate) params: Vec<(String, String)>,
    pub(crate) verifier: String,
}

impl Request {
    /// `CreateAuthorizationEndpointRequestFromClientInformation`, `CreateRandomStateValue`,
    /// `CreateRandomNonceValue` (with `openid` in the scope), `SetAuthorizationEndpoint
    /// RequestResponseTypeToCode`, `CreatePKCECodeVerifier`, `CreateS256CodeChallenge`.
    pub(crate) fn new(client: &FapiClient, scope: &str) -> Self {
        let (verifier, challenge) = pkce();
        let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let mut params = vec![
            p("client_id", &client.id),
            p("redirect_uri", CB),
            p("scope", scope),
            p("state", &random(10)),
            p("response_type", "code"),
            p("code_challenge", &challenge),
            p("code_challenge_method", "S256"),
        ];
        if scope.split(' ').any(|s| s == "openid") {
            params.push(p("nonce", &random(10)));
        }
        Self { params, verifier }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn set(mut self, name: &str, value: &str) -> Self {
        match self.params.iter_mut().find(|(k, _)| k == name) {
            Some(p) => p.1 = value.to_owned(),
            None => self.params.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    pub(crate) fn without(mut self, name: &str) -> Self {
        self.params.retain(|(k, _)| k != name);
        self
    }
}

// ---- PAR (RFC 9126) ----

/// `CallPAREndpoint`: the request's parameters and client authentication (by this
/// assertion), with an optional DPoP proof.
pub(crate) async fn par_with(
    op: &Op,
    client: &FapiClient,
    params: &[(String, String)],
    assertion: String,
    dpop: Option<&str>,
) -> reqwest::Response {
    let mut form: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "client_id")
        .cloned()
        .collect();
    form.extend(client.auth_form(assertion));
    post_form(
        &op.app.http,
        &op.endpoint("pushed_authorization_request_endpoint"),
        &form,
        dpop,
    )
    .await
}

pub(crate) async fn par(op: &Op, client: &FapiClient, req: &Request) -> reqwest::Response {
    par_with(
        op,
        client,
        &req.params,
        client.assertion(op.app.now()),
        None,
    )
    .await
}

/// A DPoP proof for the PAR endpoint (RFC 9449 §10).
pub(crate) fn par_proof(op: &Op, key: &Key) -> String {
    key.dpop(
        "POST",
        &op.endpoint("pushed_authorization_request_endpoint"),
        op.app.now(),
        None,
        None,
    )
}

/// `CheckPAREndpointResponse201WithNoError`, `CheckForRequestUriValue`,
/// `CheckForPARResponseExpiresIn`, `EnsureMinimumRequestUriEntropy`; returns the
/// `request_uri`.
pub(crate) async fn check_par_success(r: reqwest::Response) -> String {
    let status = r.status();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "PAR: {body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(headers["cache-control"], "no-store");
    let uri = body["request_uri"].as_str().expect("request_uri");
    let tail = uri
        .strip_prefix("urn:ietf:params:oauth:request_uri:")
        .unwrap_or_else(|| panic!("RFC 9126 §2.2 URN: {uri}"));
    assert!(shannon_bits(tail) > 96.0, "request_uri entropy: {uri}");
    let expires_in = body["expires_in"].as_i64().expect("expires_in");
    assert!(expires_in > 0 && expires_in <= 600, "{expires_in}");
    uri.to_owned()
}

/// Pushes `req` (no DPoP proof, as the suite does by default); returns the request_uri.
pub(crate) async fn push(op: &Op, client: &FapiClient, req: &Request) -> String {
    check_par_success(par(op, client, req).await).await
}

/// A PAR error (`EnsurePARInvalidRequestError` and friends): 4xx, JSON, one of `errors`.
pub(crate) async fn check_par_error(r: reqwest::Response, statuses: &[u16], errors: &[&str]) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert!(statuses.contains(&status), "PAR status {status}: {body}");
    let e = body["error"].as_str().expect("an error");
    assert!(
        errors.contains(&e),
        "PAR error {e} not in {errors:?}: {body}"
    );
    assert!(body.get("request_uri").is_none());
}

/// `BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint`: `request_uri`, and
/// the pushed request's `client_id`, `response_type`, `scope` and `redirect_uri` again
/// (the suite's `REQUIRED_DUPLICATES`, as OIDC Core §6.1 wants them in the query too;
/// RFC 9126 §4 says the authorization server ignores them).
pub(crate) fn authorize_url(op: &Op, req: &Request, request_uri: &str) -> String {
    let mut q = vec![("request_uri", request_uri)];
    for k in ["client_id", "response_type", "scope", "redirect_uri"] {
        if let Some(v) = req.get(k) {
            q.push((k, v));
        }
    }
    Url::parse_with_params(&op.endpoint("authorization_endpoint"), q)
        .unwrap()
        .to_string()
}

/// `BuildRequestObjectByReferenceRedirectToAuthorizationEndpointWithoutDuplicates`:
/// `client_id` and `request_uri` only.
pub(crate) fn authorize_url_only(op: &Op, client_id: &str, request_uri: &str) -> String {
    Url::parse_with_params(
        &op.endpoint("authorization_endpoint"),
        [("client_id", client_id), ("request_uri", request_uri)],
    )
    .unwrap()
    .to_string()
}

// ---- The browser ----

pub(crate) fn is_login_page(p: &Page) -> bool {
    p.status == 200 && p.body.contains("name=\"password\"")
}

pub(crate) fn is_consent_page(p: &Page) -> bool {
    p.status == 200 && p.body.contains("value=\"allow\"")
}

/// From the first page to the redirect back, alice signing in and allowing if asked.
pub(crate) async fn complete(op: &Op, b: &Browser, first: Page) -> String {
    let mut p = first;
    if is_login_page(&p) {
        p = b.login(&op.app, &p, "alice", PASSWORD).await;
    }
    if is_consent_page(&p) {
        p = b.consent(&op.app, &p, "allow").await;
    }
    assert_eq!(p.status, 303, "a redirect to the client: {}", p.body);
    p.location().unwrap()
}

/// Pushes `req` and completes it in `b`: the redirect back.
pub(crate) async fn authorize(op: &Op, client: &FapiClient, b: &Browser, req: &Request) -> String {
    let uri = push(op, client, req).await;
    let first = b.get(&authorize_url(op, req, &uri)).await;
    complete(op, b, first).await
}

/// The suite's `AbstractEnsureMinimumEntropy` (Shannon entropy × length).
pub(crate) fn shannon_bits(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::<char, usize>::new();
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let n = s.chars().count() as f64;
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum::<f64>()
        * n
}

/// A successful authorization response (`CheckIfAuthorizationEndpointError`,
/// `CheckStateInAuthorizationResponse`, `RequireIssInAuthorizationResponse`,
/// `RejectAuthCodeInUrlFragment`, `RejectStateInUrlFragmentForCodeFlow`,
/// `EnsureMinimumAuthorizationCodeLength`/`Entropy`); returns the code.
pub(crate) fn check_code_response(op: &Op, req: &Request, location: &str) -> String {
    let cb = callback(location);
    assert_eq!(cb.base, req.get("redirect_uri").unwrap_or(CB));
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
    assert_eq!(cb.query.get("iss").map(String::as_str), Some(op.issuer()));
    assert!(!cb.query.contains_key("id_token") && !cb.query.contains_key("access_token"));
    let code = cb.query.get("code").expect("a code").clone();
    assert!(code.len() >= 22, "code length");
    assert!(shannon_bits(&code) > 96.0, "code entropy");
    code
}

// ---- Discovery ----

// fapi2-security-profile-final-discovery-end-point-verification
// (`AbstractFAPI2SPFinalDiscoveryEndpointVerification`): the metadata a FAPI 2.0 client
// relies on (FAPI 2.0 SP §5.3.2.1, §5.3.2.2, §5.4; RFC 8414; RFC 9126 §5; RFC 9449 §5.1;
// RFC 9207 §3).
#[tokio::test]
async fn fapi2_discovery_end_point_verification() {
    let (op, _) = fapi().await;
    let m = &op.meta;
    let list = |name: &str| -> Vec<String> {
        m[name]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is an array"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    // CheckDiscEndpointIssuer, CheckDiscEndpointIssuerIsValidUrl: the issuer is this
    // origin, https, no query or fragment.
    assert_eq!(op.issuer(), op.app.settings.issuer);
    assert!(is_https_url(op.issuer()));
    let issuer = Url::parse(op.issuer()).unwrap();
    assert!(issuer.query().is_none() && issuer.fragment().is_none());
    // The RFC 8414 document says the same (CheckOauthDiscEndpointIssuer).
    let r = op
        .app
        .http
        .get(op.app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    if r.status() == 200 {
        let oauth: Value = r.json().await.unwrap();
        assert_eq!(oauth["issuer"], op.issuer());
    }
    for e in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "pushed_authorization_request_endpoint",
    ] {
        assert!(is_https_url(m[e].as_str().unwrap()), "{e}");
    }
    assert_eq!(
        m["pushed_authorization_request_endpoint"],
        format!("{}/oauth2/par", op.issuer())
    );
    // FAPI 2.0 SP §5.3.2.2-2: PAR only.
    assert_eq!(m["require_pushed_authorization_requests"], true);
    // EnsureServerConfigurationSupportsPrivateKeyJwt (§5.3.2.1-6).
    assert!(list("token_endpoint_auth_methods_supported").contains(&"private_key_jwt".into()));
    // FAPI2CheckDiscEndpointTokenEndpointAuthSigningAlgValuesSupported,
    // FAPI2CheckDpopSigningAlgValuesSupported, FAPI2CheckDiscEndpointIdTokenSigning
    // AlgValuesSupported (§5.4-1): at least one of PS256, ES256, EdDSA.
    let fapi_algs = ["PS256", "ES256", "EdDSA"];
    for name in [
        "token_endpoint_auth_signing_alg_values_supported",
        "dpop_signing_alg_values_supported",
        "id_token_signing_alg_values_supported",
    ] {
        let algs = list(name);
        assert!(
            algs.iter().any(|a| fapi_algs.contains(&a.as_str())),
            "{name}: {algs:?}"
        );
        assert!(
            !algs.iter().any(|a| a == "none" || a.starts_with("HS")),
            "{name}"
        );
    }
    assert_eq!(
        list("dpop_signing_alg_values_supported"),
        ["PS256", "ES256", "EdDSA", "RS256"]
    );
    assert_eq!(
        list("id_token_signing_alg_values_supported"),
        ["RS256", "PS256", "ES256", "EdDSA"]
    );
    // EnsureServerConfigurationSupportsCodeChallengeMethodS256 (§5.3.2.2-5): S256 only.
    assert_eq!(list("code_challenge_methods_supported"), ["S256"]);
    // RFC 9207: FAPI 2.0 SP §5.3.2.2-7 requires iss in the response.
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert!(list("response_types_supported").contains(&"code".into()));
    // CheckDiscEndpointScopesSupportedSyntax (RFC 6749 §3.3).
    for s in list("scopes_supported") {
        assert!(
            !s.is_empty()
                && s.chars()
                    .all(|c| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')),
            "{s}"
        );
    }
    assert!(list("scopes_supported").contains(&"openid".into()));
    assert_eq!(list("subject_types_supported"), ["public", "pairwise"]);
    assert_eq!(m["request_parameter_supported"], true);
    assert_eq!(
        list("request_object_signing_alg_values_supported"),
        ["PS256", "ES256", "EdDSA", "RS256"]
    );
    // No mTLS here (CheckTLSClientCertificateBoundAccessTokensTrue is the mTLS variant's).
    assert_ne!(m["tls_client_certificate_bound_access_tokens"], true);
}
