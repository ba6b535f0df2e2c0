//! Signing in with an upstream identity provider (issue 18), against a provider of the
//! test's own (`upstream_idp.rs`): just-in-time users named `<id>:<sub>`, every relying
//! party check refused (wrong `iss` / `aud`, bad signature, missing or other `nonce`,
//! expired, RFC 9207 `iss`), a replayed `state`, an unverified address trying to take
//! over an account, linking and unlinking on /account, home-realm discovery, an outage
//! (503, password sign-in unaffected), a discovery document naming another issuer, and
//! the plain OAuth 2.0 (GitHub-shaped) mode.

use crate::flow::{Browser, PASSWORD, Page, param};
use crate::harness::{TestApp, spawn_with};
use crate::upstream_idp::{Behaviour, Idp, Nonce, ResponseIss};
use oauth2::reqwest;
use valet_server::upstream::config::UpstreamConfig;

async fn app_with(tables: Vec<UpstreamConfig>) -> TestApp {
    app_on(tables, None).await
}

/// On SQLite, or on the PostgreSQL database `database` names.
async fn app_on(tables: Vec<UpstreamConfig>, database: Option<String>) -> TestApp {
    spawn_with(move |mut p| {
        p.upstreams = Some(tables);
        if database.is_some() {
            p.database = database;
        }
        p
    })
    .await
}

/// A plain client for the provider's own pages (no cookies of Valet's).
fn outside() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The login page's "Continue with" form of `id`, submitted: the redirect to the provider.
async fn continue_with(app: &TestApp, browser: &Browser, login: &Page, id: &str) -> Page {
    let csrf = login.field("csrf").unwrap();
    let interaction = login.field("interaction").unwrap_or_default();
    browser
        .post_form(
            &app.url(&format!("/login/upstream/{id}")),
            &[("csrf", &csrf), ("interaction", &interaction)],
        )
        .await
}

/// The provider signs the person in and sends them back: Valet's callback's answer.
async fn round_trip(browser: &Browser, to_provider: &Page) -> Page {
    assert_eq!(to_provider.status, 303, "{}", to_provider.body);
    let at = to_provider.location().unwrap();
    let back = outside().get(&at).send().await.unwrap();
    assert_eq!(
        back.status(),
        303,
        "the provider answered {}",
        back.status()
    );
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    browser.get(&callback).await
}

/// An authorization request of a web app, through the provider, to the app's redirect.
async fn sign_in_through(app: &TestApp, client_id: &str, browser: &Browser, id: &str) -> Page {
    let login = browser.get(&app.authorize_url(client_id, "")).await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("Continue with"), "{}", login.body);
    let to = continue_with(app, browser, &login, id).await;
    let mut p = round_trip(browser, &to).await;
    if p.status == 200 && p.body.contains("value=\"allow\"") {
        p = browser.consent(app, &p, "allow").await;
    }
    p
}

