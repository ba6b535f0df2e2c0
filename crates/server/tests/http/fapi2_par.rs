//! The FAPI 2.0 Security Profile plan's PAR modules (RFC 9126; FAPI 2.0 SP §5.3.2.2):
//! the `request_uri`'s single use, lifetime and binding to its client, client assertions
//! at the PAR endpoint (clock skew, audience), PKCE at PAR, and the plan's "request
//! object" modules, which in the unsigned variant are about the pushed parameters (the
//! implicit request object) against those repeated in the authorization URL. Then
//! signed request objects at PAR (RFC 9101), which the Message Signing plan tests and
//! Valet accepts. See `fapi2.rs`.

use serde_json::{Value, json};

use crate::conformance::{Op, callback, check_error_page, check_error_response, random};
use crate::fapi2::{
    CB, Request, SCOPE, authorize_url, authorize_url_only, check_code_response, check_par_error,
    check_par_success, complete, fapi, is_login_page, par, par_with, push, register,
};
use crate::fapi2_client::{FapiClient, Key, b64};
use crate::fapi2_flow::{finish, happy};
use crate::flow::{Browser, PASSWORD, Page};

/// A refused authorization request at the endpoint: an error page (400, no redirect), or
/// a redirect to `CB` with one of `errors` (the suite's placeholder-or-callback modules).
fn check_refused(op: &Op, p: &Page, state: Option<&str>, errors: &[&str]) {
    if p.status == 303 {
        check_error_response(op, &p.location().unwrap(), CB, state, errors);
    } else {
        check_error_page(p, "");
    }
}

/// The errors `EnsureInvalidRequestUriError` and friends accept.
const BAD_URI: &[&str] = &[
    "invalid_request_uri",
    "invalid_request",
    "invalid_request_object",
];

/// The PAR assertion's claims changed by `change`.
async fn par_with_claims(
    op: &Op,
    client: &FapiClient,
    req: &Request,
    change: impl FnOnce(&mut Value),
) -> reqwest::Response {
    let mut claims = client.assertion_claims(op.app.now());
    change(&mut claims);
    let a = client.assertion_of(&claims);
    par_with(op, client, &req.params, a, None).await
}

// fapi2-security-profile-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds:
// the authorization endpoint visited twice with one request_uri, alice signing in only
// on the second visit. FAPI 2.0 SP §5.3.2.2 note 3 recommends enforcing one-time use at
// the point of authorization, so that the second visit shows the login page again; the
// suite accepts an error page instead, with a warning. Valet consumes the request_uri
// on the first visit, so the second is an error page (400, no redirect, no form), and
// the sign-in the first visit started still completes.
#[tokio::test]
async fn fapi2_par_ensure_reused_request_uri_prior_to_auth_completion_succeeds() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let uri = push(&op, &client, &req).await;
    let url = authorize_url(&op, &req, &uri);
    let b = op.app.browser();
    let first = b.get(&url).await;
    assert!(is_login_page(&first), "the login page: {}", first.body);
    let second = b.get(&url).await;
    let login = if is_login_page(&second) {
        second
    } else {
        // WarningAboutRequestUriError: the suite's permitted (warning) outcome.
        check_refused(&op, &second, req.get("state"), BAD_URI);
        first
    };
    let location = complete(&op, &b, login).await;
    finish(&op, &client, &req, &location).await;
}

// fapi2-security-profile-final-par-attempt-reuse-request_uri: after a whole flow the same
// request_uri again (RFC 9126 §7.3: one-time use): an error page or invalid_request_uri,
// never a second code.
#[tokio::test]
async fn fapi2_par_attempt_reuse_request_uri() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let uri = push(&op, &client, &req).await;
    let url = authorize_url(&op, &req, &uri);
    let b = op.app.browser();
    let first = b.get(&url).await;
    let location = complete(&op, &b, first).await;
    finish(&op, &client, &req, &location).await;
    // Signed in now: a usable request_uri would redirect with a code at once.
    let again = b.get(&url).await;
    check_refused(&op, &again, req.get("state"), BAD_URI);
}

