//! The OpenID Foundation conformance suite's **Back-Channel Logout OP** plan
//! (`oidcc-backchannel-rp-initiated-logout-certification-test-plan`), ported like
//! `conformance_logout.rs` ports the RP-Initiated plan, whose helpers it shares. Its one
//! flow module registers a `backchannel_logout_uri` (`CreateBackchannelLogoutUri`: here a
//! small HTTP server in the test, on loopback, answering 200 with `Cache-Control:
//! no-store` as the suite does, the approach of `backchannel.rs`), runs the RP-Initiated
//! logout and then checks the POST it received (Back-Channel Logout 1.0 §2.4, §2.5) as
//! well as the front-channel redirect, then `prompt=none`. The plan leaves the client
//! registration variant open: both the static and the dynamic one are ported.
//!
//! Not ported, as not applicable: `EnsureIncomingTls12WithSecureCipherOrTls13` and
//! `EnsureIncomingTls13` (WARNINGs read from the suite's TLS proxy; Valet's POST here goes
//! to plain http on loopback, the one place `backchannel::validate_uri` allows it, and is
//! otherwise https with verified TLS through rustls), and
//! `ValidateLogoutTokenFromBackchannelLogoutRequestEncryption` (skipped by the suite
//! without client keys; Valet signs logout tokens and never encrypts them). The RP plans'
//! `oidcc-client-test-rp-backchannel-rpinitlogout*` (alg none, no or a wrong event, a
//! nonce, a wrong alg, aud or iss) test an RP's checks of a logout token and do not apply
//! to an OP.

use base64::Engine;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::conformance::{Client, Op, is_https_url, op, op_with};
use crate::conformance_logout::{
    POST_LOGOUT, Rp, check_endpoints_https, check_post_logout_redirect, check_signed_out, confirm,
    end_session_request, first_authorization, get, go_to_end_session, register,
};
use crate::flow::REDIRECT;

/// The back-channel event (§2.4).
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// `ValidateLogoutTokenClaims`: five minutes of clock skew for `iat`.
const SKEW: i64 = 300;

/// One request the RP's back-channel endpoint received.
#[derive(Clone)]
struct Received {
    method: String,
    content_type: Option<String>,
    body: String,
}

/// The RP's `backchannel_logout_uri` (the suite's base URL + `/backchannel_logout`).
struct Receiver {
    uri: String,
    got: Arc<Mutex<Vec<Received>>>,
}

