//! Client ID Metadata Documents (issue 14; draft-ietf-oauth-client-id-metadata-document):
//! a real HTTPS server on loopback, with a CA made for the run, serves the documents; Valet
//! runs with `dev_allow_loopback_metadata` and trusts that CA (`metadata_ca_file`, as
//! `SSL_CERT_FILE` would in a deployment). The server counts the requests it gets, so the
//! cache is observed from outside; expiry is the `ManualClock`'s.

use oauth2::PkceCodeChallenge;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::flow::{PASSWORD, REDIRECT, param};
use crate::harness::{TestApp, spawn_with};
use crate::outside::Outside as Docs;

/// The metadata documents the outside server serves.
trait Documents {
    fn document(&self, path: &str, extra: Value) -> String;
    fn serve(&self, path: &str, extra: Value, cache_control: &str);
}

impl Documents for Docs {
    /// A good document for `path`, with `extra` members laid over it.
    fn document(&self, path: &str, extra: Value) -> String {
        let mut doc = json!({
            "client_id": self.url(path),
            "client_name": "Test Agent",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        });
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        doc.to_string()
    }

    fn serve(&self, path: &str, extra: Value, cache_control: &str) {
        let body = self.document(path, extra);
        self.set(
            path,
            200,
            &[
                ("content-type", "application/json"),
                ("cache-control", cache_control),
            ],
            body,
        );
    }
}

async fn valet(docs: &Docs, dev_loopback: bool) -> TestApp {
    let ca = docs.ca_file.clone();
    spawn_with(move |p| valet_server::config::Partial {
        dev_allow_loopback_metadata: Some(dev_loopback),
        metadata_ca_file: Some(ca),
        ..p
    })
    .await
}

fn authorize_url(app: &TestApp, client_id: &str, challenge: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    app.url(&format!(
        "/oauth2/authorize?client_id={}&redirect_uri={}&response_type=code\
         &scope=openid+profile&state=st1&code_challenge={challenge}\
         &code_challenge_method=S256",
        enc(client_id),
        enc(REDIRECT),
    ))
}

/// The authorization endpoint's answer to a request of `client_id`, in a fresh browser.
async fn authorize(app: &TestApp, client_id: &str) -> crate::flow::Page {
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    app.browser()
        .get(&authorize_url(app, client_id, challenge.as_str()))
        .await
}

/// An error page, never a redirect (checklist A1-A7), saying `why`.
fn assert_refused(p: &crate::flow::Page, why: &str) {
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.location().is_none());
    let text = crate::flow::unescape(&p.body);
    assert!(text.contains(why), "`{why}` not in {text}");
}

async fn token(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url("/oauth2/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_metadata_document_client_signs_in_redeems_and_refreshes() {
    let docs = Docs::start().await;
    docs.serve("/agent.json", json!({}), "max-age=600");
    let app = valet(&docs, true).await;
    let meta: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["client_id_metadata_document_supported"], true);

    app.user("alice").await;
    let client_id = docs.url("/agent.json");
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let browser = app.browser();
    let url = authorize_url(&app, &client_id, challenge.as_str());
    let login = browser.get(&url).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let consent = browser.login(&app, &login, "alice", PASSWORD).await;
    // Never trusted: the user is asked.
    assert!(consent.body.contains("value=\"allow\""), "{}", consent.body);
    assert!(consent.body.contains("Test Agent"));
    let done = browser.consent(&app, &consent, "allow").await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.location().unwrap();
    assert!(location.starts_with(REDIRECT));
    let code = param(&location, "code").unwrap();

    let r = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", verifier.secret()),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let jwt = tokens["access_token"].as_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["client_id"], client_id);
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let r = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert!(again["access_token"].is_string());
    // One fetch served the whole flow: the document was cached for its max-age.
    assert_eq!(docs.hits("/agent.json"), 1);
}