// fapi2-security-profile-final-par-attempt-to-use-expired-request_uri: the request_uri
// used after its `expires_in` (`WaitForExpiry`; the clock is moved 61 s): refused.
#[tokio::test]
async fn fapi2_par_attempt_to_use_expired_request_uri() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let r = par(&op, &client, &req).await;
    let uri = check_par_success(r).await;
    op.app.clock.advance(61);
    let b = op.app.browser();
    let p = b.get(&authorize_url(&op, &req, &uri)).await;
    check_refused(&op, &p, req.get("state"), BAD_URI);
}

// fapi2-security-profile-final-par-attempt-to-use-request_uri-for-different-client:
// client1's request_uri with client2's client_id (RFC 9126 §3 item 3): refused.
#[tokio::test]
async fn fapi2_par_attempt_to_use_request_uri_for_different_client() {
    let (op, client) = fapi().await;
    let client2 = register(&op, Key::es256()).await;
    let req = Request::new(&client, SCOPE);
    let uri = push(&op, &client, &req).await;
    let b = op.app.browser();
    let p = b.get(&authorize_url_only(&op, &client2.id, &uri)).await;
    assert!(p.status == 303 || p.status == 400, "{}", p.status);
    if p.status == 303 {
        let loc = p.location().unwrap();
        assert!(!callback(&loc).query.contains_key("code"), "{loc}");
    }
    check_refused(&op, &p, None, BAD_URI);
}

// fapi2-security-profile-final-par-ensure-jwt-client-assertions-nbf-8-seconds-in-the-future-is-accepted:
// `iat` and `nbf` 8 s ahead (`AddIatNbf8SecondsInTheFutureToClientAuthentication
// AssertionClaims`): clock skew a server must tolerate; 201.
#[tokio::test]
async fn fapi2_par_ensure_jwt_client_assertions_nbf_8_seconds_in_the_future_is_accepted() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let t = op.app.now() + 8;
    let r = par_with_claims(&op, &client, &req, |c| {
        c["iat"] = t.into();
        c["nbf"] = t.into();
    })
    .await;
    let uri = check_par_success(r).await;
    let b = op.app.browser();
    let first = b.get(&authorize_url(&op, &req, &uri)).await;
    let location = complete(&op, &b, first).await;
    finish(&op, &client, &req, &location).await;
}

// fapi2-security-profile-final-par-ensure-jwt-client-assertions-nbf-over-60-seconds-in-the-future-fails:
// `iat`, `nbf` and `exp` moved 62 s ahead: 400 or 401, invalid_client or invalid_request
// (`CheckErrorFromParEndpointResponseErrorInvalidClientOrInvalidRequest`).
#[tokio::test]
async fn fapi2_par_ensure_jwt_client_assertions_nbf_over_60_seconds_in_the_future_fails() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let now = op.app.now();
    let r = par_with_claims(&op, &client, &req, |c| {
        c["iat"] = (now + 62).into();
        c["nbf"] = (now + 62).into();
        c["exp"] = (now + 60 + 62).into();
    })
    .await;
    check_par_error(r, &[400, 401], &["invalid_client", "invalid_request"]).await;
}

// fapi2-security-profile-final-par-test-array-as-audience-fails: `aud` an array of the
// issuer and another value (FAPI 2.0 SP §5.3.2.1-8: the issuer as a single string).
#[tokio::test]
async fn fapi2_par_test_array_as_audience_fails() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let issuer = op.issuer().to_owned();
    let r = par_with_claims(&op, &client, &req, |c| {
        c["aud"] = json!([issuer, "https://other.example"]);
    })
    .await;
    check_par_error(r, &[400, 401], &["invalid_client", "invalid_request"]).await;
}

// fapi2-security-profile-final-par-test-par-endpoint-url-as-audience-fails.
#[tokio::test]
async fn fapi2_par_test_par_endpoint_url_as_audience_fails() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let aud = op.endpoint("pushed_authorization_request_endpoint");
    let r = par_with_claims(&op, &client, &req, |c| c["aud"] = aud.into()).await;
    check_par_error(r, &[400, 401], &["invalid_client", "invalid_request"]).await;
}

