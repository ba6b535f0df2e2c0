//! `/oauth2/authorize` through a real browser-like client: redirect URI validation and
//! the order of checks (checklist A), request parameters and `state` (B), PKCE at the
//! authorization endpoint (E6-E8), implicit responses (I), `prompt`, `max_age` and
//! `id_token_hint` (J3-J7) and the OpenID parameters that must never break a request (J11).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use std::time::Duration;
use valet_protocol::application::{GrantType, Profile};
use valet_server::admin::NewClient;

use crate::flow::{Browser, PASSWORD, Page, REDIRECT, param, unescape};
use crate::harness::{TestApp, spawn_app};

/// A code verifier and its S256 challenge, BASE64URL(SHA-256(verifier)).
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc";

/// `application/x-www-form-urlencoded` of these pairs, in order.
fn form(pairs: &[(&str, &str)]) -> String {
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    valet_protocol::response::encode(&owned)
}

/// An authorization request with exactly these parameters.
fn url(app: &TestApp, pairs: &[(&str, &str)]) -> String {
    app.url(&format!("/oauth2/authorize?{}", form(pairs)))
}

/// A valid code request of the web client, plus `extra` (later pairs do not replace
/// earlier ones: a name in `extra` is sent twice).
fn code_request<'a>(id: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("client_id", id),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "st1"),
    ];
    p.extend_from_slice(extra);
    p
}

/// The same request with `name` set to `value` (replaced where present, else added).
fn set<'a>(pairs: &[(&'a str, &'a str)], name: &'a str, value: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut out = without(pairs, &[name]);
    out.push((name, value));
    out
}

/// The same request without the parameters named in `drop`.
fn without<'a>(pairs: &[(&'a str, &'a str)], drop: &[&str]) -> Vec<(&'a str, &'a str)> {
    pairs
        .iter()
        .filter(|(k, _)| !drop.contains(k))
        .copied()
        .collect()
}

fn is_login_page(p: &Page) -> bool {
    p.status == 200 && p.body.contains("name=\"password\"")
}

/// ERRPAGE: 400, HTML, nothing redirected.
fn assert_error_page(p: &Page, case: &str) {
    assert_eq!(
        p.status,
        400,
        "{case}: expected the error page, got {:?}",
        p.location()
    );
    assert!(p.location().is_none(), "{case}: no Location header");
    assert!(
        p.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{case}"
    );
    assert!(
        p.body.contains("This sign-in request is not valid"),
        "{case}"
    );
    assert!(
        !p.body.contains("<form"),
        "{case}: no form (form_post) either"
    );
}

/// REDIR(err) (checklist A9, A12): a 303 to `base` followed by `sep` (`?` or `#`), with
/// `error`, a clean `error_description`, `iss`, and `state` exactly as sent.
fn assert_redirect_error(
    app: &TestApp,
    p: &Page,
    base: &str,
    sep: char,
    error: &str,
    state: Option<&str>,
) -> String {
    assert_eq!(p.status, 303, "expected REDIR({error}): {}", p.body);
    let loc = p.location().unwrap();
    assert!(
        loc.starts_with(&format!("{base}{sep}")),
        "{loc} is not {base}{sep}…"
    );
    assert_eq!(param(&loc, "error").as_deref(), Some(error), "{loc}");
    let d = param(&loc, "error_description").unwrap();
    assert!(
        d.chars()
            .all(valet_protocol::error::allowed_description_char),
        "{d:?}"
    );
    assert_eq!(
        param(&loc, "iss").as_deref(),
        Some(app.settings.issuer.as_str())
    );
    assert_eq!(param(&loc, "state").as_deref(), state, "{loc}");
    if sep == '#' {
        assert!(!loc.contains('?'), "nothing in the query (I5): {loc}");
    }
    assert!(param(&loc, "code").is_none());
    loc
}

/// Redeems the code in `location` for the web client.
async fn redeem(app: &TestApp, id: &str, secret: &str, location: &str) -> Value {
    let code = param(location, "code").expect("a code");
    let r = app
        .post(
            "/oauth2/token",
            id,
            secret,
            &form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ]),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The payload of a JWT, unverified.
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Verifies an ID token with an independent JOSE library against the JWKS.
async fn verify_id_token(app: &TestApp, jwt: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let kid = header.kid.unwrap();
    let jwks = app.jwks().await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[client_id]);
    v.set_issuer(&[&app.settings.issuer]);
    jsonwebtoken::decode::<Value>(jwt, &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(), &v)
        .unwrap()
        .claims
}

/// The web client with alice signed in and consented; returns (id, secret, browser, the
/// first redirect).
async fn signed_in(app: &TestApp) -> (String, String, Browser, String) {
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let b = app.browser();
    let loc = b
        .sign_in(app, &url(app, &code_request(&id, &[])), "alice")
        .await;
    (id, secret, b, loc)
}

// ---- A. Client and redirect_uri validation ----

