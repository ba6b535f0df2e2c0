//! The FAPI 2.0 Security Profile plan's token-endpoint modules: client authentication by
//! `private_key_jwt` (RFC 7523, FAPI 2.0 SP §5.3.2.1), the code's binding to its client,
//! its single use and lifetime, PKCE (RFC 7636) and refresh tokens. See `fapi2.rs`.

use serde_json::{Value, json};

use crate::conformance::random;
use crate::fapi2::{CB, Request, SCOPE, authorize, check_code_response, fapi, register};
use crate::fapi2_client::{FapiClient, Key, jwt_claims};
use crate::fapi2_flow::{
    check_token_error, check_token_success, finish, happy, redeem, token_proof, token_with,
    userinfo_proof, userinfo_with,
};

/// The authorization code grant's form for `code`, with the request's verifier.
fn code_form<'a>(req: &'a Request, code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
        ("code_verifier", req.verifier.as_str()),
    ]
}

/// Redeems `code` for `client` with this assertion (a proof by its DPoP key).
async fn redeem_with_assertion(
    op: &crate::conformance::Op,
    client: &FapiClient,
    req: &Request,
    code: &str,
    assertion: Option<String>,
) -> reqwest::Response {
    let proof = token_proof(op, &client.dpop);
    token_with(op, client, &code_form(req, code), assertion, Some(&proof)).await
}

/// The errors `CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest`
/// accepts, with 400 or 401 (`CheckTokenEndpointHttpStatusIs400Allowing401ForInvalid
/// ClientError`).
const BAD_CLIENT: &[&str] = &["invalid_client", "invalid_request"];

/// Alice's code for `client`: (request, code).
async fn a_code(op: &crate::conformance::Op, client: &FapiClient) -> (Request, String) {
    let b = op.app.browser();
    let req = Request::new(client, SCOPE);
    let location = authorize(op, client, &b, &req).await;
    let code = check_code_response(op, &req, &location);
    (req, code)
}

// fapi2-security-profile-final-ensure-client-id-in-token-endpoint: client1's code,
// client2's `client_id`, and an assertion in client2's name signed with client1's key:
// invalid_client (the key is not client2's) or invalid_grant (the code is not client2's).
#[tokio::test]
async fn fapi2_ensure_client_id_in_token_endpoint() {
    let (op, client) = fapi().await;
    let client2 = register(&op, Key::es256()).await;
    let (req, code) = a_code(&op, &client).await;
    let mut claims = client2.assertion_claims(op.app.now());
    claims["iss"] = client2.id.clone().into();
    claims["sub"] = client2.id.clone().into();
    let forged = client.assertion_of(&claims);
    let r = redeem_with_assertion(&op, &client2, &req, &code, Some(forged)).await;
    check_token_error(r, &[400, 401], &["invalid_client", "invalid_grant"]).await;
    // The code was not spent by the failed attempt: client1 still redeems it.
    check_token_success(redeem(&op, &client, &req, &code).await, &client.dpop).await;
}

// fapi2-security-profile-final-ensure-authorization-code-is-bound-to-client: client2,
// properly authenticated with its own key and proof, presents client1's code: 400
// invalid_grant (RFC 6749 §4.1.3, FAPI 2.0 SP §5.3.2.1-6).
#[tokio::test]
async fn fapi2_ensure_authorization_code_is_bound_to_client() {
    let (op, client) = fapi().await;
    let client2 = register(&op, Key::es256()).await;
    let (req, code) = a_code(&op, &client).await;
    let r = redeem(&op, &client2, &req, &code).await;
    check_token_error(r, &[400], &["invalid_grant"]).await;
}

// fapi2-security-profile-final-attempt-reuse-authorization-code-after-one-second: a code
// redeemed, then again a second later with a new assertion and proof: 400 invalid_grant
// (§5.3.2.2-9); and the access token of the first redemption "should" be revoked
// (RFC 6749 §4.1.2; a warning in the suite): Valet revokes it.
#[tokio::test]
async fn fapi2_attempt_reuse_authorization_code_after_one_second() {
    let (op, client) = fapi().await;
    let (req, code) = a_code(&op, &client).await;
    let tokens = check_token_success(redeem(&op, &client, &req, &code).await, &client.dpop).await;
    let at = tokens["access_token"].as_str().unwrap();
    op.app.clock.advance(1);
    let r = redeem(&op, &client, &req, &code).await;
    check_token_error(r, &[400], &["invalid_grant"]).await;
    let proof = userinfo_proof(&op, &client.dpop, at);
    let r = userinfo_with(&op, "DPoP", at, Some(&proof)).await;
    assert!(
        r.status().is_client_error(),
        "the first redemption's token is revoked: {}",
        r.status()
    );
}

