//! The FAPI 2.0 Security Profile plan's happy flows and authorization-request modules
//! (see `fapi2.rs` for the plan, the variant and what every flow checks).

use reqwest::Url;
use std::collections::HashSet;
use valet_protocol::application::SigningAlg;

use crate::conformance::{callback, check_error_response, random};
use crate::fapi2::{
    CB, Request, SCOPE, authorize, authorize_url, check_code_response, check_par_error,
    check_par_success, complete, fapi, is_consent_page, is_login_page, par, push, register,
    register_as,
};
use crate::fapi2_client::Key;
use crate::fapi2_flow::{
    check_id_token, check_token_success, check_userinfo, finish, happy, redeem, userinfo_proof,
    userinfo_with,
};
use crate::flow::PASSWORD;

// ---- Happy flows ----

// fapi2-security-profile-final-happy-flow (`AbstractFAPI2SPFinalMultipleClient`): two
// clients, each through the whole flow (so alice authenticates twice); the second asks
// a 43-character nonce and binds its code with `dpop_jkt` (RFC 9449 §10); the resource
// is called twice (`EnsureHttpStatusCodeIs200or201`), the token in a query refused
// (`DisallowAccessTokenInQuery`, FAPI 2.0 SP §5.3.4-2); the ID token carries no claims
// not asked for by scope beyond the standard ones (`EnsureIdTokenDoesNotContainNon
// RequestedClaims`, a warning in the suite).
#[tokio::test]
async fn fapi2_happy_flow() {
    let (op, client) = fapi().await;
    let client2 = register(&op, Key::es256()).await;

    let b = op.app.browser();
    let req = Request::new(&client, SCOPE);
    let f = happy(&op, &client, &b, &req).await;
    let id = f.id.as_ref().unwrap();
    assert_eq!(id["aud"], client.id.as_str());
    for k in id.as_object().unwrap().keys() {
        assert!(
            [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                "amr",
                "azp",
                "sid",
                "at_hash",
                "c_hash",
                "jti",
                "name",
                "given_name",
                "family_name",
                "email",
                "email_verified",
                "preferred_username",
                "updated_at",
            ]
            .contains(&k.as_str()),
            "unrequested claim {k} in the ID token"
        );
    }
    // The resource again, with a new proof (each proof is single use).
    check_userinfo(&op, &client.dpop, &f.access_token).await;
    // DisallowAccessTokenInQuery: the token in the query does not authorize.
    let url = format!(
        "{}?access_token={}",
        op.endpoint("userinfo_endpoint"),
        f.access_token
    );
    let proof = client.dpop.dpop(
        "GET",
        &op.endpoint("userinfo_endpoint"),
        op.app.now(),
        Some(&f.access_token),
        None,
    );
    let r = op
        .app
        .http
        .get(url)
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());

    // The second client, in another browser: a longer nonce and dpop_jkt.
    let b2 = op.app.browser();
    let req2 = Request::new(&client2, SCOPE)
        .set("nonce", &random(43))
        .set("dpop_jkt", &client2.dpop.thumbprint());
    let f2 = happy(&op, &client2, &b2, &req2).await;
    assert_eq!(f2.id.unwrap()["aud"], client2.id.as_str());
    assert_ne!(f2.access_token, f.access_token);
}

// The happy flow's plain-OAuth variant (`openid=plain_oauth`): no openid scope, no ID
// token (`ExpectNoIdTokenInTokenResponse`), the token still DPoP-bound.
#[tokio::test]
async fn fapi2_happy_flow_plain_oauth() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let req = Request::new(&client, "profile email");
    assert!(req.get("nonce").is_none());
    let f = happy(&op, &client, &b, &req).await;
    assert!(f.tokens.get("id_token").is_none());
}

// The happy flow with the other FAPI 2.0 algorithms (§5.4-1): a client authenticating
// with EdDSA and one with PS256, and ID tokens signed ES256 and EdDSA when registered so.
#[tokio::test]
async fn fapi2_happy_flow_eddsa_and_ps256_clients() {
    let (op, _) = fapi().await;
    for (key, id_alg, jwt_alg) in [
        (
            Key::eddsa(),
            Some(SigningAlg::ES256),
            jsonwebtoken::Algorithm::ES256,
        ),
        (
            Key::rsa(jsonwebtoken::Algorithm::PS256),
            Some(SigningAlg::EdDSA),
            jsonwebtoken::Algorithm::EdDSA,
        ),
    ] {
        let mut client = register_as(&op, key, id_alg).await;
        client.dpop = Key::eddsa();
        let b = op.app.browser();
        let req = Request::new(&client, SCOPE);
        let location = authorize(&op, &client, &b, &req).await;
        let code = check_code_response(&op, &req, &location);
        let tokens =
            check_token_success(redeem(&op, &client, &req, &code).await, &client.dpop).await;
        check_id_token(
            &op,
            &client.id,
            tokens["id_token"].as_str().unwrap(),
            req.get("nonce"),
            jwt_alg,
        )
        .await;
        check_userinfo(&op, &client.dpop, tokens["access_token"].as_str().unwrap()).await;
    }
}