// Checklist A1, A2, A3, A8: any redirect_uri that is not byte for byte a registered one
// gives the error page and no redirect, whatever the response mode.
#[tokio::test]
async fn unregistered_redirect_uris_get_an_error_page_and_no_redirect() {
    let app = spawn_app().await;
    let (id, _) = app
        .client(NewClient {
            name: "Strict".into(),
            profile: Some(Profile::Web),
            redirect_uris: vec![
                "https://app.example/callback".into(),
                "https://app.example/cb2?tenant=1".into(),
                "https://xn--bcher-kva.example/cb".into(),
            ],
            ..Default::default()
        })
        .await;
    let b = app.browser();
    // The control: the registered URIs themselves work.
    for good in [
        "https://app.example/callback",
        "https://app.example/cb2?tenant=1",
        "https://xn--bcher-kva.example/cb",
    ] {
        let p = b
            .get(&url(
                &app,
                &[
                    ("client_id", &id),
                    ("redirect_uri", good),
                    ("response_type", "code"),
                    ("scope", "openid"),
                ],
            ))
            .await;
        assert!(is_login_page(&p), "{good} is registered");
    }
    let bad = [
        // A1: any differing byte.
        "https://app.example/CALLBACK",
        "https://APP.example/callback",
        "https://app.example/callback/",
        "https://app.example/callback?x=1",
        "https://app.example/cb2?tenant=2",
        "https://app.example/cb2?tenant=1&x=1",
        "https://app.example/cb2",
        "https://app.example/callback#frag",
        "https://app.example/callback/extra",
        "https://app.example:443/callback",
        "http://app.example/callback",
        "https://bücher.example/cb",
        " https://app.example/callback",
        "https://app.example/callback%20",
        // A2: traversal and encoding tricks, compared raw.
        "https://app.example/callback/../evil",
        "https://app.example/callback/%2e%2e/evil",
        "https://app.example/callback/%252e%252e/",
        "https://app.example/callback/..;/evil",
        "https://app.example\\@evil.example/callback",
        "https://app.example/callback\\..\\evil",
        // A3: userinfo and authority confusion.
        "https://app.example@evil.com/callback",
        "https://a@b@evil.com/callback",
        "https://app.example%40evil.com/callback",
        "https://evil.com#@app.example/callback",
        "https://evil.com/?https://app.example/callback",
    ];
    for uri in bad {
        for mode in ["", "query", "fragment", "form_post"] {
            let p = b
                .get(&url(
                    &app,
                    &[
                        ("client_id", &id),
                        ("redirect_uri", uri),
                        ("response_type", "code"),
                        ("scope", "openid"),
                        ("state", "s"),
                        ("response_mode", mode),
                    ],
                ))
                .await;
            assert_error_page(&p, &format!("{uri} (response_mode={mode})"));
        }
    }
}

// Checklist A4: a native app registered with http://127.0.0.1/cb may use any port; nothing
// else about the URI may change, and https clients get no loopback exception.
#[tokio::test]
async fn loopback_redirect_accepts_any_port_and_nothing_else() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (native, _) = app
        .client(NewClient {
            name: "Desktop".into(),
            profile: Some(Profile::Native),
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            ..Default::default()
        })
        .await;
    let (web, _) = app.web_client().await;
    let b = app.browser();
    let request = |client: &str, uri: &str| {
        url(
            &app,
            &[
                ("client_id", client),
                ("redirect_uri", uri),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "lb"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        )
    };

    // Any port: the whole flow ends at that port.
    let loc = b
        .sign_in(
            &app,
            &request(&native, "http://127.0.0.1:51234/cb"),
            "alice",
        )
        .await;
    assert!(loc.starts_with("http://127.0.0.1:51234/cb?code="), "{loc}");
    assert_eq!(param(&loc, "state").as_deref(), Some("lb"));
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &param(&loc, "code").unwrap()),
            ("redirect_uri", "http://127.0.0.1:51234/cb"),
            ("client_id", &native),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "the code redeems with the same port: {body}");
    let other_port = b.get(&request(&native, "http://127.0.0.1:8080/cb")).await;
    assert_eq!(other_port.status, 303, "signed in: straight back");
    assert!(
        other_port
            .location()
            .unwrap()
            .starts_with("http://127.0.0.1:8080/cb?")
    );

    for bad in [
        "http://127.0.0.1:51234/cb2",
        "http://127.0.0.1:51234/cb/",
        "http://127.0.0.1:51234/cb?x=1",
        "http://127.0.0.1:51234/cb#x",
        "http://127.0.0.1:51234/CB",
        "http://localhost:51234/cb",
        "http://127.0.0.2:51234/cb",
        "http://[::1]:51234/cb",
        "https://127.0.0.1:51234/cb",
        "http://127.0.0.1:80@evil.com/cb",
        "http://127.0.0.1:51234@evil.com/cb",
        "http://127.0.0.1:/cb",
        "http://127.0.0.1:123456/cb",
        "http://127.0.0.1:-1/cb",
        "http://127.0.0.1.evil.com/cb",
    ] {
        assert_error_page(&b.get(&request(&native, bad)).await, bad);
    }
    // No loopback exception for a client registered with an https URI.
    assert_error_page(
        &b.get(&request(&web, "http://127.0.0.1:51234/cb")).await,
        "web client, loopback URI",
    );
}

// Checklist A5: an unknown, missing or empty client_id is a page even with a redirect_uri.
#[tokio::test]
async fn unknown_or_missing_client_gets_an_error_page() {
    let app = spawn_app().await;
    let b = app.browser();
    let rest = [
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s"),
    ];
    let mut cases: Vec<Vec<(&str, &str)>> = vec![rest.to_vec()];
    for id in ["unknown-client", "", "%00", "../admin"] {
        let mut c = vec![("client_id", id)];
        c.extend_from_slice(&rest);
        cases.push(c);
    }
    for c in cases {
        assert_error_page(&b.get(&url(&app, &c)).await, &format!("{c:?}"));
    }
}

