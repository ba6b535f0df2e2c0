//! The FAPI 2.0 Security Profile plan's DPoP modules (RFC 9449; FAPI 2.0 SP §5.3.2.1-13,
//! §5.3.4, §5.4): proofs at the PAR, token and resource endpoints (UserInfo is the
//! resource), the authorization code's binding to a key (§10, `dpop_jkt`), and the
//! resource server's checks of §4.3 and §7.1. See `fapi2.rs`.

use serde_json::{Value, json};

use crate::conformance::Op;
use crate::fapi2::{
    CB, Request, SCOPE, authorize_url, check_code_response, check_par_error, check_par_success,
    complete, fapi, fapi_with, par_with, push,
};
use crate::fapi2_client::{FapiClient, Key, b64, dpop_claims, jwt_claims};
use crate::fapi2_flow::{
    Flow, check_token_error, check_token_success, finish_tokens, happy, introspect, token_proof,
    token_with, userinfo_with,
};
use valet_server::config::Partial;

/// The errors `CheckTokenEndpointReturnedInvalidRequestGrantOrDPopProofError` accepts.
const BAD_PROOF: &[&str] = &["invalid_request", "invalid_grant", "invalid_dpop_proof"];

/// Pushes `req` with a DPoP proof (`CallPAREndpoint` with `useDpopAuthCodeBinding`).
async fn push_with_proof(op: &Op, client: &FapiClient, req: &Request, proof: &str) -> String {
    let r = par_with(
        op,
        client,
        &req.params,
        client.assertion(op.app.now()),
        Some(proof),
    )
    .await;
    check_par_success(r).await
}

/// Alice through the authorization endpoint for `request_uri`: the code.
async fn code_for(op: &Op, req: &Request, request_uri: &str) -> String {
    let b = op.app.browser();
    let first = b.get(&authorize_url(op, req, request_uri)).await;
    let location = complete(op, &b, first).await;
    check_code_response(op, req, &location)
}

/// Redeems `code` with this proof.
async fn redeem_with_proof(
    op: &Op,
    client: &FapiClient,
    req: &Request,
    code: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
        ("code_verifier", req.verifier.as_str()),
    ];
    token_with(
        op,
        client,
        &form,
        Some(client.assertion(op.app.now())),
        proof,
    )
    .await
}

/// A proof by `key` of `htm` at `url` with iat `now + shift` (and `nbf`/`exp` if asked).
fn proof_at(
    key: &Key,
    htm: &str,
    url: &str,
    now: i64,
    token: Option<&str>,
    extra: Value,
) -> String {
    let mut c = dpop_claims(htm, url, now, token, None);
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    key.sign_raw(&key.dpop_header(), &c)
}

/// One flow with every proof (PAR if `at_par`, token, resource) given `extra` claims.
async fn flow_with_proof_claims(op: &Op, client: &FapiClient, at_par: bool, extra: Value) -> Flow {
    let now = op.app.now();
    let req = Request::new(client, SCOPE);
    let uri = if at_par {
        let p = proof_at(
            &client.dpop,
            "POST",
            &op.endpoint("pushed_authorization_request_endpoint"),
            now,
            None,
            extra.clone(),
        );
        push_with_proof(op, client, &req, &p).await
    } else {
        push(op, client, &req).await
    };
    let code = code_for(op, &req, &uri).await;
    let p = proof_at(
        &client.dpop,
        "POST",
        &op.endpoint("token_endpoint"),
        now,
        None,
        extra.clone(),
    );
    let tokens = check_token_success(
        redeem_with_proof(op, client, &req, &code, Some(&p)).await,
        &client.dpop,
    )
    .await;
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let p = proof_at(
        &client.dpop,
        "GET",
        &op.endpoint("userinfo_endpoint"),
        now,
        Some(&at),
        extra,
    );
    let r = userinfo_with(op, "DPoP", &at, Some(&p)).await;
    assert_eq!(r.status(), 200, "the resource with the proof");
    finish_tokens(op, client, &req, tokens, &client.dpop).await
}