async fn sub_of(app: &TestApp, id: &str, secret: &str, redirect: &Page) -> String {
    id_token_claims(app, id, secret, redirect).await["sub"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn id_token_claims(
    app: &TestApp,
    id: &str,
    secret: &str,
    redirect: &Page,
) -> serde_json::Value {
    assert_eq!(redirect.status, 303, "{}", redirect.body);
    let location = redirect.location().unwrap();
    assert_eq!(param(&location, "state").as_deref(), Some("st1"));
    let r = app.redeem(id, secret, &location).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    let id_token = body["id_token"].as_str().unwrap();
    let payload = id_token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims
}

#[tokio::test]
async fn a_first_sign_in_creates_the_user_and_the_next_finds_them() {
    let idp = Idp::start().await;
    let app = app_with(vec![idp.oidc_table("corp")]).await;
    first_and_next_sign_in(&idp, &app).await;
}

#[tokio::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn a_first_sign_in_creates_the_user_and_the_next_finds_them_on_postgres() {
    let db = valet_store::postgres::testdb::TestDatabase::create()
        .await
        .unwrap();
    let idp = Idp::start().await;
    let app = app_on(vec![idp.oidc_table("corp")], Some(db.url.clone())).await;
    first_and_next_sign_in(&idp, &app).await;
    // Linking, on the same database.
    linking(&idp, &app).await;
}

async fn first_and_next_sign_in(idp: &Idp, app: &TestApp) {
    let (id, secret) = app.web_client().await;
    let login = app.browser().get(&app.authorize_url(&id, "")).await;
    assert!(login.body.contains("Continue with Corp"), "{}", login.body);

    let browser = app.browser();
    let done = sign_in_through(app, &id, &browser, "corp").await;
    assert_eq!(sub_of(app, &id, &secret, &done).await, "corp:alice");
    let user = app.store.user("corp:alice").await.unwrap().unwrap();
    assert_eq!(user.username, "corp:alice");
    assert_eq!(user.claims.email.as_deref(), Some("alice@corp.example"));
    assert!(user.claims.email_verified);
    assert!(user.password_hash.is_none());

    // Again, in another browser: the same user, nobody new.
    let again = sign_in_through(app, &id, &app.browser(), "corp").await;
    assert_eq!(sub_of(app, &id, &secret, &again).await, "corp:alice");
    let users = app.store.users().await.unwrap();
    assert_eq!(
        users.iter().filter(|u| u.id.starts_with("corp:")).count(),
        1
    );
    // Their claims follow the provider's.
    idp.set(|b| b.email = Some("alice@new.corp.example".into()));
    let third = sign_in_through(app, &id, &app.browser(), "corp").await;
    assert_eq!(third.status, 303);
    let user = app.store.user("corp:alice").await.unwrap().unwrap();
    assert_eq!(user.claims.email.as_deref(), Some("alice@new.corp.example"));
    // The account page lists the provider, and it cannot be unlinked: no other way in.
    let account = browser.get(&app.url("/account")).await;
    assert!(
        account.body.contains("Sign-in providers"),
        "{}",
        account.body
    );
    assert!(account.body.contains("Your only way to sign in"));
    assert!(!account.body.contains("Change password"));
}

#[tokio::test]
async fn every_relying_party_check_refuses() {
    let idp = Idp::start().await;
    let app = app_with(vec![idp.oidc_table("corp")]).await;
    let (id, _) = app.web_client().await;
    type Change = Box<dyn Fn(&mut Behaviour)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "wrong iss",
            Box::new(|b| b.iss = Some("http://evil.example".into())),
        ),
        (
            "wrong aud",
            Box::new(|b| b.aud = Some("someone-else".into())),
        ),
        (
            "several audiences without azp",
            Box::new(|b| b.aud = Some(serde_json::json!(["valet", "other"]))),
        ),
        ("bad signature", Box::new(|b| b.bad_signature = true)),
        ("missing nonce", Box::new(|b| b.nonce = Nonce::Missing)),
        ("another nonce", Box::new(|b| b.nonce = Nonce::Other)),
        ("expired", Box::new(|b| b.expired = true)),
        (
            "wrong iss in the response",
            Box::new(|b| b.response_iss = ResponseIss::Wrong),
        ),
        (
            "no iss in the response, advertised",
            Box::new(|b| b.response_iss = ResponseIss::Missing),
        ),
        (
            "a subject with spaces",
            Box::new(|b| b.subject = "a b".into()),
        ),
    ];
    for (what, change) in cases {
        idp.set(|b| {
            *b = Behaviour::default();
            change(b);
        });
        let browser = app.browser();
        let p = sign_in_through(&app, &id, &browser, "corp").await;
        assert_eq!(p.status, 400, "{what}: {}", p.body);
        assert!(
            p.body.contains("Signing in with Corp did not complete"),
            "{what}"
        );
        // The login page again, usable: the other ways in still work, and the fields are
        // not marked wrong (nothing typed was).
        assert!(p.body.contains("name=\"password\""), "{what}");
        assert!(!p.body.contains("aria-invalid"), "{what}");
        assert!(app.store.users().await.unwrap().is_empty(), "{what}");
        let account = browser.get(&app.url("/account")).await;
        assert_eq!(account.status, 303, "{what}: nobody is signed in");
    }
}