// fapi2-security-profile-final-ensure-token-endpoint-fails-with-expired-auth-code: a code
// redeemed for the first time 62 s after it was issued (`WaitFor62Seconds`; its lifetime
// is 60 s, §5.3.2.1-11): 400 invalid_grant. The clock is moved, nothing sleeps.
#[tokio::test]
async fn fapi2_ensure_token_endpoint_fails_with_expired_auth_code() {
    let (op, client) = fapi().await;
    let (req, code) = a_code(&op, &client).await;
    op.app.clock.advance(62);
    let r = redeem(&op, &client, &req, &code).await;
    check_token_error(r, &[400], &["invalid_grant"]).await;
}

// fapi2-security-profile-final-ensure-signed-client-assertion-with-RS256-fails: a client
// with an RSA key (PS256) signs its assertion RS256 (`ChangeClientJwksAlgToRS256`), which
// FAPI 2.0 SP §5.4 forbids: invalid_client.
#[tokio::test]
async fn fapi2_ensure_signed_client_assertion_with_rs256_fails() {
    let (op, _) = fapi().await;
    let client = register(&op, Key::rsa(jsonwebtoken::Algorithm::PS256)).await;
    let (req, code) = a_code(&op, &client).await;
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": client.key.kid});
    let rs256 = client
        .key
        .sign_raw(&header, &client.assertion_claims(op.app.now()));
    let r = redeem_with_assertion(&op, &client, &req, &code, Some(rs256)).await;
    check_token_error(r, &[400, 401], &["invalid_client"]).await;
    // The same claims signed PS256 work: the refusal was the algorithm.
    check_token_success(redeem(&op, &client, &req, &code).await, &client.dpop).await;
}

// fapi2-security-profile-final-ensure-client-assertion-in-token-endpoint: `client_id`
// and no assertion: invalid_client or invalid_request (authentication is mandatory).
#[tokio::test]
async fn fapi2_ensure_client_assertion_in_token_endpoint() {
    let (op, client) = fapi().await;
    let (req, code) = a_code(&op, &client).await;
    let r = redeem_with_assertion(&op, &client, &req, &code, None).await;
    check_token_error(r, &[400, 401], BAD_CLIENT).await;
}

// fapi2-security-profile-final-ensure-client-assertion-with-exp-is-5-minutes-in-past-fails
// (`AddExpIs5MinutesInPastToClientAssertionClaims`, RFC 7523 §3 item 4).
#[tokio::test]
async fn fapi2_ensure_client_assertion_with_exp_is_5_minutes_in_past_fails() {
    let (op, client) = fapi().await;
    let (req, code) = a_code(&op, &client).await;
    let mut claims = client.assertion_claims(op.app.now());
    claims["exp"] = (op.app.now() - 300).into();
    let a = client.assertion_of(&claims);
    let r = redeem_with_assertion(&op, &client, &req, &code, Some(a)).await;
    check_token_error(r, &[400, 401], BAD_CLIENT).await;
}

// fapi2-security-profile-final-ensure-client-assertion-with-wrong-aud-fails: `aud` of
// another server (`AddWrongAudToClientAssertionClaims`, RFC 7523 §3 item 3).
#[tokio::test]
async fn fapi2_ensure_client_assertion_with_wrong_aud_fails() {
    let (op, client) = fapi().await;
    let (req, code) = a_code(&op, &client).await;
    let mut claims = client.assertion_claims(op.app.now());
    claims["aud"] = "https://fapidev-rs.authlete.net/api/userinfo".into();
    let a = client.assertion_of(&claims);
    let r = redeem_with_assertion(&op, &client, &req, &code, Some(a)).await;
    check_token_error(r, &[400, 401], BAD_CLIENT).await;
}

// fapi2-security-profile-final-ensure-client-assertion-with-no-sub-fails
// (`RemoveSubFromClientAssertionClaims`, RFC 7523 §3 item 2: what tells an assertion from a
// request object).
#[tokio::test]
async fn fapi2_ensure_client_assertion_with_no_sub_fails() {
    let (op, client) = fapi().await;
    let (req, code) = a_code(&op, &client).await;
    let mut claims = client.assertion_claims(op.app.now());
    claims.as_object_mut().unwrap().remove("sub");
    let a = client.assertion_of(&claims);
    let r = redeem_with_assertion(&op, &client, &req, &code, Some(a)).await;
    check_token_error(r, &[400, 401], BAD_CLIENT).await;
}