// fapi2-security-profile-final-check-dpop-proof-nbf-exp: proofs with `nbf` now and `exp`
// five minutes ahead (`SetDpopNbfToNow`, `SetDpopExpToFiveMinutesInFuture`) are accepted
// at the token and resource endpoints: claims RFC 9449 does not define are ignored.
#[tokio::test]
async fn fapi2_check_dpop_proof_nbf_exp() {
    let (op, client) = fapi().await;
    let now = op.app.now();
    flow_with_proof_claims(&op, &client, false, json!({"nbf": now, "exp": now + 300})).await;
}

// fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-before-succeeds: every
// proof (PAR, token, resource) with `iat` 10 s in the past (§5.3.2.1-13).
#[tokio::test]
async fn fapi2_ensure_dpopproof_with_iat_10seconds_before_succeeds() {
    let (op, client) = fapi().await;
    let iat = op.app.now() - 10;
    flow_with_proof_claims(&op, &client, true, json!({"iat": iat})).await;
}

// fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-after-succeeds: `iat`
// 10 s in the future, within the clock skew a server must allow.
#[tokio::test]
async fn fapi2_ensure_dpopproof_with_iat_10seconds_after_succeeds() {
    let (op, client) = fapi().await;
    let iat = op.app.now() + 10;
    flow_with_proof_claims(&op, &client, true, json!({"iat": iat})).await;
}

// fapi2-security-profile-final-ensure-mismatched-dpop-jkt-fails: `dpop_jkt` of one key,
// the PAR proof by another (`AddInvalidDpopJktToAuthorizationEndpointRequest`, RFC 9449
// §10.1): the PAR endpoint refuses (`EnsurePARInvalidRequestOrInvalidDpopProof`).
#[tokio::test]
async fn fapi2_ensure_mismatched_dpop_jkt_fails() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE).set("dpop_jkt", &Key::es256().thumbprint());
    let proof = crate::fapi2::par_proof(&op, &client.dpop);
    let r = par_with(
        &op,
        &client,
        &req.params,
        client.assertion(op.app.now()),
        Some(&proof),
    )
    .await;
    check_par_error(r, &[400], &["invalid_request", "invalid_dpop_proof"]).await;
}

// fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-proof-jkt:
// the PAR proof by the client's key binds the code (RFC 9449 §10); the token request's
// proof by a new key (`GenerateDpopKey` before the token call) is refused.
#[tokio::test]
async fn fapi2_ensure_token_endpoint_fails_with_mismatched_dpop_proof_jkt() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let uri = push_with_proof(
        &op,
        &client,
        &req,
        &crate::fapi2::par_proof(&op, &client.dpop),
    )
    .await;
    let code = code_for(&op, &req, &uri).await;
    let other = Key::es256();
    let r = redeem_with_proof(&op, &client, &req, &code, Some(&token_proof(&op, &other))).await;
    check_token_error(r, &[400], BAD_PROOF).await;
    // Valet also spends the code on that attempt (a code presented with the wrong key
    // may be a stolen one): the bound key cannot redeem it afterwards either.
    let r = redeem_with_proof(
        &op,
        &client,
        &req,
        &code,
        Some(&token_proof(&op, &client.dpop)),
    )
    .await;
    check_token_error(r, &[400], &["invalid_grant"]).await;
}

// fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-jkt: a
// `dpop_jkt` not of the key the token request's proof is signed with: refused.
#[tokio::test]
async fn fapi2_ensure_token_endpoint_fails_with_mismatched_dpop_jkt() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE).set("dpop_jkt", &Key::es256().thumbprint());
    let uri = push(&op, &client, &req).await;
    let code = code_for(&op, &req, &uri).await;
    let r = redeem_with_proof(
        &op,
        &client,
        &req,
        &code,
        Some(&token_proof(&op, &client.dpop)),
    )
    .await;
    check_token_error(r, &[400], BAD_PROOF).await;
}

// fapi2-security-profile-final-ensure-dpopproof-at-par-endpoint-binding-success: the PAR
// proof and the token proof by the same key: success, the token bound to it.
#[tokio::test]
async fn fapi2_ensure_dpopproof_at_par_endpoint_binding_success() {
    let (op, client) = fapi().await;
    flow_with_proof_claims(&op, &client, true, json!({})).await;
}