// Checklist A6: client_id and redirect_uri are checked before response_type, scope, prompt
// and request: with either of them bad, every other error still ends on the page.
#[tokio::test]
async fn client_and_redirect_uri_are_checked_before_everything_else() {
    let app = spawn_app().await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let worst = [
        ("response_type", "foo"),
        ("scope", "nonsense"),
        ("prompt", "none"),
        ("request", "eyJhbGciOiJub25lIn0.e30."),
        ("request_uri", "https://evil.example/r"),
        ("code_challenge_method", "plain"),
        ("response_mode", "form_post"),
        ("state", "s"),
    ];
    // The checklist's example: unknown client, foreign redirect_uri, bad response_type.
    let mut unknown = vec![("client_id", "unknown"), ("redirect_uri", "https://evil")];
    unknown.extend_from_slice(&worst);
    assert_error_page(&b.get(&url(&app, &unknown)).await, "unknown client");
    // A known client with a foreign redirect_uri.
    let mut evil = vec![
        ("client_id", id.as_str()),
        ("redirect_uri", "https://evil.example/cb"),
    ];
    evil.extend_from_slice(&worst);
    assert_error_page(&b.get(&url(&app, &evil)).await, "foreign redirect_uri");
    // Once both are verified, the same request is redirected: the request object first
    // (RFC 9101 §6.3: its parameters replace the others, so it is opened before they are
    // read), then response_type.
    let mut ok = vec![("client_id", id.as_str()), ("redirect_uri", REDIRECT)];
    ok.extend_from_slice(&worst);
    let p = b.get(&url(&app, &ok)).await;
    assert_redirect_error(&app, &p, REDIRECT, '?', "request_not_supported", Some("s"));
    ok.retain(|(k, _)| *k != "request");
    let p = b.get(&url(&app, &ok)).await;
    assert_redirect_error(
        &app,
        &p,
        REDIRECT,
        '?',
        "unsupported_response_type",
        Some("s"),
    );
}

// Checklist A7: an OpenID request must name its redirect_uri; plain OAuth may omit it only
// when exactly one is registered.
#[tokio::test]
async fn omitted_redirect_uri_only_for_plain_oauth_with_one_registered_uri() {
    let app = spawn_app().await;
    let (one, _) = app.web_client().await;
    let (two, _) = app
        .client(NewClient {
            name: "Two".into(),
            profile: Some(Profile::Web),
            redirect_uris: vec![REDIRECT.into(), "https://app.example/other".into()],
            ..Default::default()
        })
        .await;
    let b = app.browser();
    let req = |client: &str, scope: &str| {
        url(
            &app,
            &[
                ("client_id", client),
                ("response_type", "code"),
                ("scope", scope),
                ("state", "s"),
            ],
        )
    };
    assert_error_page(&b.get(&req(&two, "openid")).await, "OIDC, two URIs");
    assert_error_page(&b.get(&req(&one, "openid")).await, "OIDC, one URI");
    assert_error_page(&b.get(&req(&two, "profile")).await, "OAuth, two URIs");
    assert!(
        is_login_page(&b.get(&req(&one, "profile")).await),
        "plain OAuth with exactly one registered URI may omit it"
    );
}

// Checklist A8: form_post HTML-escapes the action URL and every value, and the error of a
// verified request goes back through the form too.
#[tokio::test]
async fn form_post_escapes_the_action_and_the_values() {
    let app = spawn_app().await;
    let tricky = "https://app.example/cb?a=1&b=\"2\"";
    let (id, _) = app
        .client(NewClient {
            name: "Poster".into(),
            profile: Some(Profile::Web),
            redirect_uris: vec![tricky.into()],
            ..Default::default()
        })
        .await;
    let state = "\"><script>alert(1)</script>&x=<b>";
    let b = app.browser();
    let p = b
        .get(&url(
            &app,
            &[
                ("client_id", &id),
                ("redirect_uri", tricky),
                ("response_type", "code"),
                ("scope", "unknown-scope"),
                ("state", state),
                ("response_mode", "form_post"),
            ],
        ))
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.location().is_none());
    assert!(!p.body.contains("<script>alert"), "state is escaped");
    assert!(!p.body.contains("<b>"));
    assert!(!p.body.contains("b=\"2\""), "the action is escaped");
    let action = p
        .body
        .split("action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(unescape(action), tricky);
    assert_eq!(p.field("state").as_deref(), Some(state));
    assert_eq!(p.field("error").as_deref(), Some("invalid_scope"));
    assert_eq!(
        p.field("iss").as_deref(),
        Some(app.settings.issuer.as_str())
    );
    assert!(p.field("code").is_none());
}

// Checklist A11: no CORS on the authorization endpoint, even for an origin that does get
// CORS on the API endpoints.
#[tokio::test]
async fn authorization_endpoint_sends_no_cors_headers() {
    let app = spawn_app().await;
    let (id, _) = app.web_client().await;
    let origin = "https://app.example";
    // The control: this origin is allowed on the API endpoints.
    let jwks = app
        .http
        .get(app.url("/oauth2/jwks"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.headers()["access-control-allow-origin"], origin);

    let target = url(&app, &code_request(&id, &[]));
    let get = app
        .http
        .get(&target)
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let post = app
        .http
        .post(app.url("/oauth2/authorize"))
        .header("origin", origin)
        .form(&code_request(&id, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200);
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, &target)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    let evil = app
        .http
        .get(&target)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    for r in [&get, &post, &preflight, &evil] {
        for h in r.headers().keys() {
            assert!(
                !h.as_str().starts_with("access-control-"),
                "{h} on /oauth2/authorize"
            );
        }
    }
}

// Checklist A12: `iss` equals the issuer in success and error responses, and the metadata
// says so.
#[tokio::test]
async fn iss_is_in_success_and_error_responses() {
    let app = spawn_app().await;
    let (id, _, b, loc) = signed_in(&app).await;
    assert!(param(&loc, "code").is_some());
    assert_eq!(param(&loc, "iss").unwrap(), app.settings.issuer);
    // Silent success, error in the query, error in the fragment.
    let again = b.get(&url(&app, &code_request(&id, &[]))).await;
    assert_eq!(
        param(&again.location().unwrap(), "iss").unwrap(),
        app.settings.issuer
    );
    let q = b
        .get(&url(&app, &code_request(&id, &[("prompt", "bogus")])))
        .await;
    assert_redirect_error(&app, &q, REDIRECT, '?', "invalid_request", Some("st1"));
    let f = b
        .get(&url(
            &app,
            &[
                ("client_id", &id),
                ("redirect_uri", REDIRECT),
                ("response_type", "token"),
                ("nonce", "n"),
            ],
        ))
        .await;
    assert_redirect_error(&app, &f, REDIRECT, '#', "unauthorized_client", None);
    let m: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
}

// ---- B. Parameters and state ----

// Checklist B1: state comes back byte for byte (`+ / = %`, spaces, non-ASCII, 1-2 KB) in
// success and error redirects.
#[tokio::test]
async fn state_is_echoed_byte_for_byte() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let pattern = "a+b/c=d%e%25 &?#;é~";
    let long: String = pattern.chars().cycle().take(1800).collect();
    assert!((1024..=2048).contains(&long.len()));
    for state in [pattern, long.as_str(), "%2B%2F", "=", "+"] {
        let req = set(&code_request(&id, &[]), "state", state);
        let loc = b.sign_in(&app, &url(&app, &req), "alice").await;
        assert_eq!(param(&loc, "state").as_deref(), Some(state), "success");
        let err = b
            .get(&url(
                &app,
                &[
                    ("client_id", &id),
                    ("redirect_uri", REDIRECT),
                    ("response_type", "code"),
                    ("scope", "no-such-scope"),
                    ("state", state),
                ],
            ))
            .await;
        assert_redirect_error(&app, &err, REDIRECT, '?', "invalid_scope", Some(state));
    }
}