// fapi2-security-profile-final-par-test-token-endpoint-url-as-audience-fails.
#[tokio::test]
async fn fapi2_par_test_token_endpoint_url_as_audience_fails() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let aud = op.endpoint("token_endpoint");
    let r = par_with_claims(&op, &client, &req, |c| c["aud"] = aud.into()).await;
    check_par_error(r, &[400, 401], &["invalid_client", "invalid_request"]).await;
}

// fapi2-security-profile-final-par-authorization-request-containing-request_uri-form-param
// (`AddBadRequestUriToRequestParameters`, RFC 9126 §2.1: request_uri must not be pushed).
#[tokio::test]
async fn fapi2_par_authorization_request_containing_request_uri_form_param() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE).set(
        "request_uri",
        &format!("urn:ietf:params:oauth:request_uri:{}", random(20)),
    );
    check_par_error(
        par(&op, &client, &req).await,
        &[400],
        &[
            "invalid_request",
            "invalid_request_object",
            "request_uri_not_supported",
        ],
    )
    .await;
}

// fapi2-security-profile-final-par-attempt-invalid-http-method: PUT to the PAR endpoint
// (RFC 9126 §2.1: POST): a 4xx or 5xx (`EnsureParHTTPError`).
#[tokio::test]
async fn fapi2_par_attempt_invalid_http_method() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let mut form = req.params.clone();
    form.extend(client.auth_form(client.assertion(op.app.now())));
    let r = op
        .app
        .http
        .put(op.endpoint("pushed_authorization_request_endpoint"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    assert!((400..600).contains(&s), "{s}");
    // And GET is no way around it either.
    let r = op
        .app
        .http
        .get(op.endpoint("pushed_authorization_request_endpoint"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
}

// fapi2-security-profile-final-par-ensure-pkce-required: no code_challenge
// (§5.3.2.2-5, RFC 7636 §4.4.1): PAR refuses with invalid_request.
#[tokio::test]
async fn fapi2_par_ensure_pkce_required() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE)
        .without("code_challenge")
        .without("code_challenge_method");
    check_par_error(par(&op, &client, &req).await, &[400], &["invalid_request"]).await;
}

// fapi2-security-profile-final-par-plain-pkce-rejected (`CreatePlainCodeChallenge`):
// only S256 (§5.3.2.2-5): PAR refuses with invalid_request.
#[tokio::test]
async fn fapi2_par_plain_pkce_rejected() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let verifier = req.verifier.clone();
    let req = req
        .set("code_challenge", &verifier)
        .set("code_challenge_method", "plain");
    check_par_error(par(&op, &client, &req).await, &[400], &["invalid_request"]).await;
}

// fapi2-security-profile-final-par-without-duplicate-parameters: the authorization URL
// with client_id and request_uri only (RFC 9101 §5, RFC 9126 §4): the flow succeeds.
#[tokio::test]
async fn fapi2_par_without_duplicate_parameters() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let uri = push(&op, &client, &req).await;
    let b = op.app.browser();
    let first = b.get(&authorize_url_only(&op, &client.id, &uri)).await;
    let location = complete(&op, &b, first).await;
    finish(&op, &client, &req, &location).await;
}

// ---- The implicit request object (the pushed parameters) ----

/// Pushes `pushed`, then opens the authorization URL with `outside` added to its query.
async fn push_then_visit(
    op: &Op,
    client: &FapiClient,
    b: &Browser,
    pushed: &Request,
    outside: &[(&str, &str)],
) -> Page {
    let uri = push(op, client, pushed).await;
    let mut url = reqwest::Url::parse(&authorize_url(op, pushed, &uri)).unwrap();
    for (k, v) in outside {
        url.query_pairs_mut().append_pair(k, v);
    }
    b.get(url.as_str()).await
}