#[tokio::test]
async fn a_state_opens_once_and_only_in_its_browser() {
    let idp = Idp::start().await;
    let app = app_with(vec![idp.oidc_table("corp")]).await;
    let (id, _) = app.web_client().await;
    let browser = app.browser();
    let login = browser.get(&app.authorize_url(&id, "")).await;
    let to = continue_with(&app, &browser, &login, "corp").await;
    let state = param(&to.location().unwrap(), "state").unwrap();
    assert!(state.len() > 22, "a state of at least 128 bits");
    let back = outside().get(to.location().unwrap()).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    // Another browser cannot use it.
    let stolen = app.browser().get(&callback).await;
    assert!(stolen.body.contains("expired or was already used") || stolen.status >= 400);
    assert_eq!(
        idp.redeemed(),
        0,
        "nothing was redeemed for a foreign state"
    );
    let first = browser.get(&callback).await;
    assert_eq!(first.status, 200, "the consent page: {}", first.body);
    let replay = browser.get(&callback).await;
    assert_ne!(replay.status, 200, "a replayed state: {}", replay.body);
    assert_eq!(idp.redeemed(), 1);
    // A callback without a state, or of another provider's id, signs nobody in.
    let none = app
        .browser()
        .get(&app.url("/login/upstream/corp/callback?code=x"))
        .await;
    assert_ne!(none.status, 303);
    let unknown = app
        .browser()
        .get(&app.url("/login/upstream/nope/callback?code=x&state=y"))
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn an_unverified_address_never_takes_over_an_account() {
    let idp = Idp::start().await;
    let mut table = idp.oidc_table("corp");
    table.link_by_verified_email = Some(true);
    let app = app_with(vec![table]).await;
    let (id, secret) = app.web_client().await;
    let bob = app.user("bob").await;
    // The provider says bob's address, unverified.
    idp.set(|b| {
        b.subject = "mallory".into();
        b.email = Some("bob@example.com".into());
        b.email_verified = Some(false);
    });
    let p = sign_in_through(&app, &id, &app.browser(), "corp").await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(
        p.body
            .contains("An account with this email address already exists")
    );
    assert!(p.body.contains("link Corp from your account page"));
    assert!(
        app.store
            .identity("corp", "mallory")
            .await
            .unwrap()
            .is_none()
    );
    assert!(app.store.user("corp:mallory").await.unwrap().is_none());
    // Verified, and the provider may link by verified address: bob, linked.
    idp.set(|b| b.email_verified = Some(true));
    let p = sign_in_through(&app, &id, &app.browser(), "corp").await;
    assert_eq!(sub_of(&app, &id, &secret, &p).await, bob);
    let link = app
        .store
        .identity("corp", "mallory")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.user_id, bob);
}