// Checklist B1, B4: no state (or an empty one) → no state in the response.
#[tokio::test]
async fn no_state_in_no_state_out() {
    let app = spawn_app().await;
    let (id, _, b, _) = signed_in(&app).await;
    let stateless = without(&code_request(&id, &[]), &["state"]);
    let loc = b.get(&url(&app, &stateless)).await.location().unwrap();
    assert!(param(&loc, "code").is_some());
    assert!(!loc.contains("state="), "{loc}");
    let mut empty = stateless.clone();
    empty.push(("state", ""));
    let loc = b.get(&url(&app, &empty)).await.location().unwrap();
    assert!(param(&loc, "code").is_some());
    assert!(!loc.contains("state="), "empty state is absent: {loc}");
    let mut bad = empty.clone();
    bad.push(("prompt", "bogus"));
    let p = b.get(&url(&app, &bad)).await;
    assert_redirect_error(&app, &p, REDIRECT, '?', "invalid_request", None);
}

// Checklist B2: a repeated client_id or redirect_uri is a page; a repeated response_type or
// scope is redirected as invalid_request.
#[tokio::test]
async fn duplicate_parameters() {
    let app = spawn_app().await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    for dup in [
        ("client_id", id.as_str()),
        ("client_id", "other"),
        ("redirect_uri", REDIRECT),
    ] {
        let p = b.get(&url(&app, &code_request(&id, &[dup]))).await;
        assert_error_page(&p, &format!("two {}", dup.0));
    }
    // Sent twice: the base request already has response_type, scope and state; the others
    // are added twice. A repeated state is echoed as its first value.
    for dup in [
        [("response_type", "code"), ("x", "")],
        [("response_type", "token"), ("x", "")],
        [("scope", "openid"), ("x", "")],
        [("scope", "email"), ("x", "")],
        [("state", "st2"), ("x", "")],
        [("nonce", "n"), ("nonce", "n")],
        [("prompt", "login"), ("prompt", "consent")],
        [("code_challenge", CHALLENGE), ("code_challenge", CHALLENGE)],
    ] {
        let p = b.get(&url(&app, &code_request(&id, &dup))).await;
        let loc = assert_redirect_error(&app, &p, REDIRECT, '?', "invalid_request", Some("st1"));
        assert!(
            param(&loc, "error_description").unwrap().contains(dup[0].0),
            "{loc}"
        );
    }
}

// Checklist B3, B5: unknown parameters are ignored and scope order does not matter; an
// unknown scope is invalid_scope.
#[tokio::test]
async fn unknown_parameters_are_ignored_and_scope_order_is_free() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let b = app.browser();
    let req = [
        ("extra", "foobar"),
        ("scope", "email profile openid"),
        ("state", "s"),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("client_id", &id),
        ("foo[]", "1"),
    ];
    let loc = b.sign_in(&app, &url(&app, &req), "alice").await;
    let tokens = redeem(&app, &id, &secret, &loc).await;
    let mut granted: Vec<&str> = tokens["scope"].as_str().unwrap().split(' ').collect();
    granted.sort_unstable();
    assert_eq!(granted, ["email", "openid", "profile"]);
    let p = b
        .get(&url(
            &app,
            &set(&code_request(&id, &[]), "scope", "openid nope"),
        ))
        .await;
    assert_redirect_error(&app, &p, REDIRECT, '?', "invalid_scope", Some("st1"));
}

// Checklist B4, J1: empty parameters count as absent: `nonce=` gives an ID token without a
// nonce, `prompt=`, `max_age=`, `code_challenge=` and `request=` change nothing.
#[tokio::test]
async fn empty_parameters_are_absent() {
    let app = spawn_app().await;
    let (id, secret, b, _) = signed_in(&app).await;
    let req = code_request(
        &id,
        &[
            ("nonce", ""),
            ("prompt", ""),
            ("max_age", ""),
            ("code_challenge", ""),
            ("code_challenge_method", ""),
            ("response_mode", ""),
            ("id_token_hint", ""),
            ("login_hint", ""),
            ("request", ""),
            ("request_uri", ""),
        ],
    );
    let p = b.get(&url(&app, &req)).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let loc = p.location().unwrap();
    assert!(loc.starts_with(&format!("{REDIRECT}?code=")), "{loc}");
    let tokens = redeem(&app, &id, &secret, &loc).await;
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert!(claims.get("nonce").is_none(), "{claims}");
    // An empty client_id is no client_id.
    let mut no_client = without(&req, &["client_id"]);
    no_client.push(("client_id", ""));
    assert_error_page(&b.get(&url(&app, &no_client)).await, "empty client_id");
}