#[tokio::test]
async fn documents_that_cannot_be_used_are_error_pages() {
    let docs = Docs::start().await;
    let app = valet(&docs, true).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/mismatch.json",
            json!({"client_id": docs.url("/other.json")}),
            "not exactly the URL",
        ),
        (
            "/secret.json",
            json!({"token_endpoint_auth_method": "client_secret_basic"}),
            "shared secret",
        ),
        (
            "/has-secret.json",
            json!({"client_secret": "hunter2"}),
            "client_secret",
        ),
        (
            "/other-redirect.json",
            json!({"redirect_uris": ["https://elsewhere.example/cb"]}),
            "redirect_uri is not registered",
        ),
    ];
    for (path, extra, why) in cases {
        docs.serve(path, extra, "max-age=600");
        assert_refused(&authorize(&app, &docs.url(path)).await, why);
    }
    docs.set(
        "/moved.json",
        302,
        &[("location", &docs.url("/agent.json"))],
        String::new(),
    );
    assert_refused(
        &authorize(&app, &docs.url("/moved.json")).await,
        "redirects are not followed",
    );
    docs.set(
        "/big.json",
        200,
        &[("content-type", "application/json")],
        format!("{{\"pad\":\"{}\"}}", "x".repeat(6000)),
    );
    assert_refused(
        &authorize(&app, &docs.url("/big.json")).await,
        "larger than 5120",
    );
    let doc = docs.document("/html.json", json!({}));
    docs.set("/html.json", 200, &[("content-type", "text/html")], doc);
    assert_refused(
        &authorize(&app, &docs.url("/html.json")).await,
        "not application/json",
    );
    // A URL that breaks the draft's rules is refused before anything is fetched.
    assert_refused(
        &authorize(&app, &format!("{}?v=1", docs.url("/q.json"))).await,
        "query",
    );
    assert_eq!(docs.hits("/q.json"), 0);
    // The secret of a refused document never reaches a response.
    let p = authorize(&app, &docs.url("/has-secret.json")).await;
    assert!(!p.body.contains("hunter2"));
}

#[tokio::test]
async fn a_404_is_not_cached_and_a_fixed_document_then_works() {
    let docs = Docs::start().await;
    let app = valet(&docs, true).await;
    let id = docs.url("/later.json");
    assert_refused(&authorize(&app, &id).await, "404");
    docs.serve("/later.json", json!({}), "max-age=600");
    let p = authorize(&app, &id).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(docs.hits("/later.json"), 2);
}

#[tokio::test]
async fn documents_are_cached_for_their_max_age_and_never_when_no_store() {
    let docs = Docs::start().await;
    let app = valet(&docs, true).await;
    docs.serve("/cached.json", json!({}), "public, max-age=120");
    let id = docs.url("/cached.json");
    assert_eq!(authorize(&app, &id).await.status, 200);
    assert_eq!(authorize(&app, &id).await.status, 200);
    assert_eq!(
        docs.hits("/cached.json"),
        1,
        "the second lookup is the cache's"
    );
    app.clock.advance(119);
    assert_eq!(authorize(&app, &id).await.status, 200);
    assert_eq!(docs.hits("/cached.json"), 1);
    app.clock.advance(2);
    assert_eq!(authorize(&app, &id).await.status, 200);
    assert_eq!(docs.hits("/cached.json"), 2, "refetched after max-age");

    docs.serve("/fresh.json", json!({}), "no-store");
    let id = docs.url("/fresh.json");
    assert_eq!(authorize(&app, &id).await.status, 200);
    assert_eq!(authorize(&app, &id).await.status, 200);
    assert_eq!(docs.hits("/fresh.json"), 2);
}

#[tokio::test]
async fn a_server_that_never_answers_is_given_up_on() {
    let docs = Docs::start().await;
    let app = valet(&docs, true).await;
    // Accepts connections and says nothing, not even TLS.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let started = Instant::now();
    let p = authorize(&app, &format!("https://localhost:{port}/slow.json")).await;
    assert_refused(&p, "did not arrive within 5 s");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn without_the_dev_flag_loopback_is_refused() {
    let docs = Docs::start().await;
    docs.serve("/agent.json", json!({}), "max-age=600");
    let app = valet(&docs, false).await;
    assert_refused(
        &authorize(&app, &docs.url("/agent.json")).await,
        "a loopback address",
    );
    let literal = format!("https://127.0.0.1:{}/agent.json", docs.port);
    assert_refused(&authorize(&app, &literal).await, "a loopback address");
    assert_eq!(docs.hits("/agent.json"), 0);
    // At the token endpoint the same client is invalid_client.
    let r = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &docs.url("/agent.json")),
        ],
    )
    .await;
    crate::harness::assert_oauth_error(r, 401, "invalid_client").await;
}