// Valet's own rules for assertions beyond the modules (the contract of RFC 7523 §3 and
// FAPI 2.0 SP §5.3.2.1-8 as Valet applies them): each refusal is 401 invalid_client and
// none of them spends the code.
#[tokio::test]
async fn fapi2_client_assertion_rules() {
    let (op, client) = fapi().await;
    let (req, code) = a_code(&op, &client).await;
    let now = op.app.now();
    let base = client.assertion_claims(now);
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c["jti"] = random(20).into();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = base.clone();
        c["jti"] = random(20).into();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let mut refused: Vec<(&str, String)> = vec![
        (
            "aud an array",
            client.assertion_of(&with("aud", json!([op.issuer()]))),
        ),
        (
            "aud the token endpoint",
            client.assertion_of(&with("aud", op.endpoint("token_endpoint").into())),
        ),
        ("no exp", client.assertion_of(&without("exp"))),
        ("no jti", client.assertion_of(&without("jti"))),
        (
            "exp more than an hour ahead",
            client.assertion_of(&with("exp", (now + 3600 + 120).into())),
        ),
        (
            "iat over 60 s ahead",
            client.assertion_of(&with("iat", (now + 120).into())),
        ),
        (
            "nbf over 60 s ahead",
            client.assertion_of(&with("nbf", (now + 120).into())),
        ),
        (
            "iss another client",
            client.assertion_of(&with("iss", "someone-else".into())),
        ),
        (
            "an unregistered key",
            Key::es256().sign("JWT", &with("jti", random(20).into())),
        ),
        (
            "a bad signature",
            format!(
                "{}AAAA",
                client.assertion_of(&with("jti", random(20).into()))
            ),
        ),
    ];
    // alg none and HS256 (with the client_id as secret) are never accepted.
    let claims_b64 =
        crate::fapi2_client::b64(&serde_json::to_vec(&with("jti", random(20).into())).unwrap());
    refused.push((
        "alg none",
        format!(
            "{}.{claims_b64}.",
            crate::fapi2_client::b64(br#"{"alg":"none","typ":"JWT"}"#)
        ),
    ));
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &with("jti", random(20).into()),
        &jsonwebtoken::EncodingKey::from_secret(client.id.as_bytes()),
    )
    .unwrap();
    refused.push(("alg HS256", hs));
    for (what, a) in refused {
        let r = redeem_with_assertion(&op, &client, &req, &code, Some(a)).await;
        let status = r.status();
        let body = check_token_error(r, &[401], &["invalid_client"]).await;
        assert_eq!(status, 401, "{what}: {body}");
    }
    // A replayed assertion: the first use works, the second is refused.
    let a = client.assertion(now);
    let r = redeem_with_assertion(&op, &client, &req, &code, Some(a.clone())).await;
    check_token_success(r, &client.dpop).await;
    let (req2, code2) = a_code(&op, &client).await;
    let r = redeem_with_assertion(&op, &client, &req2, &code2, Some(a)).await;
    check_token_error(r, &[401], &["invalid_client"]).await;
    // iat 10 s ahead is within the allowance.
    let early = with("iat", (op.app.now() + 10).into());
    let r = redeem_with_assertion(
        &op,
        &client,
        &req2,
        &code2,
        Some(client.assertion_of(&early)),
    )
    .await;
    check_token_success(r, &client.dpop).await;
}

// fapi2-security-profile-final-ensure-pkce-code-verifier-required: no `code_verifier`:
// 400 invalid_grant (RFC 7636 §4.6).
#[tokio::test]
async fn fapi2_ensure_pkce_code_verifier_required() {
    let (op, client) = fapi().await;
    let (_, code) = a_code(&op, &client).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CB),
    ];
    let proof = token_proof(&op, &client.dpop);
    let r = token_with(
        &op,
        &client,
        &form,
        Some(client.assertion(op.app.now())),
        Some(&proof),
    )
    .await;
    check_token_error(r, &[400], &["invalid_grant"]).await;
}

// fapi2-security-profile-final-incorrect-pkce-code-verifier-rejected: another verifier
// (`CreateRandomCodeVerifier`): 400 invalid_grant.
#[tokio::test]
async fn fapi2_incorrect_pkce_code_verifier_rejected() {
    let (op, client) = fapi().await;
    let (mut req, code) = a_code(&op, &client).await;
    req.verifier = random(64);
    let r = redeem(&op, &client, &req, &code).await;
    check_token_error(r, &[400], &["invalid_grant"]).await;
}