// Checklist B6: a missing response_type is redirected invalid_request, an unknown one
// unsupported_response_type.
#[tokio::test]
async fn missing_or_unknown_response_type_is_redirected() {
    let app = spawn_app().await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let base = code_request(&id, &[]);
    let p = b.get(&url(&app, &without(&base, &["response_type"]))).await;
    assert_redirect_error(&app, &p, REDIRECT, '?', "invalid_request", Some("st1"));
    for t in ["foo", "code token", "code id_token", "none"] {
        let mut req = without(&base, &["response_type"]);
        req.push(("response_type", t));
        let p = b.get(&url(&app, &req)).await;
        assert_redirect_error(
            &app,
            &p,
            REDIRECT,
            '?',
            "unsupported_response_type",
            Some("st1"),
        );
    }
}

// Checklist B7: POST behaves like GET, for the happy path and for both kinds of error.
#[tokio::test]
async fn post_behaves_like_get() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let b = app.browser();
    let endpoint = app.url("/oauth2/authorize");
    let login = b.post_form(&endpoint, &code_request(&id, &[])).await;
    assert!(is_login_page(&login));
    let consent = b.login(&app, &login, "alice", PASSWORD).await;
    let done = b.consent(&app, &consent, "allow").await;
    assert_eq!(done.status, 303);
    let loc = done.location().unwrap();
    assert_eq!(param(&loc, "state").as_deref(), Some("st1"));
    let tokens = redeem(&app, &id, &secret, &loc).await;
    assert!(tokens["id_token"].is_string());
    // Silent, as GET would be.
    let again = b.post_form(&endpoint, &code_request(&id, &[])).await;
    assert!(param(&again.location().unwrap(), "code").is_some());

    let evil = b
        .post_form(
            &endpoint,
            &[
                ("client_id", id.as_str()),
                ("redirect_uri", "https://evil.example/cb"),
                ("response_type", "code"),
            ],
        )
        .await;
    assert_error_page(&evil, "POST, foreign redirect_uri");
    let dup = b
        .post_form(&endpoint, &code_request(&id, &[("scope", "email")]))
        .await;
    assert_redirect_error(&app, &dup, REDIRECT, '?', "invalid_request", Some("st1"));
}