#[tokio::test]
async fn a_verified_address_is_not_enough_unless_the_provider_may_link() {
    let idp = Idp::start().await;
    let app = app_with(vec![idp.oidc_table("corp")]).await;
    let (id, _) = app.web_client().await;
    app.user("bob").await;
    idp.set(|b| {
        b.subject = "bob-at-corp".into();
        b.email = Some("bob@example.com".into());
    });
    let p = sign_in_through(&app, &id, &app.browser(), "corp").await;
    assert_eq!(p.status, 403);
    assert!(
        app.store
            .identity("corp", "bob-at-corp")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn linking_on_the_account_page_then_signing_in_as_oneself() {
    let idp = Idp::start().await;
    let app = app_with(vec![idp.oidc_table("corp")]).await;
    linking(&idp, &app).await;
}

async fn linking(idp: &Idp, app: &TestApp) {
    let (id, secret) = app.web_client().await;
    let bob = app.user("bob").await;
    let browser = app.browser();
    let login = browser.get(&app.url("/login")).await;
    let signed = browser.login(app, &login, "bob", PASSWORD).await;
    assert_eq!(signed.status, 303);
    let account = browser.get(&app.url("/account")).await;
    assert!(account.body.contains("Link Corp"), "{}", account.body);
    let csrf = account.field("csrf").unwrap();
    idp.set(|b| {
        b.subject = "bob-at-corp".into();
        b.email = Some("bob@corp.example".into());
    });
    let to = browser
        .post_form(&app.url("/account/upstreams/corp/link"), &[("csrf", &csrf)])
        .await;
    let back = round_trip(&browser, &to).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location().as_deref(), Some("/account?linked=corp"));
    let linked = browser.get(&app.url("/account?linked=corp")).await;
    assert!(linked.body.contains("Corp is linked"), "{}", linked.body);
    assert!(linked.body.contains("bob@corp.example"));
    // Signing in with Corp is now signing in as bob.
    let p = sign_in_through(app, &id, &app.browser(), "corp").await;
    assert_eq!(sub_of(app, &id, &secret, &p).await, bob);
    // The same Corp account cannot be linked to somebody else.
    let carol = app.browser();
    app.user("carol").await;
    let login = carol.get(&app.url("/login")).await;
    carol.login(app, &login, "carol", PASSWORD).await;
    let page = carol.get(&app.url("/account")).await;
    let to = carol
        .post_form(
            &app.url("/account/upstreams/corp/link"),
            &[("csrf", &page.field("csrf").unwrap())],
        )
        .await;
    let refused = round_trip(&carol, &to).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("linked to another account"));
    // Bob has a password: he may unlink.
    let page = browser.get(&app.url("/account")).await;
    let out = browser
        .post_form(
            &app.url("/account/upstreams/corp/unlink"),
            &[
                ("csrf", &page.field("csrf").unwrap()),
                ("subject", "bob-at-corp"),
            ],
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.body.contains("Corp is no longer linked"));
    assert!(
        app.store
            .identity("corp", "bob-at-corp")
            .await
            .unwrap()
            .is_none()
    );
    // Someone else's link cannot be named.
    let p = carol.get(&app.url("/account")).await;
    let r = carol
        .post_form(
            &app.url("/account/upstreams/corp/unlink"),
            &[("csrf", &p.field("csrf").unwrap()), ("subject", "alice")],
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn the_only_way_in_cannot_be_unlinked() {
    let idp = Idp::start().await;
    let app = app_with(vec![idp.oidc_table("corp")]).await;
    let (id, _) = app.web_client().await;
    let browser = app.browser();
    sign_in_through(&app, &id, &browser, "corp").await;
    let page = browser.get(&app.url("/account")).await;
    let r = browser
        .post_form(
            &app.url("/account/upstreams/corp/unlink"),
            &[("csrf", &page.field("csrf").unwrap()), ("subject", "alice")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("your only way to sign in"), "{}", r.body);
    assert!(app.store.identity("corp", "alice").await.unwrap().is_some());
}

#[tokio::test]
async fn existing_accounts_only() {
    let idp = Idp::start().await;
    let mut table = idp.oidc_table("corp");
    table.users = Some("existing".into());
    let app = app_with(vec![table]).await;
    let (id, _) = app.web_client().await;
    let p = sign_in_through(&app, &id, &app.browser(), "corp").await;
    assert_eq!(p.status, 403);
    assert!(
        p.body.contains("there is no account here for you"),
        "{}",
        p.body
    );
    assert!(app.store.users().await.unwrap().is_empty());
}

#[tokio::test]
async fn home_realm_discovery_goes_straight_to_the_provider() {
    let idp = Idp::start().await;
    let app = app_with(vec![idp.oidc_table("corp")]).await;
    let (id, _) = app.web_client().await;
    let browser = app.browser();
    let p = browser
        .get(&app.authorize_url(&id, "&login_hint=carol%40corp.example"))
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let to = p.location().unwrap();
    assert!(to.starts_with(&idp.issuer), "{to}");
    assert_eq!(
        param(&to, "login_hint").as_deref(),
        Some("carol@corp.example")
    );
    // An address typed on the login page, no password: the same.
    let login = browser.get(&app.authorize_url(&id, "")).await;
    let p = browser.login(&app, &login, "dave@Corp.Example", "").await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(p.location().unwrap().starts_with(&idp.issuer));
    // Another domain's address is a username like any other.
    let login = browser
        .get(&app.authorize_url(&id, "&login_hint=eve%40other.example"))
        .await;
    assert_eq!(login.status, 200);
}

#[tokio::test]
async fn an_outage_is_a_503_and_passwords_still_work() {
    let idp = Idp::start().await;
    let app = app_with(vec![idp.oidc_table("corp")]).await;
    let (id, secret) = app.web_client().await;
    app.user("bob").await;
    // Up at startup (its document cached), down now.
    idp.set(|b| b.down = true);
    let browser = app.browser();
    let login = browser.get(&app.authorize_url(&id, "")).await;
    let p = continue_with(&app, &browser, &login, "corp").await;
    assert_eq!(p.status, 503, "{}", p.body);
    assert!(p.headers.contains_key("retry-after"));
    assert!(p.body.contains("Corp is not answering"), "{}", p.body);
    // A wrong password there marks the fields; the page works for the right one.
    let wrong = browser.login(&app, &p, "bob", "not it at all").await;
    assert!(
        wrong.body.contains("aria-invalid=\"true\""),
        "{}",
        wrong.body
    );
    let done = browser.login(&app, &wrong, "bob", PASSWORD).await;
    let done = if done.status == 200 {
        browser.consent(&app, &done, "allow").await
    } else {
        done
    };
    assert!(!sub_of(&app, &id, &secret, &done).await.is_empty());
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused_at_startup() {
    let idp = Idp::start().await;
    idp.set(|b| b.discovery_issuer = Some("https://someone-else.example".into()));
    let dir = tempfile::tempdir().unwrap();
    let settings = valet_server::config::Settings::resolve(valet_server::config::Partial {
        issuer: Some("http://localhost:1".into()),
        database: Some(format!("sqlite://{}", dir.path().join("v.db").display())),
        upstreams: Some(vec![idp.oidc_table("corp")]),
        ..Default::default()
    })
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = valet_server::Valet::build_on(
        settings,
        valet_server::crypto::MasterKey::generate().unwrap(),
        listener,
    )
    .await
    .err()
    .expect("Valet refuses to start");
    let text = e.to_string();
    assert!(text.contains("upstreams `corp`"), "{text}");
    assert!(
        text.contains("names the issuer `https://someone-else.example`"),
        "{text}"
    );
}

#[tokio::test]
async fn a_plain_oauth_provider_with_a_user_api() {
    let idp = Idp::start().await;
    // GitHub-shaped: no verification claim.
    idp.set(|b| b.email_verified = None);
    let app = app_with(vec![idp.oauth_table("hub")]).await;
    let (id, secret) = app.web_client().await;
    let p = sign_in_through(&app, &id, &app.browser(), "hub").await;
    assert_eq!(sub_of(&app, &id, &secret, &p).await, "hub:583231");
    let user = app.store.user("hub:583231").await.unwrap().unwrap();
    assert_eq!(user.username, "hub:octo");
    // The provider says nothing of verification: the address is not verified.
    assert!(!user.claims.email_verified);
}

#[tokio::test]
async fn upstream_tokens_are_kept_only_when_asked_and_then_sealed() {
    let idp = Idp::start().await;
    let mut keep = idp.oidc_table("keep");
    keep.keep_refresh_token = Some(true);
    keep.domains = None;
    let app = app_with(vec![idp.oidc_table("corp"), keep]).await;
    let (id, _) = app.web_client().await;
    sign_in_through(&app, &id, &app.browser(), "corp").await;
    let not_kept = app.store.identity("corp", "alice").await.unwrap().unwrap();
    assert!(not_kept.refresh_token.is_none());
    idp.set(|b| b.subject = "kim".into());
    idp.set(|b| b.email = Some("kim@corp.example".into()));
    sign_in_through(&app, &id, &app.browser(), "keep").await;
    let kept = app.store.identity("keep", "kim").await.unwrap().unwrap();
    let sealed = kept.refresh_token.expect("kept");
    assert!(
        !sealed
            .windows(b"upstream-refresh-token".len())
            .any(|w| w == b"upstream-refresh-token"),
        "sealed, not in the clear"
    );
    let opened = app
        .sealer
        .open("upstream refresh token|keep", &sealed)
        .unwrap();
    assert_eq!(opened, b"upstream-refresh-token");
}

#[tokio::test]
async fn prompt_login_asks_the_provider_for_a_fresh_sign_in_too() {
    let idp = Idp::start().await;
    let app = app_with(vec![idp.oidc_table("corp")]).await;
    let (id, secret) = app.web_client().await;
    let browser = app.browser();
    let login = browser.get(&app.authorize_url(&id, "&prompt=login")).await;
    let to = continue_with(&app, &browser, &login, "corp").await;
    let at = to.location().unwrap();
    assert_eq!(param(&at, "prompt").as_deref(), Some("login"));
    assert_eq!(param(&at, "max_age").as_deref(), Some("0"));
    let mut p = round_trip(&browser, &to).await;
    if p.status == 200 {
        p = browser.consent(&app, &p, "allow").await;
    }
    assert_eq!(sub_of(&app, &id, &secret, &p).await, "corp:alice");
    // A provider answering from an old session of its own: refused.
    idp.set(|b| b.stale_auth_time = true);
    let browser = app.browser();
    let login = browser.get(&app.authorize_url(&id, "&max_age=60")).await;
    let to = continue_with(&app, &browser, &login, "corp").await;
    assert_eq!(
        param(&to.location().unwrap(), "max_age").as_deref(),
        Some("60")
    );
    let p = round_trip(&browser, &to).await;
    assert_eq!(p.status, 400, "{}", p.body);
    // Without either, an old session at the provider is the provider's business.
    let p = sign_in_through(&app, &id, &app.browser(), "corp").await;
    assert_eq!(p.status, 303);
}

#[tokio::test]
async fn groups_the_provider_asserts_are_kept_and_released_with_profile() {
    let idp = Idp::start().await;
    let mut table = idp.oidc_table("corp");
    table.claims = Some(valet_server::upstream::config::ClaimsConfig {
        groups: Some("groups".into()),
        ..Default::default()
    });
    let app = app_with(vec![table]).await;
    let (id, secret) = app.web_client().await;
    let p = sign_in_through(&app, &id, &app.browser(), "corp").await;
    let r = app.redeem(&id, &secret, &p.location().unwrap()).await;
    let tokens: serde_json::Value = r.json().await.unwrap();
    let info: serde_json::Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], "corp:alice");
    assert_eq!(info["groups"], serde_json::json!(["staff", "on-call"]));
    let user = app.store.user("corp:alice").await.unwrap().unwrap();
    assert_eq!(user.claims.groups, ["staff", "on-call"]);
    // Without a mapping, none are kept.
    let idp = Idp::start().await;
    let app = app_with(vec![idp.oidc_table("corp")]).await;
    sign_in_through(&app, &id_of(&app).await, &app.browser(), "corp").await;
    let user = app.store.user("corp:alice").await.unwrap().unwrap();
    assert!(user.claims.groups.is_empty());
}

async fn id_of(app: &TestApp) -> String {
    app.web_client().await.0
}

#[tokio::test]
async fn a_providers_mfa_counts_only_when_trusted() {
    let idp = Idp::start().await;
    idp.set(|b| b.amr = Some(vec!["pwd".into(), "mfa".into()]));
    let mut trusted = idp.oidc_table("trusted");
    trusted.trust_mfa = Some(true);
    trusted.domains = None;
    let tables = vec![idp.oidc_table("corp"), trusted];
    let app = spawn_with(move |mut p| {
        p.upstreams = Some(tables);
        p.mfa = Some("required".into());
        p
    })
    .await;
    let (id, secret) = app.web_client().await;
    // Not trusted: Valet's own second factor is asked for (here: enrolled), no session yet.
    let browser = app.browser();
    let p = sign_in_through(&app, &id, &browser, "corp").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("authenticator"), "{}", p.body);
    assert_eq!(browser.get(&app.url("/account")).await.status, 303);
    // Trusted, and the provider says mfa: signed in, with its amr.
    idp.set(|b| {
        b.subject = "tess".into();
        b.email = Some("tess@corp.example".into());
    });
    let p = sign_in_through(&app, &id, &app.browser(), "trusted").await;
    let claims = id_token_claims(&app, &id, &secret, &p).await;
    assert_eq!(claims["sub"], "trusted:tess");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "mfa"]));
}
