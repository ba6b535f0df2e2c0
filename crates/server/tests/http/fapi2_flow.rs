//! The FAPI 2.0 flow after the authorization response, as `AbstractFAPI2SPFinalServer
//! TestModule` runs it: the token request (a fresh client assertion, the PKCE verifier, a
//! DPoP proof), the token response's checks, the ID token verified by `jsonwebtoken`
//! against the published key, and UserInfo with a DPoP-bound token. See `fapi2.rs`.

use serde_json::Value;

use crate::conformance::Op;
use crate::fapi2::{CB, Request, authorize, check_code_response, shannon_bits};
use crate::fapi2_client::{FapiClient, Key, jwt_claims, post_form};
use crate::flow::Browser;

/// The suite's clock-skew allowance for ID token times.
const SKEW: i64 = 300;

// ---- The token endpoint ----

/// A token request: `form`, client authentication by `assertion`, an optional proof.
pub(crate) async fn token_with(
    op: &Op,
    client: &FapiClient,
    form: &[(&str, &str)],
    assertion: Option<String>,
    dpop: Option<&str>,
) -> reqwest::Response {
    let mut form: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    match assertion {
        Some(a) => form.extend(client.auth_form(a)),
        None => form.push(("client_id".into(), client.id.clone())),
    }
    post_form(&op.app.http, &op.endpoint("token_endpoint"), &form, dpop).await
}

/// A DPoP proof for the token endpoint by `key`, now.
pub(crate) fn token_proof(op: &Op, key: &Key) -> String {
    key.dpop(
        "POST",
        &op.endpoint("token_endpoint"),
        op.app.now(),
        None,
        None,
    )
}

/// `CreateTokenEndpointRequestForAuthorizationCodeGrant` + `AddCodeVerifier…` with a fresh
/// assertion and a proof by the client's DPoP key.
pub(crate) async fn redeem(
    op: &Op,
    client: &FapiClient,
    req: &Request,
    code: &str,
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", req.get("redirect_uri").unwrap_or(CB)),
        ("code_verifier", req.verifier.as_str()),
    ];
    let proof = token_proof(op, &client.dpop);
    token_with(
        op,
        client,
        &form,
        Some(client.assertion(op.app.now())),
        Some(&proof),
    )
    .await
}

/// A successful token response for a DPoP-bound token by `dpop`
/// (`CheckTokenEndpointHttpStatus200`, JSON, `Cache-Control: no-store`,
/// `CheckForAccessTokenValue`, `CheckTokenTypeIsDpop`, `EnsureMinimumAccessTokenLength`/
/// `Entropy`, `ExtractExpiresInFromTokenEndpointResponse`): and the JWT access token's
/// `cnf.jkt` is the key's thumbprint (RFC 9449 §6.1).
pub(crate) async fn check_token_success(r: reqwest::Response, dpop: &Key) -> Value {
    let status = r.status();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(headers["cache-control"], "no-store");
    let at = body["access_token"].as_str().expect("access_token");
    assert!(shannon_bits(at) > 96.0, "access token entropy");
    assert!(
        body["token_type"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("DPoP"),
        "{body}"
    );
    assert!(body["expires_in"].as_i64().expect("expires_in") > 0);
    if at.split('.').count() == 3 {
        assert_eq!(jwt_claims(at)["cnf"]["jkt"], dpop.thumbprint(), "cnf.jkt");
    }
    body
}

/// A token error: one of `statuses`, JSON, no-store, one of `errors`, and the RFC 6749
/// §5.2 character sets (`ValidateErrorFromTokenEndpointResponseError` and friends).
pub(crate) async fn check_token_error(
    r: reqwest::Response,
    statuses: &[u16],
    errors: &[&str],
) -> Value {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap();
    assert!(statuses.contains(&status), "status {status}: {body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(headers["cache-control"], "no-store");
    let e = body["error"].as_str().expect("error");
    assert!(errors.contains(&e), "{e} not in {errors:?}: {body}");
    if let Some(d) = body.get("error_description") {
        let d = d.as_str().unwrap();
        assert!(
            d.chars()
                .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')),
            "{d:?}"
        );
    }
    body
}

// ---- ID token and UserInfo ----

/// `ValidateIdToken`, `ValidateIdTokenNonce`, `EnsureIdTokenContainsKid`,
/// `ValidateIdTokenSignatureUsingKid`, `FAPIValidateIdTokenSigningAlg` (`alg` as
/// expected, one FAPI 2.0 SP §5.4 allows): verified by `jsonwebtoken` with the published
/// key the header names. Returns the claims.
pub(crate) async fn check_id_token(
    op: &Op,
    client_id: &str,
    jwt: &str,
    nonce: Option<&str>,
    alg: jsonwebtoken::Algorithm,
) -> Value {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, alg);
    let kid = header.kid.expect("the ID token names its key");
    let find = |jwks: &Value| {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .cloned()
    };
    // A key unknown to the copy fetched at the start: fetch the JWKS again, as a client
    // does when a `kid` is new (OIDC Core §10.1.1).
    let key = match find(&op.jwks) {
        Some(k) => k,
        None => find(&op.app.jwks().await).unwrap_or_else(|| panic!("no published key {kid}")),
    };
    if let Some(a) = key.get("alg") {
        assert_eq!(
            serde_json::to_value(alg).unwrap(),
            *a,
            "the key's alg is the ID token's"
        );
    }
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_issuer(&[op.issuer()]);
    v.set_audience(&[client_id]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = SKEW as u64;
    let claims =
        jsonwebtoken::decode::<Value>(jwt, &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(), &v)
            .unwrap_or_else(|e| panic!("the ID token does not verify: {e}"))
            .claims;
    let now = op.app.now();
    assert!(claims["exp"].as_i64().unwrap() > now - SKEW);
    assert!(claims["iat"].as_i64().unwrap() <= now + SKEW);
    match nonce {
        Some(n) => assert_eq!(claims["nonce"], n, "nonce"),
        None => assert!(claims.get("nonce").is_none(), "no nonce sent, none back"),
    }
    // FAPI 2.0 has no s_hash: state is not in the ID token.
    assert!(claims.get("s_hash").is_none());
    assert_eq!(claims["sub"], op.sub.as_str());
    claims
}

/// `CallProtectedResource` with a DPoP-bound token: `Authorization: <scheme> <token>`
/// and, if given, a `DPoP` header.
pub(crate) async fn userinfo_with(
    op: &Op,
    scheme: &str,
    token: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let mut rb = op
        .app
        .http
        .get(op.endpoint("userinfo_endpoint"))
        .header("authorization", format!("{scheme} {token}"));
    if let Some(p) = proof {
        rb = rb.header("DPoP", p);
    }
    rb.send().await.unwrap()
}

/// A DPoP proof for UserInfo with `ath` for `token` (RFC 9449 §7.1).
pub(crate) fn userinfo_proof(op: &Op, key: &Key, token: &str) -> String {
    key.dpop(
        "GET",
        &op.endpoint("userinfo_endpoint"),
        op.app.now(),
        Some(token),
        None,
    )
}

/// UserInfo with a correct proof: 200, JSON, alice's `sub`.
pub(crate) async fn check_userinfo(op: &Op, key: &Key, token: &str) -> Value {
    let r = userinfo_with(op, "DPoP", token, Some(&userinfo_proof(op, key, token))).await;
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], op.sub.as_str());
    info
}