// fapi2-security-profile-final-ensure-dpop-auth-code-binding-success: `dpop_jkt` of the
// key that signs the PAR and token proofs (`AddDpopJktToAuthorizationEndpointRequest`).
#[tokio::test]
async fn fapi2_ensure_dpop_auth_code_binding_success() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE).set("dpop_jkt", &client.dpop.thumbprint());
    let uri = push_with_proof(
        &op,
        &client,
        &req,
        &crate::fapi2::par_proof(&op, &client.dpop),
    )
    .await;
    let code = code_for(&op, &req, &uri).await;
    let r = redeem_with_proof(
        &op,
        &client,
        &req,
        &code,
        Some(&token_proof(&op, &client.dpop)),
    )
    .await;
    let tokens = check_token_success(r, &client.dpop).await;
    finish_tokens(&op, &client, &req, tokens, &client.dpop).await;
}

// fapi2-security-profile-final-ensure-holder-of-key-required (the DPoP variant): a valid
// token request with client authentication but no DPoP proof: a 4xx with
// invalid_request, invalid_grant or invalid_dpop_proof (§5.3.2.1-6, RFC 9449 §5); the
// code is not spent.
#[tokio::test]
async fn fapi2_ensure_holder_of_key_required() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let uri = push(&op, &client, &req).await;
    let code = code_for(&op, &req, &uri).await;
    let r = redeem_with_proof(&op, &client, &req, &code, None).await;
    let body = check_token_error(r, &[400], BAD_PROOF).await;
    assert_eq!(body["error"], "invalid_dpop_proof");
    let r = redeem_with_proof(
        &op,
        &client,
        &req,
        &code,
        Some(&token_proof(&op, &client.dpop)),
    )
    .await;
    check_token_success(r, &client.dpop).await;
}

/// The outcome at the resource of one negative case.
async fn resource_status(op: &Op, scheme: &str, at: &str, proofs: &[String]) -> reqwest::Response {
    let mut rb = op
        .app
        .http
        .get(op.endpoint("userinfo_endpoint"))
        .header("authorization", format!("{scheme} {at}"));
    for p in proofs {
        rb = rb.header("DPoP", p);
    }
    rb.send().await.unwrap()
}

async fn expect_refused(op: &Op, what: &str, scheme: &str, at: &str, proofs: &[String]) {
    let r = resource_status(op, scheme, at, proofs).await;
    let status = r.status().as_u16();
    // EnsureHttpStatusCodeIs400or401; a 401 names the scheme (RFC 9449 §7.1, RFC 6750 §3).
    assert!(status == 400 || status == 401, "{what}: {status}");
    if status == 401 {
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        if scheme == "DPoP" {
            assert!(challenge.starts_with("DPoP"), "{what}: {challenge}");
        } else {
            assert!(challenge.contains("invalid_token"), "{what}: {challenge}");
        }
    }
}

async fn expect_accepted(op: &Op, what: &str, at: &str, proofs: &[String]) {
    let r = resource_status(op, "DPoP", at, proofs).await;
    assert_eq!(r.status(), 200, "{what}");
}