// Checklist B8: an unsigned request object is refused, and the server never fetches a
// request_uri (only its own, from PAR, are taken).
#[tokio::test]
async fn request_and_request_uri_are_not_supported_and_never_fetched() {
    let app = spawn_app().await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    // An unsigned request object (alg none) is not supported (signed ones: par.rs).
    let p = b
        .get(&url(
            &app,
            &code_request(
                &id,
                &[("request", "eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6IngifQ.")],
            ),
        ))
        .await;
    assert_redirect_error(
        &app,
        &p,
        REDIRECT,
        '?',
        "request_not_supported",
        Some("st1"),
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    for target in [
        format!("http://127.0.0.1:{port}/request.jwt"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let p = b
            .get(&url(&app, &code_request(&id, &[("request_uri", &target)])))
            .await;
        assert_redirect_error(
            &app,
            &p,
            REDIRECT,
            '?',
            "request_uri_not_supported",
            Some("st1"),
        );
    }
    let fetched = tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
    assert!(fetched.is_err(), "Valet connected to the request_uri");
}

// ---- E. PKCE at the authorization endpoint ----

// Checklist E6: public clients (and confidential ones marked require_pkce) must send a
// code_challenge.
#[tokio::test]
async fn public_clients_need_a_code_challenge() {
    let app = spawn_app().await;
    let (spa, _) = app
        .client(NewClient {
            name: "SPA".into(),
            profile: Some(Profile::Spa),
            redirect_uris: vec![REDIRECT.into()],
            ..Default::default()
        })
        .await;
    let (strict, _) = app
        .client(NewClient {
            name: "Strict web".into(),
            profile: Some(Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            require_pkce: true,
            require_mfa: false,
            ..Default::default()
        })
        .await;
    let (web, _) = app.web_client().await;
    let b = app.browser();
    for id in [&spa, &strict] {
        let p = b.get(&url(&app, &code_request(id, &[]))).await;
        let loc = assert_redirect_error(&app, &p, REDIRECT, '?', "invalid_request", Some("st1"));
        assert!(
            param(&loc, "error_description")
                .unwrap()
                .contains("code challenge required"),
            "{loc}"
        );
        let ok = b
            .get(&url(
                &app,
                &code_request(
                    id,
                    &[
                        ("code_challenge", CHALLENGE),
                        ("code_challenge_method", "S256"),
                    ],
                ),
            ))
            .await;
        assert!(is_login_page(&ok), "with S256 the request proceeds");
    }
    assert!(
        is_login_page(&b.get(&url(&app, &code_request(&web, &[]))).await),
        "an ordinary confidential client may omit PKCE"
    );
}

// Checklist E7, E8: plain (explicit or implied), unknown methods and malformed challenges
// are redirected invalid_request; plain works only where an admin allowed it.
#[tokio::test]
async fn pkce_methods_and_challenge_shape() {
    let app = spawn_app().await;
    let (spa, _) = app
        .client(NewClient {
            name: "SPA".into(),
            profile: Some(Profile::Spa),
            redirect_uris: vec![REDIRECT.into()],
            ..Default::default()
        })
        .await;
    let (plain_ok, _) = app
        .client(NewClient {
            name: "Legacy".into(),
            profile: Some(Profile::Spa),
            redirect_uris: vec![REDIRECT.into()],
            allow_plain_pkce: true,
            ..Default::default()
        })
        .await;
    let b = app.browser();
    let short = &CHALLENGE[..42];
    let long = format!("{CHALLENGE}A");
    let plus = format!("{}+", &CHALLENGE[..42]);
    let padded = format!("{}=", &CHALLENGE[..42]);
    let bad: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
        vec![("code_challenge", VERIFIER)],
        vec![
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S512"),
        ],
        vec![
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "s256"),
        ],
        vec![("code_challenge_method", "S256")],
        vec![("code_challenge", short), ("code_challenge_method", "S256")],
        vec![
            ("code_challenge", long.as_str()),
            ("code_challenge_method", "S256"),
        ],
        vec![
            ("code_challenge", plus.as_str()),
            ("code_challenge_method", "S256"),
        ],
        vec![
            ("code_challenge", padded.as_str()),
            ("code_challenge_method", "S256"),
        ],
    ];
    for extra in &bad {
        let p = b.get(&url(&app, &code_request(&spa, extra))).await;
        assert_redirect_error(&app, &p, REDIRECT, '?', "invalid_request", Some("st1"));
    }
    for extra in [
        vec![
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
        vec![("code_challenge", VERIFIER)],
    ] {
        let p = b.get(&url(&app, &code_request(&plain_ok, &extra))).await;
        assert!(
            is_login_page(&p),
            "plain allowed for this client: {extra:?}"
        );
    }
    let p = b
        .get(&url(
            &app,
            &code_request(
                &plain_ok,
                &[
                    ("code_challenge", "short"),
                    ("code_challenge_method", "plain"),
                ],
            ),
        ))
        .await;
    assert_redirect_error(&app, &p, REDIRECT, '?', "invalid_request", Some("st1"));
}

// ---- I. Implicit ----

async fn implicit_client(app: &TestApp) -> (String, String) {
    app.client(NewClient {
        name: "Legacy SPA backend".into(),
        profile: Some(Profile::Web),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: Some(vec![
            GrantType::AuthorizationCode,
            GrantType::Implicit,
            GrantType::RefreshToken,
        ]),
        ..Default::default()
    })
    .await
}

// Checklist I6: implicit response types are refused unless the client registered for
// them, with the error in the fragment (I5).
#[tokio::test]
async fn implicit_is_off_by_default() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    for t in ["token", "id_token token", "token id_token", "id_token"] {
        let p = b
            .get(&url(
                &app,
                &[
                    ("client_id", &id),
                    ("redirect_uri", REDIRECT),
                    ("response_type", t),
                    ("scope", "openid"),
                    ("nonce", "n"),
                    ("state", "s"),
                ],
            ))
            .await;
        assert_redirect_error(&app, &p, REDIRECT, '#', "unauthorized_client", Some("s"));
    }
}

// Checklist I1, I5, G9: response_type=token puts the token in the fragment only, with
// token_type, expires_in and state, and no refresh token.
#[tokio::test]
async fn implicit_token_only_in_the_fragment() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = implicit_client(&app).await;
    let b = app.browser();
    let loc = b
        .sign_in(
            &app,
            &url(
                &app,
                &[
                    ("client_id", &id),
                    ("redirect_uri", REDIRECT),
                    ("response_type", "token"),
                    ("scope", "openid profile"),
                    ("state", "imp"),
                ],
            ),
            "alice",
        )
        .await;
    assert!(loc.starts_with(&format!("{REDIRECT}#")), "{loc}");
    assert!(!loc.contains('?'), "nothing in the query: {loc}");
    let token = param(&loc, "access_token").unwrap();
    assert_eq!(param(&loc, "token_type").as_deref(), Some("Bearer"));
    assert_eq!(param(&loc, "expires_in").as_deref(), Some("600"));
    assert_eq!(param(&loc, "state").as_deref(), Some("imp"));
    assert_eq!(param(&loc, "iss").unwrap(), app.settings.issuer);
    for absent in ["refresh_token", "code", "id_token"] {
        assert!(param(&loc, absent).is_none(), "{absent} in {loc}");
    }
    assert_eq!(app.introspect(&id, &secret, &token).await["active"], true);
    // The code flow still works for this client.
    let code = b.get(&url(&app, &code_request(&id, &[]))).await;
    assert!(param(&code.location().unwrap(), "code").is_some());
}

// Checklist I4, J1: `id_token token` gives an ID token whose at_hash is the left half of
// the SHA-256 of the access token, and whose nonce is the request's.
#[tokio::test]
async fn implicit_id_token_carries_a_correct_at_hash() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    let (id, _) = implicit_client(&app).await;
    let b = app.browser();
    let loc = b
        .sign_in(
            &app,
            &url(
                &app,
                &[
                    ("client_id", &id),
                    ("redirect_uri", REDIRECT),
                    ("response_type", "id_token token"),
                    ("scope", "openid email"),
                    ("nonce", "n-0S6_WzA2Mj"),
                    ("state", "s"),
                ],
            ),
            "alice",
        )
        .await;
    assert!(!loc.contains('?'), "{loc}");
    let access = param(&loc, "access_token").unwrap();
    let id_token = param(&loc, "id_token").unwrap();
    assert!(param(&loc, "refresh_token").is_none());
    let claims = verify_id_token(&app, &id_token, &id).await;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access.as_bytes());
    let expected = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]);
    assert_eq!(claims["at_hash"], expected);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["sub"], sub);
    assert!(claims.get("c_hash").is_none());
    assert!(
        claims.get("email").is_none(),
        "claims go through UserInfo (J9)"
    );

    // `id_token` alone: the claims are in the token, and there is no access token.
    let only = b
        .get(&url(
            &app,
            &[
                ("client_id", &id),
                ("redirect_uri", REDIRECT),
                ("response_type", "id_token"),
                ("scope", "openid email"),
                ("nonce", "n2"),
            ],
        ))
        .await
        .location()
        .unwrap();
    assert!(param(&only, "access_token").is_none());
    let claims = verify_id_token(&app, &param(&only, "id_token").unwrap(), &id).await;
    assert_eq!(claims["email"], "alice@example.com");
    assert!(claims.get("at_hash").is_none());
}