async fn receiver() -> Receiver {
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/backchannel_logout",
        axum::routing::any(
            move |method: axum::http::Method, headers: axum::http::HeaderMap, body: String| {
                let g = g.clone();
                async move {
                    g.lock().unwrap().push(Received {
                        method: method.to_string(),
                        content_type: headers
                            .get("content-type")
                            .map(|v| v.to_str().unwrap().to_owned()),
                        body,
                    });
                    // handleBackchannelLogout: always 200, no-store (§2.8).
                    ([("cache-control", "no-store")], "")
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver {
        uri: format!("http://127.0.0.1:{port}/backchannel_logout"),
        got,
    }
}

impl Receiver {
    /// Waits for the delivering task (it runs on its own, once a second), not for a
    /// clock: the logout is due at once.
    async fn first(&self) -> Received {
        let start = Instant::now();
        loop {
            if let Some(r) = self.got.lock().unwrap().first() {
                return r.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no back-channel POST"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `ExtractLogoutTokenFromBackchannelLogoutRequest` and
/// `CheckForUnexpectedParametersInBackchannelLogoutRequest` (§2.5): a POST of
/// `application/x-www-form-urlencoded` whose one parameter is `logout_token`.
fn logout_token_of(r: &Received) -> String {
    assert_eq!(r.method, "POST");
    let ct = r.content_type.as_deref().expect("a content type");
    assert_eq!(
        ct.split(';').next().unwrap().trim(),
        "application/x-www-form-urlencoded"
    );
    let params: Vec<(String, String)> = form_urlencoded::parse(r.body.as_bytes())
        .into_owned()
        .collect();
    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["logout_token"], "only logout_token: {}", r.body);
    params[0].1.clone()
}

fn decode(part: &str) -> Value {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `ValidateLogoutTokenSignature` (§2.4: signed): the header's `kid` names a published
/// key whose `kty` fits the `alg` (and whose `alg` and `use`, where present, are the
/// token's and `sig`), and the signature verifies with it (by `jsonwebtoken`). Returns
/// the header and the claims.
fn check_logout_token_signature(op: &Op, token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS, not a JWE");
    let header = decode(parts[0]);
    let alg = header["alg"].as_str().expect("alg");
    assert_ne!(alg, "none");
    let kty = match &alg[..2] {
        "RS" | "PS" => "RSA",
        "ES" => "EC",
        other => panic!("unexpected alg family {other}"),
    };
    let fits = |k: &&Value| {
        k["kty"] == kty
            && k.get("alg").is_none_or(|a| a == alg)
            && k.get("use").is_none_or(|u| u == "sig")
    };
    let keys = op.jwks["keys"].as_array().unwrap();
    let kid = header["kid"].as_str().expect("Valet names its key");
    let key = keys
        .iter()
        .filter(|k| k["kid"] == kid)
        .find(fits)
        .expect("a published key with the token's kid, kty, alg and use");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.clone()).unwrap();
    let mut v = jsonwebtoken::Validation::new(alg.parse().unwrap());
    v.validate_aud = false;
    v.validate_exp = false;
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &v,
    )
    .unwrap_or_else(|e| panic!("the logout token does not verify: {e}"))
    .claims;
    (header, claims)
}

/// `ValidateLogoutTokenClaims`, in the order of §2.4: `iss` the issuer; `aud` the client
/// (or a list holding it); `iat` not in the future (5 minutes' skew) nor over a day old;
/// a `jti`; `events` an object of exactly one member, the back-channel event, whose value
/// is `{}`. Then `CheckLogoutTokenNoNonce`, `CheckLogoutTokenHasSubOrSid`, and `sub` and
/// `sid` equal to the ID token's (`CheckIdTokenSubMatchesLogoutToken`,
/// `CheckIdTokenSidMatchesLogoutToken`, each skipped by the suite if the claim is absent).
fn check_logout_token_claims(rp: &Rp, claims: &Value) {
    let now = rp.op.app.now();
    assert_eq!(claims["iss"], rp.op.issuer(), "iss");
    match &claims["aud"] {
        Value::String(a) => assert_eq!(a, &rp.client.id),
        Value::Array(list) => assert!(list.contains(&rp.client.id.as_str().into())),
        other => panic!("aud {other}"),
    }
    let iat = claims["iat"].as_i64().expect("iat");
    assert!(iat <= now + SKEW, "iat in the future");
    assert!(iat >= now - 86_400, "iat over a day old");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()), "jti");
    assert_eq!(claims["events"], json!({ EVENT: {} }), "events");
    assert!(claims.get("nonce").is_none(), "a logout token has no nonce");
    assert!(
        claims.get("sub").is_some() || claims.get("sid").is_some(),
        "sub or sid"
    );
    if let Some(sub) = claims.get("sub") {
        assert_eq!(sub, &rp.flow.id["sub"], "the ID token's sub");
    }
    if let Some(sid) = claims.get("sid") {
        assert_eq!(sid, &rp.flow.id["sid"], "the ID token's sid");
    }
}

/// `OIDCCBackChannelRpInitiatedLogout` after configuration: the first authorization, the
/// end-session request confirmed, then what each channel received, then `prompt=none`.
async fn backchannel_logout(op: Op, client: Client, rc: &Receiver) {
    let rp = first_authorization(op, client).await;
    assert!(
        rp.flow.id["sid"].is_string(),
        "backchannel_logout_session_supported: the ID token has a sid (§2.1)"
    );
    assert!(
        rc.got.lock().unwrap().is_empty(),
        "nothing before the logout"
    );
    let params = end_session_request(&rp);
    let page = go_to_end_session(&rp, &params).await;
    let done = confirm(&rp, &page).await;

    // Verify backchannel logout request.
    let token = logout_token_of(&rc.first().await);
    let (header, claims) = check_logout_token_signature(&rp.op, &token);
    check_logout_token_claims(&rp, &claims);
    // §2.4 (RECOMMENDED, not a suite check): explicitly typed, and signed like ID tokens.
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "RS256");
    // §2.4 makes `exp` REQUIRED too (the suite does not look): after `iat`, still ahead.
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64());
    let exp = exp.expect("exp");
    assert!(exp > iat && exp > rp.op.app.now(), "iat {iat}, exp {exp}");

    // Verify frontchannel post logout redirect.
    check_post_logout_redirect(&done, get(&params, "state"));
    check_signed_out(&rp).await;
    assert_eq!(rc.got.lock().unwrap().len(), 1, "one POST for one RP");
}

// ================= Back-Channel Logout OP plan =================

/// `oidcc-backchannel-logout-discovery-endpoint-verification`: every `*_endpoint` is
/// https; `backchannel_logout_supported` and `backchannel_logout_session_supported` are
/// `true` (§2.1; the plan requires `sid` support for certification); an https
/// `end_session_endpoint`.
#[tokio::test]
async fn oidcc_backchannel_logout_discovery_endpoint_verification() {
    let (op, _) = op().await;
    check_endpoints_https(&op);
    assert_eq!(op.meta["backchannel_logout_supported"], true);
    assert_eq!(op.meta["backchannel_logout_session_supported"], true);
    assert!(is_https_url(
        op.meta["end_session_endpoint"].as_str().unwrap()
    ));
}

/// `oidcc-backchannel-rp-initiated-logout`, static client: the logout reaches the
/// `backchannel_logout_uri` as a form POST of one signed logout token with the claims of
/// §2.4, for alice's `sub` and the session of her ID token (`sid`); the browser reaches the
/// `post_logout_redirect_uri` with its `state`; `prompt=none` fails afterwards.
#[tokio::test]
async fn oidcc_backchannel_rp_initiated_logout() {
    let (op, _) = op().await;
    let rc = receiver().await;
    let client = register(&op, Some(rc.uri.clone())).await;
    backchannel_logout(op, client, &rc).await;
}

/// `oidcc-backchannel-rp-initiated-logout`, dynamic client: the client registers itself
/// (RFC 7591) with `post_logout_redirect_uris` (`AddPostLogoutRedirectUriToDynamic
/// RegistrationRequest`), `backchannel_logout_uri` and `backchannel_logout_session_required:
/// true` (`AddBackchannelLogout…ToDynamicRegistrationRequest`), echoed in the response.
/// A self-registered application's POSTs go only to public addresses, so this node has
/// the development switch that lets them reach the loopback receiver.
#[tokio::test]
async fn oidcc_backchannel_rp_initiated_logout_dynamic_client() {
    let (op, _) = op_with(|p| valet_server::config::Partial {
        dev_allow_loopback_metadata: Some(true),
        ..p
    })
    .await;
    let rc = receiver().await;
    let token = op.app.initial_token(Some(1)).await;
    let body = json!({
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": [POST_LOGOUT],
        "backchannel_logout_uri": rc.uri,
        "backchannel_logout_session_required": true,
        "token_endpoint_auth_method": "client_secret_basic",
        "client_name": "Conformance",
    });
    let reg = op.app.registered(&body, Some(&token)).await;
    assert_eq!(reg["post_logout_redirect_uris"], json!([POST_LOGOUT]));
    assert_eq!(reg["backchannel_logout_uri"], rc.uri.as_str());
    assert_eq!(reg["backchannel_logout_session_required"], true);
    let client = Client {
        id: reg["client_id"].as_str().unwrap().to_owned(),
        secret: reg["client_secret"].as_str().unwrap().to_owned(),
        post: false,
    };
    backchannel_logout(op, client, &rc).await;
}

/// Not a module: Back-Channel Logout §4.1 (cross-JWT confusion). A logout token is signed
/// with the key that signs ID tokens, so its `typ` must keep it from passing for one: the
/// token the RP received, presented as an `id_token_hint`, is refused and earns no
/// redirect.
#[tokio::test]
async fn a_logout_token_is_never_taken_for_an_id_token_hint() {
    let (op, _) = op().await;
    let rc = receiver().await;
    let client = register(&op, Some(rc.uri.clone())).await;
    let rp = first_authorization(op, client).await;
    let page = go_to_end_session(&rp, &end_session_request(&rp)).await;
    confirm(&rp, &page).await;
    let token = logout_token_of(&rc.first().await);

    let again = first_authorization(rp.op, rp.client).await;
    let params = vec![
        ("id_token_hint", token),
        ("post_logout_redirect_uri", POST_LOGOUT.to_owned()),
    ];
    let p = go_to_end_session(&again, &params).await;
    crate::conformance::check_error_page(&p, "id_token_hint");
}