// fapi2-security-profile-final-ensure-request-object-without-redirect-uri-fails: the
// pushed request without redirect_uri, the URL with it (`RemoveRedirectUriFromRequest
// Object` on the implicit request object; §5.3.2.2, JAR §6.2): refused at PAR
// (invalid_request or invalid_request_object), or at the endpoint (an error page or
// those errors at the registered URI); a success fails the module.
#[tokio::test]
async fn fapi2_ensure_request_object_without_redirect_uri_fails() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let pushed = req.clone().without("redirect_uri");
    let r = par(&op, &client, &pushed).await;
    if r.status() == 201 {
        let uri = check_par_success(r).await;
        let b = op.app.browser();
        let mut p = b.get(&authorize_url(&op, &req, &uri)).await;
        if is_login_page(&p) {
            p = b.login(&op.app, &p, "alice", PASSWORD).await;
        }
        assert!(
            !(p.status == 200 && p.body.contains("value=\"allow\"")),
            "the request without redirect_uri is refused, not shown for consent"
        );
        check_refused(
            &op,
            &p,
            req.get("state"),
            &["invalid_request", "invalid_request_object"],
        );
    } else {
        check_par_error(r, &[400], &["invalid_request", "invalid_request_object"]).await;
    }
}

// fapi2-security-profile-final-ensure-different-nonce-inside-and-outside-request-object:
// the URL with a nonce other than the pushed one (`AddIncorrectNonceToAuthorizationEndpoint
// Request`): the pushed one counts (RFC 9126 §4, OIDC Core §6.1): the ID token has it.
#[tokio::test]
async fn fapi2_ensure_different_nonce_inside_and_outside_request_object() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let b = op.app.browser();
    let first = push_then_visit(&op, &client, &b, &req, &[("nonce", "outside-nonce")]).await;
    let location = complete(&op, &b, first).await;
    let f = finish(&op, &client, &req, &location).await;
    assert_eq!(f.id.unwrap()["nonce"], req.get("nonce").unwrap());
}

// fapi2-security-profile-final-ensure-different-state-inside-and-outside-request-object:
// likewise for state: the response carries the pushed state.
#[tokio::test]
async fn fapi2_ensure_different_state_inside_and_outside_request_object() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let b = op.app.browser();
    let first = push_then_visit(&op, &client, &b, &req, &[("state", "outside-state")]).await;
    let location = complete(&op, &b, first).await;
    assert_eq!(
        callback(&location).query.get("state").map(String::as_str),
        req.get("state")
    );
    finish(&op, &client, &req, &location).await;
}

// fapi2-security-profile-final-state-only-outside-request-object-not-used: no state
// pushed, one in the URL: it is ignored; success with no state back
// (`AbstractFAPI2SPFinalEnsureRequestObjectWithoutState`).
#[tokio::test]
async fn fapi2_state_only_outside_request_object_not_used() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE).without("state");
    let b = op.app.browser();
    let first = push_then_visit(&op, &client, &b, &req, &[("state", "outside-state")]).await;
    let location = complete(&op, &b, first).await;
    assert!(
        !callback(&location).query.contains_key("state"),
        "{location}"
    );
    let code = check_code_response(&op, &req, &location);
    assert!(!code.is_empty());
}

// ---- Signed request objects at PAR (RFC 9101; the Message Signing plan's) ----

/// The request as the claims of a request object (`ConvertAuthorizationEndpointRequest
/// ToRequestObject`, `AddIatToRequestObject`, `AddNbfToRequestObject`,
/// `AddExpToRequestObject`, `AddAudToRequestObject`, `AddIssToRequestObject`).
fn request_object_claims(op: &Op, client: &FapiClient, req: &Request) -> Value {
    let mut c: serde_json::Map<String, Value> = req
        .params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let now = op.app.now();
    c.insert("iss".into(), client.id.clone().into());
    c.insert("aud".into(), op.issuer().into());
    c.insert("iat".into(), now.into());
    c.insert("nbf".into(), now.into());
    c.insert("exp".into(), (now + 300).into());
    c.insert("jti".into(), random(20).into());
    Value::Object(c)
}

async fn push_request_object(op: &Op, client: &FapiClient, jwt: String) -> reqwest::Response {
    let params = vec![("request".to_owned(), jwt)];
    par_with(op, client, &params, client.assertion(op.app.now()), None).await
}

