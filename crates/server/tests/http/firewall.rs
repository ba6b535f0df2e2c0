//! The registration firewall on the consent page (issue 14): a self-registered
//! application is never trusted, is asked about on every authorization until an admin
//! verifies it, and the page says it is not verified and shows where it sends the user.

use valet_protocol::application::{Origin, Registration};
use valet_store::ClientRecord;

use crate::flow::REDIRECT;
use crate::harness::spawn_app;

/// A web application whose stored registration says it registered itself.
async fn self_registered(
    app: &crate::harness::TestApp,
    origin: Origin,
    trusted: bool,
) -> (String, String) {
    let (id, secret) = app.web_client().await;
    let mut record: ClientRecord = app.store.client(&id).await.unwrap().unwrap();
    record.app.registration = Registration {
        origin,
        ..Default::default()
    };
    record.app.trusted = trusted;
    record.app.website = Some("https://tools.example/about".into());
    record.app.logo_uri = Some("https://tracker.example/logo.png".into());
    assert!(app.store.update_client(&record).await.unwrap());
    (id, secret)
}

#[tokio::test]
async fn a_self_registered_application_is_asked_about_every_time_and_shown_as_unverified() {
    let app = spawn_app().await;
    app.user("alice").await;
    // Marked trusted in the store all the same: never skips consent.
    let (id, _) = self_registered(&app, Origin::Dynamic, true).await;
    let b = app.browser();
    let url = app.authorize_url(&id, "");
    let login = b.get(&url).await;
    let consent = b.login(&app, &login, "alice", crate::flow::PASSWORD).await;
    assert_eq!(consent.status, 200, "a consent page, not a redirect");
    assert!(consent.body.contains("Not verified by your administrator"));
    assert!(
        consent.body.contains("<code>app.example</code>"),
        "the redirect host: {}",
        consent.body
    );
    assert!(
        consent.body.contains("<code>tools.example</code>"),
        "its own host"
    );
    let done = b.consent(&app, &consent, "allow").await;
    assert_eq!(done.status, 303);
    assert!(done.location().unwrap().starts_with(REDIRECT));

    // The consent was given, yet the next authorization asks again.
    let again = b.get(&url).await;
    assert_eq!(again.status, 200, "asked again: {:?}", again.location());
    assert!(again.body.contains("value=\"allow\""));

    // The account page lists it as an agent, with where it is from.
    let account = b.get(&app.url("/account")).await;
    assert_eq!(account.status, 200);
    assert!(
        account
            .body
            .contains("Registered itself from <code>tools.example</code>"),
        "{}",
        account.body
    );
    assert!(account.body.contains("not verified by your administrator"));

    // Once an admin verified it, the consent given covers the next request; asked with
    // prompt=consent, the page no longer says "not verified" but still shows the hosts.
    let mut record = app.store.client(&id).await.unwrap().unwrap();
    record.app.registration.verified = true;
    assert!(app.store.update_client(&record).await.unwrap());
    let app2 = crate::harness::spawn_sharing(&app).await; // a node with a cold cache
    let b2 = app2.browser();
    let login = b2.get(&app2.authorize_url(&id, "")).await;
    let done = b2
        .login(&app2, &login, "alice", crate::flow::PASSWORD)
        .await;
    assert_eq!(done.status, 303, "a verified application's consent stands");
    let asked = b2.get(&app2.authorize_url(&id, "&prompt=consent")).await;
    assert_eq!(asked.status, 200);
    assert!(!asked.body.contains("Not verified by your administrator"));
    assert!(asked.body.contains("<code>app.example</code>"));
}

#[tokio::test]
async fn an_admin_registered_application_shows_no_firewall_notice() {
    let app = spawn_app().await;
    app.user("bob").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    let consent = b.login(&app, &login, "bob", crate::flow::PASSWORD).await;
    assert_eq!(consent.status, 200);
    assert!(!consent.body.contains("Not verified"));
    assert!(!consent.body.contains("Sends you back to"));
}

/// A dynamically registered agent, from registration to `/account`: listed as an agent,
/// from where its redirect URI goes, with the day it last got tokens.
#[tokio::test]
async fn the_account_page_shows_when_an_agent_last_got_tokens() {
    let app = spawn_app().await;
    app.user("carol").await;
    let reg = app.registered(&crate::registration::mcp_body(), None).await;
    let id = reg["client_id"].as_str().unwrap();
    // The README walkthrough's verifier and its S256 challenge.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let url = app.url(&format!(
        "/oauth2/authorize?client_id={id}&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback\
         &response_type=code&scope=openid&state=s1\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    ));
    let b = app.browser();
    let login = b.get(&url).await;
    let consent = b.login(&app, &login, "carol", crate::flow::PASSWORD).await;
    assert!(consent.body.contains("Not verified by your administrator"));
    assert!(consent.body.contains("<code>localhost</code>"));
    let done = b.consent(&app, &consent, "allow").await;
    let code = crate::flow::param(&done.location().unwrap(), "code").unwrap();
    let account = b.get(&app.url("/account")).await;
    assert!(
        account
            .body
            .contains("Registered itself from <code>localhost</code>")
    );
    assert!(!account.body.contains("last used"), "no tokens yet");
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://localhost:3000/callback"),
            ("client_id", id),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let account = b.get(&app.url("/account")).await;
    let day = {
        let t = app.now();
        let stored = app.store.registration(id).await.unwrap().unwrap();
        assert_eq!(stored.last_used_at, Some(t), "recorded by the issuance");
        account
            .body
            .split("last used ")
            .nth(1)
            .map(|s| s[..10].to_owned())
    };
    assert!(
        day.is_some_and(|d| d.len() == 10 && d.as_bytes()[4] == b'-'),
        "{}",
        account.body
    );
}

/// A browser-based agent reads discovery and registers before any application of its
/// origin exists; once registered, its origin may call the token endpoint.
#[tokio::test]
async fn a_browser_agent_may_discover_and_register_from_any_origin() {
    let app = spawn_app().await;
    let origin = "http://localhost:6274";
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/oauth2/jwks",
    ] {
        let r = app
            .http
            .get(app.url(path))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["access-control-allow-origin"], origin, "{path}");
        assert!(
            r.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
    }
    let pre = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/oauth2/register"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], origin);
    // The token endpoint answers only registered origins: not yet this one.
    let token_pre = |o: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/oauth2/token"))
            .header("origin", o)
            .header("access-control-request-method", "POST")
            .send()
    };
    let before = token_pre(origin).await.unwrap();
    assert!(
        before
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let mut body = crate::registration::mcp_body();
    body["redirect_uris"] = serde_json::json!(["http://localhost:6274/oauth/callback"]);
    let r = app
        .http
        .post(app.url("/oauth2/register"))
        .header("origin", origin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["access-control-allow-origin"], origin);
    let after = token_pre(origin).await.unwrap();
    assert_eq!(
        after.headers()["access-control-allow-origin"],
        origin,
        "its redirect origin, at once on this node"
    );
    // The pages stay out of CORS (checklist A11).
    let login = app
        .http
        .get(app.url("/login"))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert!(login.headers().get("access-control-allow-origin").is_none());
}