// fapi2-security-profile-final-dpop-negative-tests: an access token obtained as normal,
// then the resource called with each flaw RFC 9449 §4.3 and §7.1 say a resource server
// checks (refused: 400 or 401), the tolerated variations (accepted), and a last correct
// call to show the token was never the reason.
#[tokio::test]
async fn fapi2_dpop_negative_tests() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let f = happy(&op, &client, &b, &Request::new(&client, SCOPE)).await;
    let at = f.access_token.as_str();
    let url = op.endpoint("userinfo_endpoint");
    let key = &client.dpop;
    let claims = || dpop_claims("GET", &url, op.app.now(), Some(at), None);
    let sign = |h: &Value, c: &Value| key.sign_raw(h, c);
    let good = || sign(&key.dpop_header(), &claims());
    let header_without = |m: &str| {
        let mut h = key.dpop_header();
        h.as_object_mut().unwrap().remove(m);
        h
    };
    let claims_without = |m: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(m);
        c
    };
    let claims_with = |m: &str, v: Value| {
        let mut c = claims();
        c[m] = v;
        c
    };

    // "DPOP" as the header name: names are case-insensitive (RFC 9110 §5.1).
    let r = op
        .app
        .http
        .get(&url)
        .header("authorization", format!("DPoP {at}"))
        .header("DPOP", good())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "DPOP header name");

    let mut typ = key.dpop_header();
    typ["typ"] = "dpop+jwt+wrongyousee".into();
    let mut private = key.dpop_header();
    private["jwk"] = key.jwk_with_private_part();
    let other = Key::es256();
    let signed = good();
    let mut parts: Vec<String> = signed.split('.').map(str::to_owned).collect();
    // InvalidateDpopProofSignature: one bit of the signature flipped.
    let mut sig = crate::fapi2_client::b64_decode(&parts[2]);
    sig[0] ^= 1;
    parts[2] = b64(&sig);
    let bad_sig = parts.join(".");
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg": "none", "typ": "dpop+jwt"}"#),
        b64(&serde_json::to_vec(&claims()).unwrap())
    );
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("two proofs (§7.1)", vec![good(), good()]),
        ("not a JWS (§4.2)", vec!["not.a.jwt".into()]),
        (
            "no typ (§4.2)",
            vec![sign(&header_without("typ"), &claims())],
        ),
        (
            "no alg (§4.2)",
            vec![sign(&header_without("alg"), &claims())],
        ),
        (
            "no jwk (§4.2)",
            vec![sign(&header_without("jwk"), &claims())],
        ),
        (
            "no jti",
            vec![sign(&key.dpop_header(), &claims_without("jti"))],
        ),
        (
            "no htm",
            vec![sign(&key.dpop_header(), &claims_without("htm"))],
        ),
        (
            "no htu",
            vec![sign(&key.dpop_header(), &claims_without("htu"))],
        ),
        (
            "no iat",
            vec![sign(&key.dpop_header(), &claims_without("iat"))],
        ),
        (
            "no ath (§7.1)",
            vec![sign(&key.dpop_header(), &claims_without("ath"))],
        ),
        ("typ not dpop+jwt", vec![sign(&typ, &claims())]),
        ("alg none (FAPI 2.0 SP §5.4)", vec![none]),
        ("a bad signature", vec![bad_sig]),
        (
            "a private key in jwk (§4.3)",
            vec![sign(&private, &claims())],
        ),
        (
            "htm PUT",
            vec![sign(&key.dpop_header(), &claims_with("htm", "PUT".into()))],
        ),
        (
            "htu another URL",
            vec![sign(
                &key.dpop_header(),
                &claims_with("htu", format!("{url}ohnonotagain").into()),
            )],
        ),
        (
            "iat an hour ahead",
            vec![sign(
                &key.dpop_header(),
                &claims_with("iat", (op.app.now() + 3600).into()),
            )],
        ),
        (
            "iat an hour ago",
            vec![sign(
                &key.dpop_header(),
                &claims_with("iat", (op.app.now() - 3600).into()),
            )],
        ),
        (
            "ath of another token",
            vec![sign(
                &key.dpop_header(),
                &claims_with("ath", crate::fapi2_client::sha256_b64("another").into()),
            )],
        ),
        (
            "signed by another key (§7.1: not the token's)",
            vec![other.dpop("GET", &url, op.app.now(), Some(at), None)],
        ),
        ("no proof at all", vec![]),
    ];
    for (what, proofs) in &cases {
        expect_refused(&op, what, "DPoP", at, proofs).await;
    }
    // The DPoP-bound token as a bearer token, without a proof (§7.1): refused.
    expect_refused(&op, "Bearer, no proof", "Bearer", at, &[]).await;
    let r = resource_status(&op, "Bearer", at, &[]).await;
    assert_eq!(r.status(), 401);

    // Accepted: htu with a query and fragment (ignored, §4.3 item 9), extra header and
    // claim members (§4.2: ignored), scheme and host in upper case (RFC 3986 §6.2.2).
    expect_accepted(
        &op,
        "htu with query and fragment",
        at,
        &[sign(
            &key.dpop_header(),
            &claims_with(
                "htu",
                format!(
                    "{url}?allthedoorsonthisspaceshiphavebeen#programmedtohaveacheeryandsunnydisposition"
                )
                .into(),
            ),
        )],
    )
    .await;
    let mut extra_header = key.dpop_header();
    extra_header["tx_id"] = (op.app.now() + 3600).into();
    expect_accepted(
        &op,
        "extra members",
        at,
        &[sign(
            &extra_header,
            &claims_with("tx_id_key", (op.app.now() + 3600).into()),
        )],
    )
    .await;
    let upper = url.replacen("https://localhost", "HTTPS://LOCALHOST", 1);
    expect_accepted(
        &op,
        "htu scheme and host in upper case",
        at,
        &[sign(&key.dpop_header(), &claims_with("htu", upper.into()))],
    )
    .await;

    // DPoP reuse: the first use of a jti works, the second "should" fail (§11.1).
    let fixed = sign(
        &key.dpop_header(),
        &claims_with("jti", "fixed-jti-1".into()),
    );
    expect_accepted(&op, "first use of a jti", at, std::slice::from_ref(&fixed)).await;
    expect_refused(&op, "second use of a jti", "DPoP", at, &[fixed]).await;

    // A correct proof still works.
    expect_accepted(&op, "a correct proof", at, &[good()]).await;
}