// A signed request object at PAR: the flow succeeds with its parameters; each flaw the
// Message Signing plan checks (`…-ensure-request-object-without-nbf-fails`, `…-without-exp-
// fails`, `…-expired-request-object-fails`, `…-with-bad-aud-fails`, `…-with-exp-over-60-
// fails`, `…-with-nbf-over-60-fails`, `…-signature-algorithm-is-not-none`, `…-with-invalid-
// signature-fails`, `…-signed-request-object-with-RS256-fails` is the RSA case) is 400
// invalid_request_object.
#[tokio::test]
async fn fapi2_signed_request_object_at_par() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let claims = request_object_claims(&op, &client, &req);
    let jwt = client.key.sign("oauth-authz-req+jwt", &claims);
    let uri = check_par_success(push_request_object(&op, &client, jwt).await).await;
    let b = op.app.browser();
    let first = b.get(&authorize_url_only(&op, &client.id, &uri)).await;
    let location = complete(&op, &b, first).await;
    finish(&op, &client, &req, &location).await;

    let now = op.app.now();
    let changed = |f: &dyn Fn(&mut Value)| {
        let mut c = request_object_claims(&op, &client, &req);
        f(&mut c);
        c
    };
    let remove = |m: &'static str| {
        changed(&move |c: &mut Value| {
            c.as_object_mut().unwrap().remove(m);
        })
    };
    let set = |m: &'static str, v: Value| changed(&move |c: &mut Value| c[m] = v.clone());
    let sign = |c: &Value| client.key.sign("oauth-authz-req+jwt", c);
    let flawed = vec![
        ("no nbf", sign(&remove("nbf"))),
        ("no exp", sign(&remove("exp"))),
        ("expired", sign(&set("exp", (now - 10).into()))),
        (
            "aud another server",
            sign(&set("aud", "https://other.example".into())),
        ),
        (
            "exp over 60 minutes after nbf",
            sign(&set("exp", (now + 3601 + 60).into())),
        ),
        (
            "nbf over 60 minutes ago",
            sign(&set("nbf", (now - 3601).into())),
        ),
        (
            "iss another client",
            sign(&set("iss", "someone-else".into())),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(br#"{"alg":"none"}"#),
                b64(&serde_json::to_vec(&request_object_claims(&op, &client, &req)).unwrap())
            ),
        ),
        (
            "an unregistered key",
            Key::es256().sign(
                "oauth-authz-req+jwt",
                &request_object_claims(&op, &client, &req),
            ),
        ),
    ];
    for (what, jwt) in flawed {
        let r = push_request_object(&op, &client, jwt).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 400, "{what}: {body}");
        // An unsigned one is not supported at all (OIDC Core §3.1.2.6); the rest invalid.
        let expected = if what == "alg none" {
            "request_not_supported"
        } else {
            "invalid_request_object"
        };
        assert_eq!(body["error"], expected, "{what}: {body}");
    }
}

// `…-ensure-signed-request-object-with-RS256-fails` (Message Signing plan): a client
// with an RSA key signs its request object RS256: 400 invalid_request_object; PS256 works.
#[tokio::test]
async fn fapi2_signed_request_object_with_rs256_fails() {
    let (op, _) = fapi().await;
    let client = register(&op, Key::rsa(jsonwebtoken::Algorithm::PS256)).await;
    let req = Request::new(&client, SCOPE);
    let claims = request_object_claims(&op, &client, &req);
    let header = json!({"alg": "RS256", "typ": "oauth-authz-req+jwt", "kid": client.key.kid});
    let r = push_request_object(&op, &client, client.key.sign_raw(&header, &claims)).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request_object", "{body}");
    let jwt = client.key.sign(
        "oauth-authz-req+jwt",
        &request_object_claims(&op, &client, &req),
    );
    let uri = check_par_success(push_request_object(&op, &client, jwt).await).await;
    let b = op.app.browser();
    let location = complete(
        &op,
        &b,
        b.get(&authorize_url_only(&op, &client.id, &uri)).await,
    )
    .await;
    happy_tail(&op, &client, &req, &location).await;
}

async fn happy_tail(op: &Op, client: &FapiClient, req: &Request, location: &str) {
    finish(op, client, req, location).await;
    // And an ordinary pushed request of the same client still works.
    let b = op.app.browser();
    happy(op, client, &b, &Request::new(client, SCOPE)).await;
}
