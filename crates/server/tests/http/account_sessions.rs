//! The account page's sessions (issue 16): every browser signed in, listed with its
//! device, address and last use; one ended from another; "Sign out everywhere".

use oauth2::reqwest;
use serde_json::Value;
use std::net::SocketAddr;

use crate::flow::{Browser, Page};
use crate::harness::{TestApp, spawn_app};

pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
pub const CHROME_ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                                  (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";

/// A browser that says it is `user_agent`.
pub fn browser_as(app: &TestApp, user_agent: &str) -> Browser {
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(app.cert_pem.as_bytes()).unwrap())
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], app.port)))
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .user_agent(user_agent)
        .build()
        .unwrap();
    Browser { http }
}

/// Signs `username` in with a new browser through the code flow of `client` and returns
/// the browser and the token response.
pub async fn signed_in(
    app: &TestApp,
    (id, secret): (&str, &str),
    username: &str,
    user_agent: &str,
    scope: &str,
) -> (Browser, Value) {
    let b = browser_as(app, user_agent);
    let url = app.authorize_url(id, "").replace(
        "scope=openid+profile+email",
        &format!("scope={}", scope.replace(' ', "+")),
    );
    let location = b.sign_in(app, &url, username).await;
    let r = app.redeem(id, secret, &location).await;
    assert_eq!(r.status(), 200);
    (b, r.json().await.unwrap())
}

pub async fn active(app: &TestApp, (id, secret): (&str, &str), token: &Value) -> bool {
    let t = token["access_token"].as_str().unwrap();
    app.introspect(id, secret, t).await["active"] == true
}

async fn account(app: &TestApp, b: &Browser) -> Page {
    b.get(&app.url("/account")).await
}

async fn signed_out(app: &TestApp, b: &Browser) -> bool {
    let p = account(app, b).await;
    p.status == 303 && p.location().unwrap().contains("/login")
}