// Checklist I2, I3: tokens never go in a query, and an ID token from this endpoint needs a
// nonce; both errors arrive in the fragment.
#[tokio::test]
async fn implicit_refuses_query_mode_and_a_missing_nonce() {
    let app = spawn_app().await;
    let (id, _) = implicit_client(&app).await;
    let b = app.browser();
    let base = [
        ("client_id", id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "s"),
    ];
    for t in ["token", "id_token token", "id_token"] {
        let mut req = base.to_vec();
        req.extend([
            ("response_type", t),
            ("nonce", "n"),
            ("response_mode", "query"),
        ]);
        let p = b.get(&url(&app, &req)).await;
        assert_redirect_error(&app, &p, REDIRECT, '#', "invalid_request", Some("s"));
    }
    for t in ["id_token token", "id_token"] {
        let mut req = base.to_vec();
        req.push(("response_type", t));
        let p = b.get(&url(&app, &req)).await;
        let loc = assert_redirect_error(&app, &p, REDIRECT, '#', "invalid_request", Some("s"));
        assert!(param(&loc, "error_description").unwrap().contains("nonce"));
        req.push(("nonce", ""));
        let p = b.get(&url(&app, &req)).await;
        assert_redirect_error(&app, &p, REDIRECT, '#', "invalid_request", Some("s"));
    }
}

// ---- J. prompt, max_age, id_token_hint, optional parameters ----

// Checklist J3, J5: prompt=none without a session is login_required, never a page; none
// with another value is invalid_request.
#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let app = spawn_app().await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let p = b
        .get(&url(&app, &code_request(&id, &[("prompt", "none")])))
        .await;
    assert_redirect_error(&app, &p, REDIRECT, '?', "login_required", Some("st1"));
    for combined in ["none login", "consent none", "none select_account"] {
        let p = b
            .get(&url(&app, &code_request(&id, &[("prompt", combined)])))
            .await;
        assert_redirect_error(&app, &p, REDIRECT, '?', "invalid_request", Some("st1"));
    }
}