// fapi2-security-profile-final-user-rejects-authentication: alice refuses; back at the
// redirect URI with `access_denied`, the 128-character `state`, `iss`, no code
// (`ExpectAccessDeniedErrorFromAuthorizationEndpointDueToUserRejectingRequest`, OIDC Core
// §3.1.2.6, RFC 6749 §4.1.2.1).
#[tokio::test]
async fn fapi2_user_rejects_authentication() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let req = Request::new(&client, SCOPE).set("state", &random(128));
    let uri = push(&op, &client, &req).await;
    let mut p = b.get(&authorize_url(&op, &req, &uri)).await;
    if is_login_page(&p) {
        p = b.login(&op.app, &p, "alice", PASSWORD).await;
    }
    assert!(is_consent_page(&p), "a consent page to refuse: {}", p.body);
    let p = b.consent(&op.app, &p, "deny").await;
    assert_eq!(p.status, 303);
    let params = check_error_response(
        &op,
        &p.location().unwrap(),
        CB,
        req.get("state"),
        &["access_denied"],
    );
    assert_eq!(params["error"], "access_denied");
}

// fapi2-security-profile-final-ensure-authorization-request-without-state-success: state
// is optional; success, and no state back (`VerifyNoStateInAuthorizationResponse`).
#[tokio::test]
async fn fapi2_ensure_authorization_request_without_state_success() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let req = Request::new(&client, SCOPE).without("state");
    let location = authorize(&op, &client, &b, &req).await;
    assert!(!callback(&location).query.contains_key("state"));
    finish(&op, &client, &req, &location).await;
}

// fapi2-security-profile-final-ensure-authorization-request-without-nonce-success: nonce
// is optional for response_type=code (OIDC Core §3.1.2.1); success, no nonce in the ID
// token.
#[tokio::test]
async fn fapi2_ensure_authorization_request_without_nonce_success() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let req = Request::new(&client, SCOPE).without("nonce");
    let f = happy(&op, &client, &b, &req).await;
    assert!(f.id.unwrap().get("nonce").is_none());
}

// fapi2-security-profile-final-ensure-authorization-request-with-64-char-nonce-success.
#[tokio::test]
async fn fapi2_ensure_authorization_request_with_64_char_nonce_success() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let nonce = random(64);
    let req = Request::new(&client, SCOPE).set("nonce", &nonce);
    let f = happy(&op, &client, &b, &req).await;
    assert_eq!(f.id.unwrap()["nonce"], nonce);
}

// fapi2-security-profile-final-ensure-other-scope-order-succeeds: the scope reversed
// (`ReverseScopeOrderInAuthorizationEndpointRequest`, RFC 6749 §3.3: order does not
// matter).
#[tokio::test]
async fn fapi2_ensure_other_scope_order_succeeds() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let req = Request::new(&client, "email profile openid");
    let f = happy(&op, &client, &b, &req).await;
    let granted: HashSet<&str> = f.tokens["scope"].as_str().unwrap().split(' ').collect();
    assert!(granted.contains("openid") && granted.contains("email"));
}

// fapi2-security-profile-final-test-claims-parameter-identity-claims: skipped by the
// suite when `claims_parameter_supported` is false, as Valet's is; the test checks that.
#[tokio::test]
async fn fapi2_test_claims_parameter_identity_claims() {
    let (op, _) = fapi().await;
    assert_eq!(op.meta["claims_parameter_supported"], false);
}

// fapi2-security-profile-final-access-token-type-header-case-sensitivity: the scheme of
// `Authorization` is case-insensitive (RFC 9110 §11.1, `SetAccessTokenTypeToInvertedCase`):
// `dPoP` works like `DPoP`.
#[tokio::test]
async fn fapi2_access_token_type_header_case_sensitivity() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let f = happy(&op, &client, &b, &Request::new(&client, SCOPE)).await;
    for scheme in ["dPoP", "dpop", "DPOP"] {
        let proof = userinfo_proof(&op, &client.dpop, &f.access_token);
        let r = userinfo_with(&op, scheme, &f.access_token, Some(&proof)).await;
        assert_eq!(r.status(), 200, "scheme {scheme}");
    }
}