/// The handles of the sign-out forms on an account page, in order.
fn handles(page: &Page) -> Vec<String> {
    page.body
        .split("name=\"session\" value=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_browser_is_listed_and_one_signs_another_out() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let c = (id.as_str(), secret.as_str());
    let (laptop, laptop_tokens) = signed_in(&app, c, "alice", FIREFOX, "openid profile").await;
    let (phone, phone_tokens) = signed_in(&app, c, "alice", CHROME_ANDROID, "openid").await;

    let page = account(&app, &laptop).await;
    assert_eq!(page.status, 200);
    for words in [
        "Firefox on Linux",
        "Chrome on Android",
        "This browser",
        "127.0.0.1",
        "Last used",
        "Sign out everywhere",
    ] {
        assert!(page.body.contains(words), "{words} missing");
    }
    // This browser is first and has no form of its own: one handle, the phone's.
    assert!(page.body.find("Firefox on Linux") < page.body.find("Chrome on Android"));
    let h = handles(&page);
    assert_eq!(h.len(), 1);
    // Not the session's id nor its hash (nor their base64url) goes into the page.
    let sub = app
        .store
        .user_by_username("alice")
        .await
        .unwrap()
        .unwrap()
        .id;
    for s in app.store.sessions_of_user(&sub, app.now()).await.unwrap() {
        let hash = s.id_hash.as_bytes();
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash);
        assert!(!page.body.contains(&hex) && !page.body.contains(&b64));
    }

    let ended = laptop
        .post_form(
            &app.url("/account/sessions/end"),
            &[("csrf", &page.field("csrf").unwrap()), ("session", &h[0])],
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert!(ended.body.contains("Signed out of Chrome on Android"));
    assert!(!ended.body.contains("name=\"session\""));
    // The phone's cookie is dead and so is its grant; the laptop keeps both.
    assert!(signed_out(&app, &phone).await);
    assert!(!active(&app, c, &phone_tokens).await);
    assert!(active(&app, c, &laptop_tokens).await);
    assert_eq!(account(&app, &laptop).await.status, 200);
}

#[tokio::test]
async fn only_ones_own_sessions_can_be_ended() {
    let app = spawn_app().await;
    app.user("alice").await;
    app.user("bob").await;
    let (id, secret) = app.web_client().await;
    let c = (id.as_str(), secret.as_str());
    let (alice, _) = signed_in(&app, c, "alice", FIREFOX, "openid").await;
    let (bob_laptop, _) = signed_in(&app, c, "bob", FIREFOX, "openid").await;
    let (bob_phone, _) = signed_in(&app, c, "bob", CHROME_ANDROID, "openid").await;
    let bobs = account(&app, &bob_laptop).await;
    let bob_phone_handle = &handles(&bobs)[0];

    let page = account(&app, &alice).await;
    let csrf = page.field("csrf").unwrap();
    for forged in [bob_phone_handle.as_str(), "", "AAAAAAAAAAAAAAAAAAAAAA"] {
        let r = alice
            .post_form(
                &app.url("/account/sessions/end"),
                &[("csrf", &csrf), ("session", forged)],
            )
            .await;
        assert_eq!(r.status, 400, "{forged}");
    }
    assert!(!signed_out(&app, &bob_phone).await);
    // Bob's own handle, without the CSRF token of his page, ends nothing either.
    let r = bob_laptop
        .post_form(
            &app.url("/account/sessions/end"),
            &[("csrf", &csrf), ("session", bob_phone_handle)],
        )
        .await;
    assert_ne!(r.status, 200);
    assert!(!signed_out(&app, &bob_phone).await);
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_session() {
    let app = spawn_app().await;
    app.user("alice").await;
    app.user("bob").await;
    let (id, secret) = app.web_client().await;
    let c = (id.as_str(), secret.as_str());
    let (laptop, laptop_tokens) = signed_in(&app, c, "alice", FIREFOX, "openid").await;
    let (phone, phone_tokens) = signed_in(&app, c, "alice", CHROME_ANDROID, "openid").await;
    let (offline, offline_tokens) =
        signed_in(&app, c, "alice", FIREFOX, "openid offline_access").await;
    let (bob, bob_tokens) = signed_in(&app, c, "bob", FIREFOX, "openid").await;

    // Without the page's CSRF token nothing ends.
    let r = laptop
        .post_form(&app.url("/account/sessions/end-all"), &[("csrf", "forged")])
        .await;
    assert_ne!(r.status, 200);
    assert!(!signed_out(&app, &phone).await);
    let page = account(&app, &laptop).await;
    let r = laptop
        .post_form(
            &app.url("/account/sessions/end-all"),
            &[("csrf", &page.field("csrf").unwrap())],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("signed out everywhere"), "{}", r.body);
    assert!(
        r.headers
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap().contains("Max-Age=0"))
    );
    for b in [&laptop, &phone, &offline] {
        assert!(signed_out(&app, b).await);
    }
    assert!(!active(&app, c, &laptop_tokens).await);
    assert!(!active(&app, c, &phone_tokens).await);
    // As any logout: a grant with offline_access outlives its session.
    assert!(active(&app, c, &offline_tokens).await);
    assert!(!signed_out(&app, &bob).await);
    assert!(active(&app, c, &bob_tokens).await);
}

#[tokio::test]
async fn last_use_is_written_at_most_every_five_minutes() {
    let app = spawn_app().await;
    let sub = app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let (b, _) = signed_in(&app, (&id, &secret), "alice", FIREFOX, "openid").await;
    let t0 = app.now();
    let last_used =
        || async { app.store.sessions_of_user(&sub, app.now()).await.unwrap()[0].last_used_at };
    assert_eq!(last_used().await, t0);
    app.clock.advance(299);
    assert_eq!(account(&app, &b).await.status, 200);
    assert_eq!(last_used().await, t0, "too soon to write");
    app.clock.advance(1);
    assert_eq!(account(&app, &b).await.status, 200);
    assert_eq!(last_used().await, t0 + 300);
    app.clock.advance(200);
    assert_eq!(account(&app, &b).await.status, 200);
    assert_eq!(last_used().await, t0 + 300);
    // What the user reads.
    let s = app.store.sessions_of_user(&sub, app.now()).await.unwrap();
    assert_eq!(s[0].address.as_deref(), Some("127.0.0.1"));
    assert_eq!(s[0].user_agent.as_deref(), Some(FIREFOX));
}