/// Introspection (RFC 7662) of `token` by `client`, authenticated by an assertion.
pub(crate) async fn introspect(op: &Op, client: &FapiClient, token: &str) -> Value {
    let mut form = vec![("token".to_owned(), token.to_owned())];
    form.extend(client.auth_form(client.assertion(op.app.now())));
    let r = post_form(
        &op.app.http,
        &op.endpoint("introspection_endpoint"),
        &form,
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

// ---- Whole flows ----

/// One happy flow of `AbstractFAPI2SPFinalServerTestModule`.
pub(crate) struct Flow {
    pub(crate) tokens: Value,
    pub(crate) access_token: String,
    /// The verified ID token claims, for an openid request.
    pub(crate) id: Option<Value>,
}

/// The flow after the authorization response: redeem, check, UserInfo.
pub(crate) async fn finish(op: &Op, client: &FapiClient, req: &Request, location: &str) -> Flow {
    let code = check_code_response(op, req, location);
    let tokens = check_token_success(redeem(op, client, req, &code).await, &client.dpop).await;
    finish_tokens(op, client, req, tokens, &client.dpop).await
}

pub(crate) async fn finish_tokens(
    op: &Op,
    client: &FapiClient,
    req: &Request,
    tokens: Value,
    dpop: &Key,
) -> Flow {
    let openid = req
        .get("scope")
        .is_some_and(|s| s.split(' ').any(|s| s == "openid"));
    let id = match tokens.get("id_token") {
        Some(t) => Some(
            check_id_token(
                op,
                &client.id,
                t.as_str().unwrap(),
                req.get("nonce"),
                jsonwebtoken::Algorithm::PS256,
            )
            .await,
        ),
        None => None,
    };
    assert_eq!(id.is_some(), openid, "an ID token exactly for openid");
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    if openid {
        check_userinfo(op, dpop, &access_token).await;
    } else {
        // UserInfo is OpenID Connect's (it answers a token without `openid` 403
        // insufficient_scope, OIDC Core §5.3); the plain-OAuth variant's resource is the
        // API, which learns the binding by introspection (RFC 7662, RFC 9449 §6.2).
        let body = introspect(op, client, &access_token).await;
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["token_type"], "DPoP");
        assert_eq!(body["cnf"]["jkt"], dpop.thumbprint());
        let r = userinfo_with(
            op,
            "DPoP",
            &access_token,
            Some(&userinfo_proof(op, dpop, &access_token)),
        )
        .await;
        assert_eq!(r.status(), 403, "UserInfo without openid");
    }
    Flow {
        tokens,
        access_token,
        id,
    }
}

pub(crate) async fn happy(op: &Op, client: &FapiClient, b: &Browser, req: &Request) -> Flow {
    let location = authorize(op, client, b, req).await;
    finish(op, client, req, &location).await
}