#[tokio::test]
async fn fetches_are_throttled_per_address() {
    let docs = Docs::start().await;
    let app = valet(&docs, true).await;
    docs.serve("/uncached.json", json!({}), "no-store");
    let id = docs.url("/uncached.json");
    for _ in 0..valet_server::cimd::PER_ADDRESS {
        assert_eq!(authorize(&app, &id).await.status, 200);
    }
    let p = authorize(&app, &id).await;
    assert_eq!(p.status, 429);
    assert!(p.headers.get("retry-after").is_some());
    let hits = docs.hits("/uncached.json");
    assert_eq!(hits, valet_server::cimd::PER_ADDRESS as usize);
    // The window passes on the test clock.
    app.clock.advance(valet_server::cimd::WINDOW);
    assert_eq!(authorize(&app, &id).await.status, 200);
}

#[tokio::test]
async fn an_admin_quarantine_of_a_metadata_client_holds() {
    let docs = Docs::start().await;
    docs.serve("/agent.json", json!({}), "max-age=600");
    let app = valet(&docs, true).await;
    let id = docs.url("/agent.json");
    assert_eq!(authorize(&app, &id).await.status, 200);
    let mut app_record = valet_protocol::cimd::application(
        &id,
        docs.document("/agent.json", json!({})).as_bytes(),
        &[],
    )
    .unwrap();
    app_record.registration.quarantined = true;
    app.store
        .create_client(&valet_store::ClientRecord {
            app: app_record,
            secret: None,
            previous_secret: None,
            created_at: app.now(),
            updated_at: app.now(),
        })
        .await
        .unwrap();
    assert_refused(&authorize(&app, &id).await, "quarantine");
}

#[tokio::test]
async fn rp_initiated_logout_reads_the_documents_post_logout_redirect_uris() {
    let docs = Docs::start().await;
    docs.serve(
        "/agent.json",
        json!({"post_logout_redirect_uris": ["https://app.example/bye"]}),
        "max-age=600",
    );
    let app = valet(&docs, true).await;
    let id = docs.url("/agent.json");
    let enc = |s: &str| s.replace(':', "%3A").replace('/', "%2F");
    let logout = |after: &str| {
        app.url(&format!(
            "/oauth2/logout?client_id={}&post_logout_redirect_uri={}",
            enc(&id),
            enc(after)
        ))
    };
    // No session to end: straight to the listed URI.
    let ok = app.browser().get(&logout("https://app.example/bye")).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(
        ok.location()
            .unwrap()
            .starts_with("https://app.example/bye")
    );
    let bad = app.browser().get(&logout("https://evil.example/bye")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(docs.hits("/agent.json"), 1);
}

#[tokio::test]
async fn the_admin_api_verifies_and_quarantines_a_metadata_client_by_its_url() {
    let docs = Docs::start().await;
    docs.serve("/agent.json", json!({}), "max-age=600");
    let app = valet(&docs, true).await;
    let id = docs.url("/agent.json");
    let enc = |s: &str| s.replace(':', "%3A").replace('/', "%2F");
    let (admin, secret) = app.service(&["valet:admin"]).await;
    let token = app.token(&admin, &secret).await;
    let post = |action: &str| {
        app.http
            .post(app.url(&format!("/admin/api/clients/{}/{action}", enc(&id))))
            .bearer_auth(&token)
            .send()
    };
    // No stored record: verify stores the override, without a secret.
    let r = post("verify").await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["client_id"], id.as_str());
    assert_eq!(body["registration"]["origin"], "cimd");
    assert_eq!(body["registration"]["verified"], true);
    assert!(body.get("client_secret").is_none());
    let stored = app.store.client(&id).await.unwrap().unwrap();
    assert!(stored.secret.is_none() && stored.app.redirect_uris.is_empty());
    assert_eq!(
        authorize(&app, &id).await.status,
        200,
        "the document still rules"
    );

    let r = post("quarantine").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_refused(&authorize(&app, &id).await, "quarantine");
    let r = post("approve").await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["registration"]["verified"], true, "still verified");
    assert_eq!(authorize(&app, &id).await.status, 200);
}
