//! OpenID Connect RP-Initiated Logout 1.0 rules that no module of the suite's plan
//! exercises (`conformance_logout.rs` ports the plan), tested the same way and on the same
//! helpers: §2's POST (cross-site, so without the session cookie), `client_id`, `ui_locales` and `logout_hint`, an expired
//! `id_token_hint`, and a `state` of every VSCHAR (the suite leaves out `+`, space and `;`
//! for its own URL encoding's sake).

use reqwest::Url;

use crate::conformance::check_error_page;
use crate::conformance::op;
use crate::conformance_logout::{
    POST_LOGOUT, Rp, check_post_logout_redirect, check_signed_out, check_still_signed_in, confirm,
    end_session_request, first_authorization, get, go_to_end_session, register,
};
use crate::flow::Page;

async fn signed_in() -> Rp {
    let (op, _) = op().await;
    let client = register(&op, None).await;
    first_authorization(op, client).await
}

/// The confirmation answered, then the redirect back with `state`, then signed out.
async fn logs_out_and_returns(rp: &Rp, page: &Page, state: Option<&str>) {
    check_post_logout_redirect(&confirm(rp, page).await, state);
    check_signed_out(rp).await;
}

/// §2: "The OP MUST support the use of the HTTP GET and POST methods", POST with the
/// parameters as a form. Sent from the application's own page the POST is cross-site, and
/// a browser leaves out the `SameSite=Lax` session cookie (the node's plain client plays
/// that browser here: it has no cookies). Going straight on would send the user back
/// still signed in, so Valet sends the same request on as a GET, which does carry the
/// cookie (the test's browser follows it with its cookies): the confirmation, then the
/// redirect with `state`. Once signed out, the same POST ends at the redirect at once.
#[tokio::test]
async fn the_logout_request_may_be_a_cross_site_form_post() {
    let rp = signed_in().await;
    let params = end_session_request(&rp);
    let state = get(&params, "state");
    let post = || async {
        let r = rp
            .op
            .app
            .http
            .post(rp.op.endpoint("end_session_endpoint"))
            .form(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{:?}", r.text().await);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("/oauth2/logout?"), "{location}");
        rp.browser.get(&rp.op.app.url(&location)).await
    };
    let page = post().await;
    logs_out_and_returns(&rp, &page, state).await;
    check_post_logout_redirect(&post().await, state);
}

/// §2 `client_id`: "the most common use case ... when post_logout_redirect_uri is used
/// but id_token_hint is not". It names the application whose registered URI it is, so
/// the redirect is earned (§3: the OP has other means of confirming the target).
#[tokio::test]
async fn a_client_id_instead_of_the_hint_earns_the_redirect() {
    let rp = signed_in().await;
    let mut params = end_session_request(&rp);
    params.retain(|(k, _)| *k != "id_token_hint");
    params.push(("client_id", rp.client.id.clone()));
    let page = go_to_end_session(&rp, &params).await;
    assert!(page.body.contains("Conformance"), "names the application");
    logs_out_and_returns(&rp, &page, get(&params, "state")).await;
}

/// §2 `client_id`: "When both client_id and id_token_hint are present, the OP MUST verify
/// that the Client Identifier matches the one used when issuing the ID Token." Another
/// registered application's id, or an unknown one, is refused by name.
#[tokio::test]
async fn a_client_id_must_match_the_hint_and_be_registered() {
    let rp = signed_in().await;
    let other = register(&rp.op, None).await;
    let mut params = end_session_request(&rp);
    params.push(("client_id", other.id.clone()));
    let p = go_to_end_session(&rp, &params).await;
    check_error_page(&p, "The client_id does not match the id_token_hint");

    params.retain(|(k, _)| *k != "id_token_hint" && *k != "client_id");
    params.push(("client_id", "no-such-client".into()));
    let p = go_to_end_session(&rp, &params).await;
    check_error_page(&p, "The client_id is not a registered application");
    check_still_signed_in(&rp).await;
}

/// §2 `ui_locales`: "An error SHOULD NOT result if some or all of the requested locales
/// are not supported by the OP"; `logout_hint` is OPTIONAL and, like it, may be ignored.
#[tokio::test]
async fn ui_locales_and_logout_hint_cause_no_error() {
    let rp = signed_in().await;
    let mut params = end_session_request(&rp);
    params.push(("ui_locales", "tlh fr-CA fr en".into()));
    params.push(("logout_hint", "alice".into()));
    let page = go_to_end_session(&rp, &params).await;
    logs_out_and_returns(&rp, &page, get(&params, "state")).await;
}

/// §2: the OP "SHOULD accept ID Tokens when the RP identified by the ID Token's audience
/// claims and/or sid claim has a current session ... even when the exp time has passed".
/// The node's clock moves past the hint's `exp`; the session is still live.
#[tokio::test]
async fn an_expired_id_token_hint_still_identifies_the_application() {
    let rp = signed_in().await;
    let exp = rp.flow.id["exp"].as_i64().unwrap();
    rp.op.app.clock.advance(exp - rp.op.app.now() + 60);
    let params = end_session_request(&rp);
    let page = go_to_end_session(&rp, &params).await;
    logs_out_and_returns(&rp, &page, get(&params, "state")).await;
}

/// §2 `state` is opaque: every VSCHAR (%x20-7E) comes back as sent, `+`, space, `;`, `&`,
/// `=`, `#` and `%` included.
#[tokio::test]
async fn the_state_comes_back_byte_for_byte() {
    let rp = signed_in().await;
    let state: String = (0x20u8..=0x7e).map(char::from).collect();
    let mut params = end_session_request(&rp);
    params.retain(|(k, _)| *k != "state");
    params.push(("state", state.clone()));
    let page = go_to_end_session(&rp, &params).await;
    let done = confirm(&rp, &page).await;
    check_post_logout_redirect(&done, Some(&state));
    // The URL is well formed: nothing of the state leaks into the path or a fragment.
    let location = Url::parse(&done.location().unwrap()).unwrap();
    assert_eq!(location.fragment(), None);
    assert_eq!(location.path(), Url::parse(POST_LOGOUT).unwrap().path());
}