// The negative module's RSA half: with an RSA DPoP key, a proof signed RS256
// (`ChangeSignAlgorithm`) is refused at the resource, FAPI 2.0 SP §5.4 allowing PS256 only
// for RSA (a FAILURE in the suite); the test asks the token endpoint too.
#[tokio::test]
async fn fapi2_dpop_negative_tests_rs256_proof() {
    let (op, mut client) = fapi().await;
    client.dpop = Key::rsa(jsonwebtoken::Algorithm::PS256);
    let b = op.app.browser();
    let f = happy(&op, &client, &b, &Request::new(&client, SCOPE)).await;
    let at = f.access_token.as_str();
    let url = op.endpoint("userinfo_endpoint");
    let mut header = client.dpop.dpop_header();
    header["alg"] = "RS256".into();
    let rs256 = client.dpop.sign_raw(
        &header,
        &dpop_claims("GET", &url, op.app.now(), Some(at), None),
    );
    let at_resource = resource_status(&op, "DPoP", at, &[rs256]).await.status();
    let req = Request::new(&client, SCOPE);
    let uri = push(&op, &client, &req).await;
    let code = code_for(&op, &req, &uri).await;
    let rs256 = client.dpop.sign_raw(
        &header,
        &dpop_claims(
            "POST",
            &op.endpoint("token_endpoint"),
            op.app.now(),
            None,
            None,
        ),
    );
    let r = redeem_with_proof(&op, &client, &req, &code, Some(&rs256)).await;
    let at_token = r.status();
    assert!(
        at_resource.is_client_error() && at_token == 400,
        "an RS256 proof of a fapi2 client: UserInfo {at_resource}, token endpoint {at_token}"
    );
    check_token_error(r, &[400], BAD_PROOF).await;
}

// Valet's rules for proofs at the token endpoint (RFC 9449 §4.3, §11.1; the contract):
// each flaw is 400 invalid_dpop_proof and leaves the code unspent; then a correct proof
// redeems it, and the same proof again (a replay) is refused.
#[tokio::test]
async fn fapi2_dpop_token_endpoint_rules() {
    let (op, client) = fapi().await;
    let req = Request::new(&client, SCOPE);
    let uri = push(&op, &client, &req).await;
    let code = code_for(&op, &req, &uri).await;
    let key = &client.dpop;
    let te = op.endpoint("token_endpoint");
    let now = op.app.now();
    let with = |m: &str, v: Value| {
        let mut c = dpop_claims("POST", &te, now, None, None);
        c[m] = v;
        key.sign_raw(&key.dpop_header(), &c)
    };
    let mut typ = key.dpop_header();
    typ["typ"] = "JWT".into();
    let mut private = key.dpop_header();
    private["jwk"] = key.jwk_with_private_part();
    let good = token_proof(&op, key);
    let cases = vec![
        ("htm GET", with("htm", "GET".into())),
        (
            "htu the PAR endpoint",
            with(
                "htu",
                op.endpoint("pushed_authorization_request_endpoint").into(),
            ),
        ),
        ("iat 301 s ago", with("iat", (now - 301).into())),
        ("iat 61 s ahead", with("iat", (now + 61).into())),
        (
            "typ JWT",
            key.sign_raw(&typ, &dpop_claims("POST", &te, now, None, None)),
        ),
        (
            "a private key",
            key.sign_raw(&private, &dpop_claims("POST", &te, now, None, None)),
        ),
        ("a bad signature", format!("{}x", &good[..good.len() - 2])),
        ("jwk of another key", {
            let mut h = key.dpop_header();
            h["jwk"] = Key::es256().public_jwk();
            key.sign_raw(&h, &dpop_claims("POST", &te, now, None, None))
        }),
    ];
    for (what, proof) in cases {
        let r = redeem_with_proof(&op, &client, &req, &code, Some(&proof)).await;
        let body = check_token_error(r, &[400], &["invalid_dpop_proof"]).await;
        assert_eq!(body["error"], "invalid_dpop_proof", "{what}");
    }
    let r = redeem_with_proof(&op, &client, &req, &code, Some(&good)).await;
    check_token_success(r, key).await;
    // The same proof (same jti) for another code: a replay.
    let req2 = Request::new(&client, SCOPE);
    let uri2 = push(&op, &client, &req2).await;
    let code2 = code_for(&op, &req2, &uri2).await;
    let r = redeem_with_proof(&op, &client, &req2, &code2, Some(&good)).await;
    check_token_error(r, &[400], &["invalid_dpop_proof"]).await;
}

