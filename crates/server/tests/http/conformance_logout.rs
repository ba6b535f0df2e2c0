//! The OpenID Foundation conformance suite's **RP-Initiated Logout OP** plan
//! (`oidcc-rp-initiated-logout-certification-test-plan`: discovery metadata, static client,
//! `client_secret_basic`, default response mode), ported like `conformance.rs` ports the
//! Basic plan: one test per module, named after it, built on that file's OP, client, flow
//! and error-response checks. Every module but the discovery one runs
//! `AbstractOIDCCRpInitiatedLogout`: a registered `post_logout_redirect_uri`
//! (`CreatePostLogoutRedirectUri`), a whole code flow with a 128-character `state`, then the
//! browser sent to `end_session_endpoint` with `id_token_hint`, `post_logout_redirect_uri`
//! and a random VSCHAR `state` (`CreateEndSessionEndpointRequest`,
//! `CreateRandomEndSessionState`, `BuildRedirectToEndSessionEndpoint`), which each module
//! changes (`customiseEndSessionEndpointRequest`). Where the suite asks a person for a
//! screenshot (`Expect…ErrorPage`, `ExpectSuccessfulLogoutPage`) the test reads the page:
//! an error page is a 400 naming what was wrong, with no redirect and no form; "logged
//! out" is Valet's confirmation (RP-Initiated Logout §2: the OP SHOULD ask, and MUST
//! without a hint) answered "Sign out", then the signed-out page. Where the module then
//! tries `prompt=none`, so does the test; where it does not, the test checks the session
//! anyway: ended after a logout, alive after a refusal (the error page says so). The
//! plan leaves the client-registration variant open; the static client is ported here,
//! the dynamic one (which registers `post_logout_redirect_uris` too) once, in
//! `conformance_backchannel.rs`.
//!
//! Not ported, as not applicable: the Front-Channel Logout plan
//! (`oidcc-frontchannel-logout-discovery-endpoint-verification`,
//! `oidcc-frontchannel-rp-initiated-logout`) and the Session Management plan
//! (`oidcc-session-management-*`): Valet deliberately builds neither, browsers block their
//! third-party cookies; the RP plans (`oidcc-client-test-rp-init-logout*` and the rest of
//! `openid/client/logout/`: the suite as an OP testing an RP's logout).
//! The Back-Channel plan is `conformance_backchannel.rs`; spec rules no module exercises
//! (POST, `client_id`, `ui_locales`, an expired hint) are `conformance_logout_spec.rs`.

use reqwest::Url;
use valet_protocol::application::Profile;
use valet_server::admin::NewClient;

use crate::conformance::{
    AuthRequest, Client, Flow, Op, SCOPE, callback, check_error_page, check_error_response, happy,
    is_https_url, op, random,
};
use crate::flow::{Browser, Page, REDIRECT};

/// The suite's `post_logout_redirect_uri`: its base URL + `/post_logout_redirect`.
pub(crate) const POST_LOGOUT: &str = "https://app.example/post_logout_redirect";

/// Errors `CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface` accepts.
const NEEDS_UI: &[&str] = &[
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
];

/// One run of `AbstractOIDCCRpInitiatedLogout` after its first authorization.
pub(crate) struct Rp {
    pub(crate) op: Op,
    pub(crate) client: Client,
    pub(crate) browser: Browser,
    pub(crate) flow: Flow,
}