// Checklist J4: with a session and consent, prompt=none answers silently with the same sub
// and auth_time.
#[tokio::test]
async fn prompt_none_with_a_session_is_silent() {
    let app = spawn_app().await;
    let (id, secret, b, first) = signed_in(&app).await;
    let one = claims_of(
        redeem(&app, &id, &secret, &first).await["id_token"]
            .as_str()
            .unwrap(),
    );
    let p = b
        .get(&url(&app, &code_request(&id, &[("prompt", "none")])))
        .await;
    assert_eq!(p.status, 303);
    let loc = p.location().unwrap();
    assert_eq!(param(&loc, "state").as_deref(), Some("st1"));
    let two = claims_of(
        redeem(&app, &id, &secret, &loc).await["id_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(one["sub"], two["sub"]);
    assert_eq!(one["auth_time"], two["auth_time"]);
}

// Checklist J5: prompt=login shows the login page to a signed-in user, and the new ID
// token has a later auth_time.
#[tokio::test]
async fn prompt_login_forces_a_new_sign_in() {
    let app = spawn_app().await;
    let (id, secret, b, first) = signed_in(&app).await;
    let one = claims_of(
        redeem(&app, &id, &secret, &first).await["id_token"]
            .as_str()
            .unwrap(),
    );
    // auth_time has a resolution of one second.
    app.clock.advance(1);
    let p = b
        .get(&url(&app, &code_request(&id, &[("prompt", "login")])))
        .await;
    assert!(is_login_page(&p), "prompt=login shows the login page");
    let done = b.login(&app, &p, "alice", PASSWORD).await;
    assert_eq!(done.status, 303, "consent was given: straight back");
    let two = claims_of(
        redeem(&app, &id, &secret, &done.location().unwrap()).await["id_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(one["sub"], two["sub"]);
    assert!(
        two["auth_time"].as_i64().unwrap() > one["auth_time"].as_i64().unwrap(),
        "{one} {two}"
    );
}

// Checklist J6: max_age=10000 does not ask again; max_age=1 a second later does (and
// under prompt=none it is login_required); auth_time is always present.
#[tokio::test]
async fn max_age_decides_whether_to_sign_in_again() {
    let app = spawn_app().await;
    let (id, secret, b, first) = signed_in(&app).await;
    let one = claims_of(
        redeem(&app, &id, &secret, &first).await["id_token"]
            .as_str()
            .unwrap(),
    );
    assert!(one["auth_time"].is_i64());
    let p = b
        .get(&url(&app, &code_request(&id, &[("max_age", "10000")])))
        .await;
    assert_eq!(p.status, 303, "recent enough: no login");
    let same = claims_of(
        redeem(&app, &id, &secret, &p.location().unwrap()).await["id_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(same["auth_time"], one["auth_time"]);

    app.clock.advance(1);
    let silent = b
        .get(&url(
            &app,
            &code_request(&id, &[("max_age", "1"), ("prompt", "none")]),
        ))
        .await;
    assert_redirect_error(&app, &silent, REDIRECT, '?', "login_required", Some("st1"));
    let p = b
        .get(&url(&app, &code_request(&id, &[("max_age", "1")])))
        .await;
    assert!(is_login_page(&p), "too old for max_age=1");
    let done = b.login(&app, &p, "alice", PASSWORD).await;
    let two = claims_of(
        redeem(&app, &id, &secret, &done.location().unwrap()).await["id_token"]
            .as_str()
            .unwrap(),
    );
    assert!(two["auth_time"].as_i64().unwrap() > one["auth_time"].as_i64().unwrap());
    for bad in ["-1", "soon", "1.5"] {
        let p = b
            .get(&url(&app, &code_request(&id, &[("max_age", bad)])))
            .await;
        assert_redirect_error(&app, &p, REDIRECT, '?', "invalid_request", Some("st1"));
    }
}

/// `jwt` with its payload replaced by `claims` (the signature kept).
fn with_payload(jwt: &str, claims: &Value) -> String {
    let parts: Vec<&str> = jwt.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

// Checklist J7, K1, K6: id_token_hint of the signed-in user → silent success; of another
// user → login_required; forged, unsigned, HS256 or an access token → an error redirect.
#[tokio::test]
async fn id_token_hint_must_verify_and_name_the_signed_in_user() {
    let app = spawn_app().await;
    let (id, secret, alice, first) = signed_in(&app).await;
    let tokens = redeem(&app, &id, &secret, &first).await;
    let hint = tokens["id_token"].as_str().unwrap().to_owned();
    let hint_claims = claims_of(&hint);

    let p = alice
        .get(&url(
            &app,
            &code_request(&id, &[("prompt", "none"), ("id_token_hint", &hint)]),
        ))
        .await;
    assert_eq!(p.status, 303);
    let again = redeem(&app, &id, &secret, &p.location().unwrap()).await;
    assert_eq!(
        claims_of(again["id_token"].as_str().unwrap())["sub"],
        hint_claims["sub"]
    );

    app.user("bob").await;
    let bob = app.browser();
    bob.sign_in(&app, &url(&app, &code_request(&id, &[])), "bob")
        .await;
    let p = bob
        .get(&url(
            &app,
            &code_request(&id, &[("prompt", "none"), ("id_token_hint", &hint)]),
        ))
        .await;
    assert_redirect_error(&app, &p, REDIRECT, '?', "login_required", Some("st1"));
    let p = bob
        .get(&url(&app, &code_request(&id, &[("id_token_hint", &hint)])))
        .await;
    assert!(is_login_page(&p), "another user: sign in again");

    // Forgeries, presented by bob's browser claiming to be bob's own hint.
    let bob_sub = {
        let loc = bob
            .get(&url(&app, &code_request(&id, &[])))
            .await
            .location()
            .unwrap();
        claims_of(
            redeem(&app, &id, &secret, &loc).await["id_token"]
                .as_str()
                .unwrap(),
        )["sub"]
            .clone()
    };
    let mut forged_claims = hint_claims.clone();
    forged_claims["sub"] = bob_sub;
    let tampered = with_payload(&hint, &forged_claims);
    let kid = jsonwebtoken::decode_header(&hint).unwrap().kid.unwrap();
    let none_header = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&serde_json::json!({"alg": "none", "typ": "JWT", "kid": kid})).unwrap(),
    );
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap());
    let unsigned = format!("{none_header}.{payload}.");
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some(kid);
    let hs256 = jsonwebtoken::encode(
        &hs,
        &forged_claims,
        &jsonwebtoken::EncodingKey::from_secret(b"any secret at all"),
    )
    .unwrap();
    let mut bad_sig = hint.clone();
    let last = bad_sig.pop().unwrap();
    bad_sig.push(if last == 'A' { 'B' } else { 'A' });
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    for (what, forged) in [
        ("tampered payload", tampered.as_str()),
        ("alg none", unsigned.as_str()),
        ("HS256", hs256.as_str()),
        ("bad signature", bad_sig.as_str()),
        ("access token", access_token.as_str()),
        ("garbage", "not.a.jwt"),
    ] {
        for prompt in ["none", ""] {
            let p = bob
                .get(&url(
                    &app,
                    &code_request(&id, &[("prompt", prompt), ("id_token_hint", forged)]),
                ))
                .await;
            let loc =
                assert_redirect_error(&app, &p, REDIRECT, '?', "invalid_request", Some("st1"));
            assert!(
                param(&loc, "error_description")
                    .unwrap()
                    .contains("id_token_hint"),
                "{what}: {loc}"
            );
        }
    }
}

// Checklist J11: display, ui_locales, claims_locales, login_hint and acr_values never cause
// an error; login_hint fills in the username.
#[tokio::test]
async fn optional_openid_parameters_are_accepted() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let extras: [&[(&str, &str)]; 6] = [
        &[("display", "page")],
        &[("display", "popup"), ("ui_locales", "fr-CA fr en")],
        &[("claims_locales", "se")],
        &[(
            "acr_values",
            "urn:valet:acr:password urn:mace:incommon:iap:silver",
        )],
        &[("login_hint", "alice")],
        &[
            ("display", "touch"),
            ("ui_locales", "de"),
            ("claims_locales", "de en"),
            ("acr_values", "0"),
            ("login_hint", "alice@example.com"),
        ],
    ];
    for extra in extras {
        let b = app.browser();
        let login = b.get(&url(&app, &code_request(&id, extra))).await;
        assert!(is_login_page(&login), "{extra:?}: {}", login.body);
        if let Some((_, hint)) = extra.iter().find(|(k, _)| *k == "login_hint") {
            assert_eq!(login.field("username").as_deref(), Some(*hint));
        }
        let mut done = b.login(&app, &login, "alice", PASSWORD).await;
        if done.status == 200 {
            done = b.consent(&app, &done, "allow").await;
        }
        assert_eq!(done.status, 303, "{extra:?}");
        let tokens = redeem(&app, &id, &secret, &done.location().unwrap()).await;
        let claims = verify_id_token(&app, tokens["id_token"].as_str().unwrap(), &id).await;
        assert!(claims["acr"].is_string());
    }
}