/// A refresh with `refresh_token`, a fresh assertion (if `authenticate`) and a proof (if
/// `dpop`).
async fn refresh(
    op: &crate::conformance::Op,
    client: &FapiClient,
    refresh_token: &str,
    authenticate: bool,
    dpop: Option<&Key>,
) -> reqwest::Response {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    let proof = dpop.map(|k| token_proof(op, k));
    token_with(
        op,
        client,
        &form,
        authenticate.then(|| client.assertion(op.app.now())),
        proof.as_deref(),
    )
    .await
}

// fapi2-security-profile-final-refresh-token (`AbstractFAPI2SPFinalMultipleClient`): a
// refresh token is issued; refreshing with a proof gives a new DPoP-bound token; fapi2
// refresh tokens do not rotate, so the same one works again 30 s later
// (`ValidateRefreshTokenNotRotated`, §5.3.2.1-9); without client authentication (RFC 6749
// §6) or without a proof (RFC 9449 §5) it is refused; and client2's refresh token is not
// client1's (`…-refresh_token issued to client 2 with client 1`).
#[tokio::test]
async fn fapi2_refresh_token() {
    let (op, client) = fapi().await;
    let client2 = register(&op, Key::es256()).await;
    let b = op.app.browser();
    let f = happy(&op, &client, &b, &Request::new(&client, SCOPE)).await;
    let rt = f.tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    // EnsureRefreshTokenContainsAllowedCharactersOnly (RFC 6749 A.17: VSCHAR).
    assert!(rt.chars().all(|c| matches!(c, '\x20'..='\x7e')));

    let t = check_token_success(
        refresh(&op, &client, &rt, true, Some(&client.dpop)).await,
        &client.dpop,
    )
    .await;
    if let Some(new_rt) = t.get("refresh_token") {
        assert_eq!(new_rt, rt.as_str(), "fapi2 refresh tokens do not rotate");
    }
    if let Some(id) = t.get("id_token") {
        let claims = jwt_claims(id.as_str().unwrap());
        assert_eq!(claims["sub"], f.id.as_ref().unwrap()["sub"]);
        assert_eq!(claims["aud"], client.id.as_str());
    }
    let at = t["access_token"].as_str().unwrap();
    let r = userinfo_with(
        &op,
        "DPoP",
        at,
        Some(&userinfo_proof(&op, &client.dpop, at)),
    )
    .await;
    assert_eq!(r.status(), 200);

    op.app.clock.advance(30);
    check_token_success(
        refresh(&op, &client, &rt, true, Some(&client.dpop)).await,
        &client.dpop,
    )
    .await;

    let r = refresh(&op, &client, &rt, false, Some(&client.dpop)).await;
    check_token_error(
        r,
        &[400, 401],
        &["invalid_client", "invalid_grant", "invalid_request"],
    )
    .await;
    let r = refresh(&op, &client, &rt, true, None).await;
    check_token_error(
        r,
        &[400],
        &["invalid_request", "invalid_grant", "invalid_dpop_proof"],
    )
    .await;

    // Client 2's refresh token presented by client 1.
    let b2 = op.app.browser();
    let f2 = happy(&op, &client2, &b2, &Request::new(&client2, SCOPE)).await;
    let rt2 = f2.tokens["refresh_token"].as_str().unwrap();
    let r = refresh(&op, &client, rt2, true, Some(&client.dpop)).await;
    check_token_error(
        r,
        &[400, 401],
        &["invalid_grant", "invalid_client", "invalid_request"],
    )
    .await;
    // And client 2 still can.
    check_token_success(
        refresh(&op, &client2, rt2, true, Some(&client2.dpop)).await,
        &client2.dpop,
    )
    .await;
}

// The plain-OAuth variant of the refresh module: no openid scope, a refresh token all the
// same (a confidential web client), and no ID token from the refresh.
#[tokio::test]
async fn fapi2_refresh_token_plain_oauth() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let req = Request::new(&client, "profile");
    let location = authorize(&op, &client, &b, &req).await;
    let f = finish(&op, &client, &req, &location).await;
    let rt = f.tokens["refresh_token"].as_str().expect("a refresh token");
    let t = check_token_success(
        refresh(&op, &client, rt, true, Some(&client.dpop)).await,
        &client.dpop,
    )
    .await;
    assert!(t.get("id_token").is_none());
}