/// The static client: a confidential web application (`client_secret_basic`) with the
/// suite's redirect and post-logout redirect URIs, and a back-channel logout URI if given.
pub(crate) async fn register(op: &Op, backchannel_logout_uri: Option<String>) -> Client {
    let (id, secret) = op
        .app
        .client(NewClient {
            name: "Conformance".into(),
            profile: Some(Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![POST_LOGOUT.into()],
            backchannel_logout_session_required: backchannel_logout_uri.is_some(),
            backchannel_logout_uri,
            ..Default::default()
        })
        .await;
    Client {
        id,
        secret,
        post: false,
    }
}

/// The first authorization (`onConfigure` asks for a 128-character `state`, to see that
/// the OP does not corrupt it), with every check of the Basic plan's happy path.
pub(crate) async fn first_authorization(op: Op, client: Client) -> Rp {
    let browser = op.app.browser();
    let req = AuthRequest::code(&client.id, SCOPE).set("state", &random(128));
    let flow = happy(&op, &client, &browser, &req).await;
    Rp {
        op,
        client,
        browser,
        flow,
    }
}

/// The OP with alice signed in to the static client.
async fn signed_in() -> Rp {
    let (op, _) = op().await;
    let client = register(&op, None).await;
    first_authorization(op, client).await
}

/// `n` characters drawn from `alphabet`.
fn pick(alphabet: &[u8], n: usize) -> String {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect()
}

/// `CreateRandomEndSessionState`: `generateVSChar(50, 10, 30)` — 50 letters, 10 digits
/// and 30 punctuation characters of VSCHAR — with `+`, space and `;` made `~` (the
/// suite's own URL encoding mishandles them).
pub(crate) fn end_session_state() -> String {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const PUNCT: &[u8] = b"!\"#$%&'()*,-./:<=>?@[\\]^_`{|}~~~~";
    format!(
        "{}{}{}",
        pick(LETTERS, 50),
        pick(b"0123456789", 10),
        pick(PUNCT, 30)
    )
}

/// `CreateEndSessionEndpointRequest`: the ID token of the first authorization, the
/// registered `post_logout_redirect_uri` and a fresh `state`, in that order.
pub(crate) fn end_session_request(rp: &Rp) -> Vec<(&'static str, String)> {
    vec![
        ("id_token_hint", rp.flow.id_token.clone()),
        ("post_logout_redirect_uri", POST_LOGOUT.to_owned()),
        ("state", end_session_state()),
    ]
}

fn without(mut params: Vec<(&'static str, String)>, name: &str) -> Vec<(&'static str, String)> {
    params.retain(|(k, _)| *k != name);
    params
}

fn with(
    mut params: Vec<(&'static str, String)>,
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    match params.iter_mut().find(|(k, _)| *k == name) {
        Some(p) => p.1 = value.to_owned(),
        None => params.push((name, value.to_owned())),
    }
    params
}

pub(crate) fn get<'a>(params: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
}

/// `BuildRedirectToEndSessionEndpoint` and the browser following it: a GET of the
/// discovered `end_session_endpoint` with the parameters in its query.
pub(crate) async fn go_to_end_session(rp: &Rp, params: &[(&'static str, String)]) -> Page {
    let url = Url::parse_with_params(&rp.op.endpoint("end_session_endpoint"), params).unwrap();
    rp.browser.get(url.as_str()).await
}

/// The person answers Valet's confirmation page "Sign out": a 200 page, not a redirect,
/// whose form posts back to the logout endpoint.
pub(crate) async fn confirm(rp: &Rp, page: &Page) -> Page {
    assert_eq!(page.status, 200, "the confirmation page: {}", page.body);
    assert!(page.location().is_none());
    assert!(
        page.body.contains("action=\"/oauth2/logout\""),
        "{}",
        page.body
    );
    let csrf = page.field("csrf").expect("a csrf field");
    let interaction = page.field("interaction").expect("an interaction field");
    rp.browser
        .post_form(
            &rp.op.app.url("/oauth2/logout"),
            &[("csrf", &csrf), ("interaction", &interaction)],
        )
        .await
}

/// The redirect to the post-logout redirect URI: exactly the registered URI, `state` as
/// sent or absent if none was (`CheckPostLogoutState`, `CheckNoPostLogoutState`), and no
/// other parameter (`CheckForUnexpectedParametersInPostLogoutRedirect`, a WARNING in the
/// suite).
pub(crate) fn check_post_logout_redirect(p: &Page, state: Option<&str>) {
    assert_eq!(p.status, 303, "a redirect back to the RP: {}", p.body);
    let location = p.location().unwrap();
    let cb = callback(&location);
    assert_eq!(cb.base, POST_LOGOUT, "{location}");
    assert!(cb.fragment.is_empty(), "{location}");
    assert_eq!(cb.query.get("state").map(String::as_str), state, "state");
    for k in cb.query.keys() {
        assert_eq!(k, "state", "unexpected parameter {k} in {location}");
    }
}

/// `ExpectSuccessfulLogoutPage`: the signed-out page, no redirect.
fn check_signed_out_page(p: &Page) {
    assert_eq!(p.status, 200, "{:?}", p.location());
    assert!(p.location().is_none(), "no redirect back to the RP");
    assert!(p.body.contains("You are signed out"), "{}", p.body);
}

/// The second authorization, with `prompt=none` (`AddPromptNoneToAuthorizationEndpoint
/// Request`): an error that needs a user interface, through the generic error-response
/// checks, the 128-character `state` intact.
pub(crate) async fn check_signed_out(rp: &Rp) {
    let state = random(128);
    let req = AuthRequest::code(&rp.client.id, SCOPE)
        .set("state", &state)
        .set("prompt", "none");
    let p = rp.browser.get(&req.url(&rp.op)).await;
    assert_eq!(p.status, 303, "never a page under prompt=none: {}", p.body);
    let e = check_error_response(
        &rp.op,
        &p.location().unwrap(),
        REDIRECT,
        Some(&state),
        NEEDS_UI,
    );
    assert_eq!(
        e["error"], "login_required",
        "signed out, not merely unconsented"
    );
}

/// Not a module's check: after a refusal the user is still signed in, as the error page
/// says (`prompt=none` answers with a code).
pub(crate) async fn check_still_signed_in(rp: &Rp) {
    let req = AuthRequest::code(&rp.client.id, SCOPE).set("prompt", "none");
    let p = rp.browser.get(&req.url(&rp.op)).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(
        callback(&p.location().unwrap()).query.contains_key("code"),
        "still signed in: {:?}",
        p.location()
    );
}

/// The modules that must end at an error page (or at a confirmation that then does not
/// redirect): `mentions` is what the page names as wrong.
async fn refused(params: impl FnOnce(&Rp) -> Vec<(&'static str, String)>, mentions: &str) {
    let rp = signed_in().await;
    let params = params(&rp);
    let p = go_to_end_session(&rp, &params).await;
    check_error_page(&p, mentions);
    if let Some(uri) = get(&params, "post_logout_redirect_uri") {
        assert!(!p.body.contains(uri), "the refused URI is not linked");
    }
    check_still_signed_in(&rp).await;
}

// ================= RP-Initiated Logout OP plan =================

/// `oidcc-rp-initiated-logout-discovery-endpoint-verification`: discovery has an
/// `end_session_endpoint`, a valid https URL (`CheckDiscEndSessionEndpoint`, RP-Initiated
/// Logout §2.1), and every `*_endpoint` member is https (`CheckDiscEndpointAllEndpoints
/// AreHttps`).
#[tokio::test]
async fn oidcc_rp_initiated_logout_discovery_endpoint_verification() {
    let (op, _) = op().await;
    let end_session = op.meta["end_session_endpoint"]
        .as_str()
        .expect("end_session_endpoint");
    assert!(is_https_url(end_session), "{end_session}");
    check_endpoints_https(&op);
}

/// `CheckDiscEndpointAllEndpointsAreHttps`: every member named `*_endpoint`.
pub(crate) fn check_endpoints_https(op: &Op) {
    let endpoints: Vec<(&String, &serde_json::Value)> = op
        .meta
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.ends_with("_endpoint"))
        .collect();
    assert!(endpoints.len() >= 4, "{endpoints:?}");
    for (k, v) in endpoints {
        let url = v.as_str().unwrap_or_else(|| panic!("{k} is a string"));
        assert!(is_https_url(url), "{k} must use https: {url}");
    }
}

/// `oidcc-rp-initiated-logout`: the full request; after the confirmation the browser is
/// sent to the `post_logout_redirect_uri` with the `state` as sent (and nothing else), and
/// a `prompt=none` request afterwards fails (`login_required`).
#[tokio::test]
async fn oidcc_rp_initiated_logout() {
    let rp = signed_in().await;
    let params = end_session_request(&rp);
    let page = go_to_end_session(&rp, &params).await;
    assert!(page.body.contains("Conformance"), "names the application");
    let done = confirm(&rp, &page).await;
    check_post_logout_redirect(&done, get(&params, "state"));
    check_signed_out(&rp).await;
}

/// `oidcc-rp-initiated-logout-bad-post-logout-redirect-uri`: a `post_logout_redirect_uri`
/// that was never registered (the suite's base URL + `/bad_post_logout_redirect_uri`)
/// must not be redirected to (§3): an error page saying it is not registered.
#[tokio::test]
async fn oidcc_rp_initiated_logout_bad_post_logout_redirect_uri() {
    refused(
        |rp| {
            with(
                end_session_request(rp),
                "post_logout_redirect_uri",
                "https://app.example/bad_post_logout_redirect_uri",
            )
        },
        "not registered",
    )
    .await;
}

/// `oidcc-rp-initiated-logout-modified-id-token-hint`: the ID token's header replaced by
/// `{"alg": "none"}` and its signature dropped (`ChangeIdTokenToAlgNone`): Valet must not
/// take it as its own (§2: the OP MUST validate it was the issuer) and so not redirect: an
/// error page about the `id_token_hint`.
#[tokio::test]
async fn oidcc_rp_initiated_logout_modified_id_token_hint() {
    use base64::Engine;
    let none = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg": "none"}"#);
    refused(
        |rp| {
            let payload = rp.flow.id_token.split('.').nth(1).unwrap();
            with(
                end_session_request(rp),
                "id_token_hint",
                &format!("{none}.{payload}."),
            )
        },
        "id_token_hint",
    )
    .await;
}

/// `oidcc-rp-initiated-logout-no-id-token-hint`: a `post_logout_redirect_uri` (and
/// `state`) without `id_token_hint` or `client_id`: nothing says which RP registered the
/// URI, so no redirect (§3): an error page saying the `id_token_hint` is missing
/// (`ExpectIdTokenHintRequiredErrorPage`).
#[tokio::test]
async fn oidcc_rp_initiated_logout_no_id_token_hint() {
    refused(
        |rp| without(end_session_request(rp), "id_token_hint"),
        "needs an id_token_hint",
    )
    .await;
}

/// `oidcc-rp-initiated-logout-no-params`: no parameters at all: the OP must log the
/// user out and show that it did, with no redirect.
#[tokio::test]
async fn oidcc_rp_initiated_logout_no_params() {
    let rp = signed_in().await;
    let page = go_to_end_session(&rp, &[]).await;
    check_signed_out_page(&confirm(&rp, &page).await);
    check_signed_out(&rp).await;
}

/// `oidcc-rp-initiated-logout-no-post-logout-redirect-uri`: `id_token_hint` and `state`
/// only: logged out, the signed-out page, no redirect.
#[tokio::test]
async fn oidcc_rp_initiated_logout_no_post_logout_redirect_uri() {
    let rp = signed_in().await;
    let params = without(end_session_request(&rp), "post_logout_redirect_uri");
    let page = go_to_end_session(&rp, &params).await;
    assert!(
        page.body.contains("Conformance"),
        "the hint names the application"
    );
    check_signed_out_page(&confirm(&rp, &page).await);
    check_signed_out(&rp).await;
}

/// `oidcc-rp-initiated-logout-no-state`: no `state`: redirected to the
/// `post_logout_redirect_uri` without one (`CheckNoPostLogoutState`), then `prompt=none`
/// fails.
#[tokio::test]
async fn oidcc_rp_initiated_logout_no_state() {
    let rp = signed_in().await;
    let params = without(end_session_request(&rp), "state");
    let page = go_to_end_session(&rp, &params).await;
    check_post_logout_redirect(&confirm(&rp, &page).await, None);
    check_signed_out(&rp).await;
}

/// `oidcc-rp-initiated-logout-only-state`: `state` alone: logged out, the signed-out
/// page, no redirect (there is nowhere to send it).
#[tokio::test]
async fn oidcc_rp_initiated_logout_only_state() {
    let rp = signed_in().await;
    let params = without(
        without(end_session_request(&rp), "id_token_hint"),
        "post_logout_redirect_uri",
    );
    let page = go_to_end_session(&rp, &params).await;
    check_signed_out_page(&confirm(&rp, &page).await);
    check_signed_out(&rp).await;
}

/// `oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri`: the registered
/// URI with `?foo=bar` added is not the registered URI (§3: "exactly match"): an error
/// page, no redirect.
#[tokio::test]
async fn oidcc_rp_initiated_logout_query_added_to_post_logout_redirect_uri() {
    refused(
        |rp| {
            with(
                end_session_request(rp),
                "post_logout_redirect_uri",
                &format!("{POST_LOGOUT}?foo=bar"),
            )
        },
        "not registered",
    )
    .await;
}

/// `oidcc-rp-initiated-logout-bad-id-token-hint`: an `id_token_hint` the suite signed
/// itself (`GenerateFakeIdTokenClaims`, `SignFakeIdToken`: HS256 under the client secret
/// as a key, `iss` the client and `aud` the issuer, no `kid`): not Valet's, so an error
/// page and no redirect.
#[tokio::test]
async fn oidcc_rp_initiated_logout_bad_id_token_hint() {
    refused(
        |rp| {
            let now = rp.op.app.now();
            let claims = serde_json::json!({
                "iss": rp.client.id, "sub": "SubjectID", "aud": rp.op.issuer(),
                "nonce": "flibble", "iat": now, "exp": now + 300,
            });
            // GenerateJWKsFromClientSecret: the secret's bytes, at least 32 for HS256.
            assert!(rp.client.secret.len() >= 32);
            let fake = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(rp.client.secret.as_bytes()),
            )
            .unwrap();
            with(end_session_request(rp), "id_token_hint", &fake)
        },
        "id_token_hint",
    )
    .await;
}