// fapi2-security-profile-final-ensure-authorization-request-with-long-state: a
// 1000-character state; success with it back intact (or invalid_request: Valet succeeds).
#[tokio::test]
async fn fapi2_ensure_authorization_request_with_long_state() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let state = random(1000);
    let req = Request::new(&client, SCOPE).set("state", &state);
    let location = authorize(&op, &client, &b, &req).await;
    assert_eq!(callback(&location).query["state"], state, "not truncated");
    finish(&op, &client, &req, &location).await;
}

// fapi2-security-profile-final-ensure-authorization-request-with-long-nonce: a
// 384-character nonce, back intact in the ID token (`requested_nonce_length` 384).
#[tokio::test]
async fn fapi2_ensure_authorization_request_with_long_nonce() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let nonce = random(384);
    let req = Request::new(&client, SCOPE).set("nonce", &nonce);
    let f = happy(&op, &client, &b, &req).await;
    assert_eq!(f.id.unwrap()["nonce"], nonce, "not truncated");
}

// ---- Negative authorization requests ----

// fapi2-security-profile-final-ensure-unsigned-authorization-request-without-using-par-fails:
// all parameters in the query, no PAR (FAPI 2.0 SP §5.3.2.2-2): an invalid_request
// back at the redirect URI (or an error page); never a code.
#[tokio::test]
async fn fapi2_ensure_unsigned_authorization_request_without_using_par_fails() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let req = Request::new(&client, SCOPE);
    let url = Url::parse_with_params(&op.endpoint("authorization_endpoint"), &req.params)
        .unwrap()
        .to_string();
    let p = b.get(&url).await;
    assert_eq!(p.status, 303, "a redirect with the error: {}", p.body);
    check_error_response(
        &op,
        &p.location().unwrap(),
        CB,
        req.get("state"),
        &["invalid_request"],
    );
}

// fapi2-security-profile-final-ensure-response-type-code-idtoken-fails: `code id_token`
// is not allowed (§5.3.2.2-1); the PAR endpoint refuses it with a 4xx
// (`EnsurePARUnsupportedResponseTypeOrInvalidRequestOrUnauthorizedClientError`).
#[tokio::test]
async fn fapi2_ensure_response_type_code_idtoken_fails() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE).set("response_type", "code id_token");
    check_par_error(
        par(&op, &client, &req).await,
        &[400, 401],
        &[
            "unsupported_response_type",
            "invalid_request",
            "unauthorized_client",
        ],
    )
    .await;
}

// fapi2-security-profile-final-ensure-response-type-token-fails: `token` likewise.
#[tokio::test]
async fn fapi2_ensure_response_type_token_fails() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE).set("response_type", "token");
    check_par_error(
        par(&op, &client, &req).await,
        &[400, 401],
        &[
            "unsupported_response_type",
            "invalid_request",
            "unauthorized_client",
        ],
    )
    .await;
}

// fapi2-security-profile-final-plain-fapi-tolerate-unregistered-redirect-uri: an
// unregistered redirect URI (`CreateBadRedirectUriByAppending`) may be refused at PAR
// (RFC 9126 §2.4 allows either); Valet refuses with invalid_request
// (`EnsurePARInvalidRequestOrInvalidRequestObjectError`), so nothing reaches a redirect.
#[tokio::test]
async fn fapi2_plain_fapi_tolerate_unregistered_redirect_uri() {
    let (op, client) = fapi().await;
    let bad = format!("{CB}/{}", random(10));
    let req = Request::new(&client, SCOPE).set("redirect_uri", &bad);
    check_par_error(
        par(&op, &client, &req).await,
        &[400],
        &["invalid_request", "invalid_request_object"],
    )
    .await;
}

// fapi2-security-profile-final-ensure-redirect-uri-in-authorization-request: no
// redirect_uri. Permitted outcomes: PAR refuses with invalid_request, or an error page,
// or (one registered URI, RFC 6749 §3.1.2.3) the registered one is used. Whichever Valet
// does, it never sends the user anywhere but the registered URI.
#[tokio::test]
async fn fapi2_ensure_redirect_uri_in_authorization_request() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE).without("redirect_uri");
    let r = par(&op, &client, &req).await;
    if r.status() == 201 {
        let uri = check_par_success(r).await;
        let b = op.app.browser();
        let first = b.get(&authorize_url(&op, &req, &uri)).await;
        if first.status == 400 {
            assert!(first.location().is_none());
        } else {
            let location = complete(&op, &b, first).await;
            assert_eq!(callback(&location).base, CB);
            finish(&op, &client, &req, &location).await;
        }
    } else {
        check_par_error(r, &[400], &["invalid_request", "invalid_request_object"]).await;
    }
}