// DPoP server nonces (RFC 9449 §8, what the suite's `…AllowingDpopNonceError` calls are
// for): with `dpop_nonce` on, a token request without the nonce is refused with
// use_dpop_nonce and a `DPoP-Nonce` header; the retry with it succeeds.
#[tokio::test]
async fn fapi2_dpop_nonce() {
    let (op, client) = fapi_with(|p| Partial {
        dpop_nonce: Some(true),
        ..p
    })
    .await;
    let req = Request::new(&client, SCOPE);
    let uri = push(&op, &client, &req).await;
    let code = code_for(&op, &req, &uri).await;
    let r = redeem_with_proof(
        &op,
        &client,
        &req,
        &code,
        Some(&token_proof(&op, &client.dpop)),
    )
    .await;
    let nonce = r
        .headers()
        .get("dpop-nonce")
        .expect("a DPoP-Nonce header")
        .to_str()
        .unwrap()
        .to_owned();
    let body = check_token_error(r, &[400], &["use_dpop_nonce"]).await;
    assert_eq!(body["error"], "use_dpop_nonce");
    assert!(!nonce.is_empty());
    let proof = client.dpop.dpop(
        "POST",
        &op.endpoint("token_endpoint"),
        op.app.now(),
        None,
        Some(&nonce),
    );
    let r = redeem_with_proof(&op, &client, &req, &code, Some(&proof)).await;
    let tokens = check_token_success(r, &client.dpop).await;
    let at = tokens["access_token"].as_str().unwrap();
    // The resource, with the nonce if it asks for one too.
    let url = op.endpoint("userinfo_endpoint");
    let p = client.dpop.dpop("GET", &url, op.app.now(), Some(at), None);
    let mut r = userinfo_with(&op, "DPoP", at, Some(&p)).await;
    if r.status() == 401 {
        if let Some(n) = r.headers().get("dpop-nonce") {
            let n = n.to_str().unwrap().to_owned();
            let p = client
                .dpop
                .dpop("GET", &url, op.app.now(), Some(at), Some(&n));
            r = userinfo_with(&op, "DPoP", at, Some(&p)).await;
        }
    }
    assert_eq!(r.status(), 200);
}

// RFC 9449 §6.2 and RFC 7662: introspection of a DPoP-bound token says so, with the
// key's thumbprint, and the JWT access token carries the same `cnf.jkt`.
#[tokio::test]
async fn fapi2_introspection_of_a_dpop_bound_token() {
    let (op, client) = fapi().await;
    let b = op.app.browser();
    let f = happy(&op, &client, &b, &Request::new(&client, SCOPE)).await;
    let body = introspect(&op, &client, &f.access_token).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["cnf"]["jkt"], client.dpop.thumbprint());
    assert_eq!(
        jwt_claims(&f.access_token)["cnf"]["jkt"],
        client.dpop.thumbprint()
    );
}
