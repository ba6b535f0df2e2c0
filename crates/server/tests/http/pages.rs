//! The pages a person sees: login, consent, account and logout (checklist C1-C10, G11,
//! J10). Each test drives the pages as a browser would and then checks what the server
//! recorded (codes, grants, consents, sessions) straight in the database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use valet_protocol::application::Profile;
use valet_server::admin::NewClient;

use crate::flow::{Browser, PASSWORD, Page, REDIRECT, param};
use crate::harness::{TestApp, assert_oauth_error, spawn_app};

const SESSION: &str = "__Host-valet-session";
const BYE: &str = "https://app.example/bye";

fn form(pairs: &[(&str, &str)]) -> String {
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    valet_protocol::response::encode(&owned)
}

/// Rows in `table` of the test's database: what the server recorded.
fn rows(app: &TestApp, table: &str) -> i64 {
    let path = app.sqlite_path();
    let db = rusqlite::Connection::open(path).unwrap();
    db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// The `Set-Cookie` line for cookie `name`, if the page sets it.
fn set_cookie(p: &Page, name: &str) -> Option<String> {
    p.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|l| l.starts_with(&format!("{name}=")))
}

fn cookie_value(line: &str) -> String {
    line.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

fn is_login_page(p: &Page) -> bool {
    p.status == 200 && p.body.contains("name=\"password\"")
}

fn is_consent_page(p: &Page) -> bool {
    p.status == 200 && p.body.contains("value=\"allow\"")
}

/// GET `path` with only this session cookie (no cookie jar): what a stolen or stale
/// cookie value opens.
async fn with_session_cookie(app: &TestApp, path: &str, value: &str) -> oauth2::reqwest::Response {
    app.http
        .get(app.url(path))
        .header("cookie", format!("{SESSION}={value}"))
        .send()
        .await
        .unwrap()
}

/// Redeems the code in `location` for the web client.
async fn redeem(app: &TestApp, id: &str, secret: &str, location: &str) -> Value {
    let code = param(location, "code").expect("a code");
    let r = app
        .post(
            "/oauth2/token",
            id,
            secret,
            &form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ]),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Checklist C3, C4: the headers every page carries.
fn assert_page_headers(p: &Page, what: &str) {
    let h = |name: &str| {
        p.headers
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert!(h("content-type").starts_with("text/html"), "{what}");
    assert!(
        h("content-security-policy").contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert!(h("cache-control").contains("no-store"), "{what}");
}

/// Checklist C4: no third-party resources: every `src` and `href` is Valet's own path.
fn assert_only_own_resources(p: &Page, what: &str) {
    for attr in ["src=\"", "href=\""] {
        for piece in p.body.split(attr).skip(1) {
            // As the browser reads it: entities decoded (minijinja escapes `/`).
            let target = crate::flow::unescape(piece.split('"').next().unwrap());
            assert!(
                target.starts_with('/') && !target.starts_with("//"),
                "{what}: {attr}{target}"
            );
        }
    }
}

/// Starts the web client's standard request in `b`: the login page.
async fn login_page(app: &TestApp, b: &Browser, id: &str) -> Page {
    let p = b.get(&app.authorize_url(id, "")).await;
    assert!(is_login_page(&p), "{}", p.body);
    p
}

/// Signs alice in from `b` up to the consent page.
async fn consent_page(app: &TestApp, b: &Browser, id: &str) -> Page {
    let login = login_page(app, b, id).await;
    let p = b.login(app, &login, "alice", PASSWORD).await;
    assert!(is_consent_page(&p), "{}", p.body);
    p
}

// ---- C1, C2: forms are bound to the browser ----

/// alice's right password posted to /login with this interaction and CSRF value.
async fn post_login(app: &TestApp, b: &Browser, interaction: &str, csrf: Option<&str>) -> Page {
    let mut f = vec![
        ("username", "alice"),
        ("password", PASSWORD),
        ("interaction", interaction),
    ];
    if let Some(c) = csrf {
        f.push(("csrf", c));
    }
    b.post_form(&app.url("/login"), &f).await
}

// Checklist C1: the login POST without the CSRF token, with another browser's, or from a
// browser without the CSRF cookie is 403 and signs nobody in.
#[tokio::test]
async fn login_without_a_valid_csrf_token_is_forbidden() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let a = app.browser();
    let la = login_page(&app, &a, &id).await;
    let other = app.browser();
    let lb = login_page(&app, &other, &id).await;
    let interaction = la.field("interaction").unwrap();
    let theirs = lb.field("csrf").unwrap();
    assert_ne!(la.field("csrf").unwrap(), theirs);
    for (what, p) in [
        ("no csrf", post_login(&app, &a, &interaction, None).await),
        (
            "empty csrf",
            post_login(&app, &a, &interaction, Some("")).await,
        ),
        (
            "another browser's csrf",
            post_login(&app, &a, &interaction, Some(&theirs)).await,
        ),
        (
            "a browser without the csrf cookie",
            post_login(
                &app,
                &app.browser(),
                &interaction,
                Some(&la.field("csrf").unwrap()),
            )
            .await,
        ),
    ] {
        assert_eq!(p.status, 403, "{what}");
        assert_page_headers(&p, what);
        assert!(p.location().is_none(), "{what}");
        assert!(set_cookie(&p, SESSION).is_none(), "{what}: no session");
    }
    assert_eq!(rows(&app, "sessions"), 0, "nobody signed in");
    // The control: the right token works.
    let ok = a.login(&app, &la, "alice", PASSWORD).await;
    assert!(is_consent_page(&ok));
    assert_eq!(rows(&app, "sessions"), 1);
}

// Checklist C1: the consent POST without the CSRF token, with another session's, or with
// the login form's token is 403, and no consent, grant or code is recorded.
#[tokio::test]
async fn consent_without_a_valid_csrf_token_is_forbidden() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let a = app.browser();
    let login = login_page(&app, &a, &id).await;
    let ca = a.login(&app, &login, "alice", PASSWORD).await;
    assert!(is_consent_page(&ca));
    let other = app.browser();
    let cb = consent_page(&app, &other, &id).await;
    let interaction = ca.field("interaction").unwrap();
    let login_csrf = login.field("csrf").unwrap();
    let theirs = cb.field("csrf").unwrap();
    for (what, csrf) in [
        ("no csrf", None),
        ("empty csrf", Some("")),
        ("another session's csrf", Some(theirs.as_str())),
        ("the login form's csrf", Some(login_csrf.as_str())),
    ] {
        let mut f = vec![("interaction", interaction.as_str()), ("decision", "allow")];
        if let Some(c) = csrf {
            f.push(("csrf", c));
        }
        let p = a.post_form(&app.url("/consent"), &f).await;
        assert_eq!(p.status, 403, "{what}");
        assert!(p.location().is_none(), "{what}");
        assert_page_headers(&p, what);
    }
    assert_eq!(rows(&app, "consents"), 0);
    assert_eq!(rows(&app, "grants"), 0);
    assert_eq!(rows(&app, "authorization_codes"), 0);
    let ok = a.consent(&app, &ca, "allow").await;
    assert_eq!(ok.status, 303, "the control");
    assert_eq!(rows(&app, "consents"), 1);
    assert_eq!(rows(&app, "authorization_codes"), 1);
}

// Checklist C2: the sealed request of one browser does not open in another, at login or at
// consent, even with that browser's own valid CSRF token and the same user.
#[tokio::test]
async fn interaction_replayed_from_another_browser_is_refused() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let victim = app.browser();
    let attacker = app.browser();

    // Login: the victim's interaction, the attacker's cookie and token.
    let lv = login_page(&app, &victim, &id).await;
    let la = login_page(&app, &attacker, &id).await;
    let p = attacker
        .post_form(
            &app.url("/login"),
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf", &la.field("csrf").unwrap()),
                ("interaction", &lv.field("interaction").unwrap()),
            ],
        )
        .await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.location().is_none());
    assert!(set_cookie(&p, SESSION).is_none());
    assert_eq!(rows(&app, "sessions"), 0);

    // Consent: two sessions of the same user.
    let cv = victim.login(&app, &lv, "alice", PASSWORD).await;
    assert!(is_consent_page(&cv));
    let ca = attacker.login(&app, &la, "alice", PASSWORD).await;
    assert!(is_consent_page(&ca));
    let mut tampered = ca.field("interaction").unwrap();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    for (what, interaction) in [
        ("the victim's interaction", cv.field("interaction").unwrap()),
        ("a tampered interaction", tampered),
    ] {
        let p = attacker
            .post_form(
                &app.url("/consent"),
                &[
                    ("csrf", &ca.field("csrf").unwrap()),
                    ("interaction", &interaction),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert_eq!(p.status, 400, "{what}");
        assert!(p.location().is_none(), "{what}");
    }
    assert_eq!(rows(&app, "consents"), 0);
    assert_eq!(rows(&app, "authorization_codes"), 0);
    assert_eq!(
        attacker.consent(&app, &ca, "allow").await.status,
        303,
        "the control"
    );
}

// ---- C3-C5: headers and escaping ----

// Checklist C3, C4: every page (login, consent, error, form_post, account, logout, signed
// out) forbids framing and referrers; the sign-in pages load only Valet's own resources.
#[tokio::test]
async fn every_page_forbids_framing_and_referrers() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let mut pages: Vec<(&str, Page)> = Vec::new();
    pages.push(("standalone login", b.get(&app.url("/login")).await));
    let login = login_page(&app, &b, &id).await;
    let consent = b.login(&app, &login, "alice", PASSWORD).await;
    assert_only_own_resources(&login, "login");
    assert_only_own_resources(&consent, "consent");
    pages.push(("login", login));
    pages.push(("consent", consent));
    let error = b
        .get(&app.url(&format!(
            "/oauth2/authorize?client_id={id}&redirect_uri=https%3A%2F%2Fevil.example%2F&response_type=code"
        )))
        .await;
    assert_eq!(error.status, 400);
    assert_only_own_resources(&error, "error");
    pages.push(("authorize error", error));
    let post = b
        .get(&app.authorize_url(&id, "&response_mode=form_post&prompt=none"))
        .await;
    assert!(post.body.contains("form_post.js"), "{}", post.body);
    pages.push(("form_post", post));
    let account = b.get(&app.url("/account")).await;
    assert_eq!(account.status, 200);
    let csrf = account.field("csrf").unwrap();
    pages.push(("account", account));
    pages.push((
        "bad account form",
        b.post_form(
            &app.url("/account/revoke"),
            &[("csrf", "x"), ("client_id", &id)],
        )
        .await,
    ));
    let confirm = b.get(&app.url("/oauth2/logout")).await;
    assert!(confirm.body.contains("Sign out of Valet?"));
    pages.push(("logout confirmation", confirm));
    pages.push((
        "signed out",
        b.post_form(&app.url("/oauth2/logout"), &[("csrf", &csrf)])
            .await,
    ));
    pages.push(("not found", b.get(&app.url("/nope")).await));
    for (what, p) in &pages {
        if *what != "not found" {
            assert_page_headers(p, what);
        }
        assert_eq!(p.headers["referrer-policy"], "no-referrer", "{what}");
    }
}

// Checklist C5: a client name with markup, a hostile logo URL and a reflected login_hint
// are escaped on the login, consent and account pages; dangerous URLs are refused at
// registration.
#[tokio::test]
async fn reflected_values_are_escaped() {
    let app = spawn_app().await;
    app.user("alice").await;
    let name = "<script>alert(\"name\")</script> & Co";
    let (id, _) = app
        .client(NewClient {
            name: name.into(),
            profile: Some(Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            logo_uri: Some("https://logo.example/a.png?\"onerror=\"alert(1)".into()),
            website: Some("https://app.example/<b>".into()),
            ..Default::default()
        })
        .await;
    for bad in [
        "javascript:alert(1)",
        "http://logo.example/a.png",
        "data:image/png;base64,AA",
    ] {
        let refused = app
            .admin
            .create_client(
                NewClient {
                    name: "Bad logo".into(),
                    profile: Some(Profile::Web),
                    redirect_uris: vec![REDIRECT.into()],
                    logo_uri: Some(bad.into()),
                    ..Default::default()
                },
                app.now(),
            )
            .await;
        assert!(refused.is_err(), "{bad}");
    }
    let b = app.browser();
    let hint = "\"><script>alert('hint')</script>";
    let login = b
        .get(&app.authorize_url(&id, &format!("&{}", form(&[("login_hint", hint)]))))
        .await;
    assert!(is_login_page(&login));
    assert_eq!(login.field("username").as_deref(), Some(hint), "round trip");
    let consent = b.login(&app, &login, "alice", PASSWORD).await;
    assert!(is_consent_page(&consent));
    b.consent(&app, &consent, "allow").await;
    let account = b.get(&app.url("/account")).await;
    for (what, p) in [
        ("login", &login),
        ("consent", &consent),
        ("account", &account),
    ] {
        assert!(!p.body.contains("<script>"), "{what}");
        assert!(!p.body.contains("\"onerror="), "{what}");
        assert!(!p.body.contains("<b>"), "{what}");
        assert!(
            p.body.contains("&lt;script&gt;"),
            "{what}: the name is shown, escaped"
        );
    }
}

// ---- C6, C7: the session cookie and the redirect after login ----

// Checklist C6: the session cookie is __Host-, Secure, HttpOnly, SameSite=Lax; its value
// changes at every login and the old value stops working.
#[tokio::test]
async fn session_cookie_is_locked_down_and_rotates_at_login() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let login = login_page(&app, &b, &id).await;
    let csrf_cookie = set_cookie(&login, "__Host-valet-csrf").expect("login CSRF cookie");
    let consent = b.login(&app, &login, "alice", PASSWORD).await;
    let first = set_cookie(&consent, SESSION).expect("a session cookie at login");
    for line in [&first, &csrf_cookie] {
        let attrs: Vec<String> = line
            .split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        for want in ["secure", "httponly", "samesite=lax", "path=/"] {
            assert!(attrs.iter().any(|a| a == want), "{want} missing: {line}");
        }
        assert!(!attrs.iter().any(|a| a.starts_with("domain")), "{line}");
    }
    let v1 = cookie_value(&first);
    assert!(v1.len() >= 43, "at least 256 bits: {v1}");
    b.consent(&app, &consent, "allow").await;

    let again = b.get(&app.authorize_url(&id, "&prompt=login")).await;
    assert!(is_login_page(&again));
    assert!(
        set_cookie(&again, SESSION).is_none(),
        "showing the form changes nothing"
    );
    let done = b.login(&app, &again, "alice", PASSWORD).await;
    assert_eq!(done.status, 303);
    let v2 = cookie_value(&set_cookie(&done, SESSION).expect("a new session cookie"));
    assert_ne!(v1, v2, "the session id changes at login");

    let old = with_session_cookie(&app, "/account", &v1).await;
    assert_eq!(old.status(), 303, "the old session is gone");
    assert_eq!(old.headers()["location"], "/login");
    let new = with_session_cookie(&app, "/account", &v2).await;
    assert_eq!(new.status(), 200);
    assert_eq!(rows(&app, "sessions"), 1);
}

// Checklist C7: after the credentials POST the browser is sent on with 303, never 307 (a
// 307 would re-post the password to the application).
#[tokio::test]
async fn login_post_is_answered_with_303() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (trusted, _) = app
        .client(NewClient {
            name: "First party".into(),
            profile: Some(Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            trusted: true,
            ..Default::default()
        })
        .await;
    let b = app.browser();
    let login = login_page(&app, &b, &trusted).await;
    let p = b.login(&app, &login, "alice", PASSWORD).await;
    assert_eq!(p.status, 303);
    assert!(
        p.location()
            .unwrap()
            .starts_with(&format!("{REDIRECT}?code="))
    );
    let standalone = app.browser();
    let page = standalone.get(&app.url("/login")).await;
    assert!(is_login_page(&page));
    let p = standalone.login(&app, &page, "alice", PASSWORD).await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location().as_deref(), Some("/account"));
}

// ---- C8, C9: the consent decision ----

// Checklist C8: "Deny" sends access_denied with state and iss, and records nothing.
#[tokio::test]
async fn deny_sends_access_denied_with_state() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let consent = consent_page(&app, &b, &id).await;
    let p = b.consent(&app, &consent, "deny").await;
    assert_eq!(p.status, 303);
    let loc = p.location().unwrap();
    assert!(loc.starts_with(&format!("{REDIRECT}?")), "{loc}");
    assert_eq!(param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&loc, "state").as_deref(), Some("st1"));
    assert_eq!(param(&loc, "iss").unwrap(), app.settings.issuer);
    assert!(param(&loc, "code").is_none());
    assert_eq!(rows(&app, "consents"), 0);
    assert_eq!(rows(&app, "authorization_codes"), 0);
    // Nothing was remembered: the next request asks again.
    assert!(is_consent_page(&b.get(&app.authorize_url(&id, "")).await));
}

// Checklist C9: consent covers the scopes the user saw; a new scope asks again (and is
// consent_required under prompt=none); prompt=consent always asks.
#[tokio::test]
async fn a_new_scope_needs_consent_again() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let narrow = |extra: &str| {
        app.url(&format!(
            "/oauth2/authorize?client_id={id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
             &response_type=code&state=c9{extra}"
        ))
    };
    b.sign_in(&app, &narrow("&scope=openid+profile"), "alice")
        .await;
    let silent = b.get(&narrow("&scope=profile+openid&prompt=none")).await;
    assert_eq!(silent.status, 303);
    assert!(param(&silent.location().unwrap(), "code").is_some());
    assert_eq!(
        b.get(&narrow("&scope=openid")).await.status,
        303,
        "a subset"
    );

    let none = b
        .get(&narrow("&scope=openid+profile+email&prompt=none"))
        .await;
    assert_eq!(none.status, 303);
    let loc = none.location().unwrap();
    assert_eq!(param(&loc, "error").as_deref(), Some("consent_required"));
    assert_eq!(param(&loc, "state").as_deref(), Some("c9"));
    let ask = b.get(&narrow("&scope=openid+profile+email")).await;
    assert!(is_consent_page(&ask), "a new scope: ask again");
    assert!(ask.body.contains(">email</code>"), "the new scope is shown");
    assert_eq!(b.consent(&app, &ask, "allow").await.status, 303);
    assert_eq!(
        b.get(&narrow("&scope=openid+profile+email&prompt=none"))
            .await
            .status,
        303
    );
    let mut stored = app
        .store
        .consent(
            &app.store
                .user_by_username("alice")
                .await
                .unwrap()
                .unwrap()
                .id,
            &id,
        )
        .await
        .unwrap()
        .unwrap()
        .scope
        .split(' ')
        .map(str::to_owned)
        .collect::<Vec<_>>();
    stored.sort();
    assert_eq!(
        stored,
        ["email", "openid", "profile"],
        "the union is remembered"
    );
    assert!(
        is_consent_page(&b.get(&narrow("&scope=openid&prompt=consent")).await),
        "prompt=consent always asks"
    );
}

// ---- C10: failed sign-ins ----

// Checklist C10: a wrong password and an unknown user get the same status and the same
// page, and sign nobody in.
#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    let login = login_page(&app, &b, &id).await;
    let wrong = b.login(&app, &login, "alice", "not the password").await;
    // Each submit spends its form; the re-rendered one is fresh (issue 12 item 10).
    let unknown = b.login(&app, &wrong, "mallory", PASSWORD).await;
    // Each page shows back the name that was typed (issue 12, item 19); nothing else differs.
    let strip = |p: &Page| {
        let i = p.field("interaction").unwrap();
        strip_name(p).replace(&i, "")
    };
    assert_eq!(wrong.status, 200);
    assert_eq!(wrong.status, unknown.status);
    assert!(
        wrong
            .body
            .contains("The username or password is not right.")
    );
    assert_eq!(strip(&wrong), strip(&unknown));
    assert!(is_login_page(&wrong));
    for p in [&wrong, &unknown] {
        assert!(set_cookie(p, SESSION).is_none());
    }
    // The same on the standalone login page.
    let page = b.get(&app.url("/login")).await;
    let w = b.login(&app, &page, "alice", "nope").await;
    let u = b.login(&app, &page, "nobody-at-all", "nope").await;
    assert_eq!((w.status, strip_name(&w)), (u.status, strip_name(&u)));
    assert_eq!(rows(&app, "sessions"), 0);
}

/// The page without the username it shows back.
fn strip_name(p: &Page) -> String {
    let typed = format!("value=\"{}\"", p.field("username").unwrap());
    without_challenge(p).replace(&typed, "")
}

/// The page without its passkey challenge (fresh at every showing).
fn without_challenge(p: &Page) -> String {
    let mut body = p.body.clone();
    if let Some(state) = p.field("passkey") {
        body = body.replace(&state, "");
    }
    if let Some(options) = body.split("data-options=\"").nth(1) {
        let options = options.split('"').next().unwrap().to_owned();
        body = body.replace(&options, "");
    }
    body
}

// Checklist C10: after 10 wrong passwords for one account, even the right password gets 429
// (with Retry-After) for that account, in any spelling; other accounts are unaffected.
#[tokio::test]
async fn ten_wrong_passwords_lock_the_account_for_a_while() {
    let app = spawn_app().await;
    app.user("alice").await;
    app.user("bob").await;
    let (id, _) = app.web_client().await;
    let b = app.browser();
    // Each attempt on the form the last one re-rendered (a form is spent once submitted).
    let mut login = login_page(&app, &b, &id).await;
    for i in 0..10 {
        let p = b.login(&app, &login, "alice", &format!("guess {i}")).await;
        assert_eq!(p.status, 200, "attempt {i}");
        assert!(p.body.contains("The username or password is not right."));
        login = p;
    }
    for who in ["alice", "ALICE"] {
        let login = login_page(&app, &b, &id).await;
        let p = b.login(&app, &login, who, PASSWORD).await;
        assert_eq!(p.status, 429, "{who}");
        assert_page_headers(&p, "429");
        let wait: u64 = p.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait));
        assert!(set_cookie(&p, SESSION).is_none());
        // The form again, freshly sealed, saying how long to wait: retrying later needs
        // no new trip through the application.
        assert!(p.body.contains("too many sign-in attempts"), "{}", p.body);
        assert!(p.field("interaction").is_some_and(|v| !v.is_empty()));
    }
    assert_eq!(rows(&app, "sessions"), 0);
    let other = app.browser();
    let page = login_page(&app, &other, &id).await;
    let p = other.login(&app, &page, "bob", PASSWORD).await;
    assert!(is_consent_page(&p), "bob is not locked out");
}

// ---- /account ----

// The account page lists the consented application; "Remove access" (with its CSRF token)
// forgets the consent and revokes the grant: the access token reads inactive and the
// refresh token is refused (checklist G11). Without the token nothing happens (C1).
#[tokio::test]
async fn account_page_removes_an_applications_access() {
    let app = spawn_app().await;
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let b = app.browser();
    let loc = b.sign_in(&app, &app.authorize_url(&id, ""), "alice").await;
    let tokens = redeem(&app, &id, &secret, &loc).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(app.introspect(&id, &secret, access).await["active"], true);

    let account = b.get(&app.url("/account")).await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("Web App"));
    assert!(account.body.contains("Remove access"));
    assert_eq!(account.field("client_id").as_deref(), Some(id.as_str()));
    let csrf = account.field("csrf").unwrap();

    let forged = b
        .post_form(
            &app.url("/account/revoke"),
            &[("csrf", "forged"), ("client_id", &id)],
        )
        .await;
    assert_eq!(forged.status, 403);
    let missing = b
        .post_form(&app.url("/account/revoke"), &[("client_id", &id)])
        .await;
    assert_eq!(missing.status, 403);
    let elsewhere = app.browser();
    let p = elsewhere
        .post_form(
            &app.url("/account/revoke"),
            &[("csrf", &csrf), ("client_id", &id)],
        )
        .await;
    assert_eq!(p.status, 303, "no session: to the login page");
    assert_eq!(app.introspect(&id, &secret, access).await["active"], true);
    assert_eq!(rows(&app, "consents"), 1);

    let done = b
        .post_form(
            &app.url("/account/revoke"),
            &[("csrf", &csrf), ("client_id", &id)],
        )
        .await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("Access removed for Web App."));
    assert!(!done.body.contains("Remove access"), "the list is empty");
    assert_eq!(
        app.introspect(&id, &secret, access).await,
        serde_json::json!({"active": false})
    );
    let r = app
        .post(
            "/oauth2/token",
            &id,
            &secret,
            &form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]),
        )
        .await;
    assert_oauth_error(r, 400, "invalid_grant").await;
    assert_eq!(rows(&app, "consents"), 0);
    assert!(
        is_consent_page(&b.get(&app.authorize_url(&id, "")).await),
        "the application must ask again"
    );
}

// ---- J10: logout ----

/// alice signed in to the web client in a browser; returns (id, secret, browser, tokens).
async fn signed_in_with_tokens(app: &TestApp) -> (String, String, Browser, Value) {
    app.user("alice").await;
    let (id, secret) = app.web_client().await;
    let b = app.browser();
    let loc = b.sign_in(app, &app.authorize_url(&id, ""), "alice").await;
    let tokens = redeem(app, &id, &secret, &loc).await;
    (id, secret, b, tokens)
}

fn logout_url(app: &TestApp, pairs: &[(&str, &str)]) -> String {
    app.url(&format!("/oauth2/logout?{}", form(pairs)))
}

// Checklist J10, K1: an unregistered post_logout_redirect_uri (or the registered one with
// a query added) and a tampered, unsigned or foreign id_token_hint give an error page and no
// redirect; the user stays signed in.
#[tokio::test]
async fn logout_refuses_unregistered_uris_and_bad_hints() {
    let app = spawn_app().await;
    let (_id, _, b, tokens) = signed_in_with_tokens(&app).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let parts: Vec<&str> = hint.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["aud"] = "another-client".into();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    let kid = jsonwebtoken::decode_header(hint).unwrap().kid.unwrap();
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&serde_json::json!({"alg": "none", "kid": kid})).unwrap())
    );
    let access = tokens["access_token"].as_str().unwrap();

    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "unregistered URI",
            vec![
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", "https://evil.example/bye"),
            ],
        ),
        (
            "registered URI with a query added",
            vec![
                ("id_token_hint", hint),
                (
                    "post_logout_redirect_uri",
                    "https://app.example/bye?foo=bar",
                ),
            ],
        ),
        (
            "registered URI, trailing slash",
            vec![
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", "https://app.example/bye/"),
            ],
        ),
        (
            "tampered hint",
            vec![
                ("id_token_hint", &tampered),
                ("post_logout_redirect_uri", BYE),
            ],
        ),
        (
            "alg none hint",
            vec![("id_token_hint", &none), ("post_logout_redirect_uri", BYE)],
        ),
        (
            "an access token as hint",
            vec![("id_token_hint", access), ("post_logout_redirect_uri", BYE)],
        ),
        (
            "hint of another client_id",
            vec![
                ("id_token_hint", hint),
                ("client_id", "another-client"),
                ("post_logout_redirect_uri", BYE),
            ],
        ),
        (
            "URI without hint or client_id",
            vec![("post_logout_redirect_uri", BYE)],
        ),
    ];
    for (what, pairs) in cases {
        let p = b.get(&logout_url(&app, &pairs)).await;
        assert_eq!(p.status, 400, "{what}: {}", p.body);
        assert!(p.location().is_none(), "{what}");
        assert!(!p.body.contains("<form"), "{what}: no confirmation");
        assert!(set_cookie(&p, SESSION).is_none(), "{what}");
        assert_page_headers(&p, what);
    }
    assert_eq!(
        b.get(&app.url("/account")).await.status,
        200,
        "still signed in"
    );
}

// Checklist J10, G11: a verified hint with a registered URI shows a confirmation page;
// confirming signs out (the next request shows the login page, the session's tokens die)
// and redirects to the registered URI with state.
#[tokio::test]
async fn logout_confirms_then_signs_out_and_redirects_with_state() {
    let app = spawn_app().await;
    let (id, secret, b, tokens) = signed_in_with_tokens(&app).await;
    let session = rows(&app, "sessions");
    assert_eq!(session, 1);
    let hint = tokens["id_token"].as_str().unwrap();
    let state = "bye+/=% 1";
    let confirm = b
        .get(&logout_url(
            &app,
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", BYE),
                ("state", state),
            ],
        ))
        .await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.location().is_none(), "a page, not a redirect");
    assert!(confirm.body.contains("Web App"), "names the application");
    assert_page_headers(&confirm, "logout confirmation");
    assert_eq!(
        rows(&app, "sessions"),
        1,
        "showing the page signs nobody out"
    );
    assert_eq!(
        app.introspect(&id, &secret, tokens["access_token"].as_str().unwrap())
            .await["active"],
        true
    );

    let done = b
        .post_form(
            &app.url("/oauth2/logout"),
            &[
                ("csrf", &confirm.field("csrf").unwrap()),
                ("interaction", &confirm.field("interaction").unwrap()),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    let loc = done.location().unwrap();
    assert!(loc.starts_with(&format!("{BYE}?")), "{loc}");
    assert_eq!(param(&loc, "state").as_deref(), Some(state));
    let cleared = set_cookie(&done, SESSION).expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(rows(&app, "sessions"), 0);
    assert!(
        is_login_page(&b.get(&app.authorize_url(&id, "")).await),
        "signed out: the login page again"
    );
    // The grant made in the session (without offline_access) ends with it.
    assert_eq!(
        app.introspect(&id, &secret, tokens["access_token"].as_str().unwrap())
            .await["active"],
        false
    );
}

// The account page's sign-out form works, and only with its CSRF token (checklist C1,
// J10).
#[tokio::test]
async fn account_sign_out_form_ends_the_session() {
    let app = spawn_app().await;
    app.user("alice").await;
    let b = app.browser();
    let page = b.get(&app.url("/login")).await;
    let p = b.login(&app, &page, "alice", PASSWORD).await;
    let value = cookie_value(&set_cookie(&p, SESSION).unwrap());
    let account = b.get(&app.url("/account")).await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("action=\"/oauth2/logout\""));
    let csrf = account.field("csrf").unwrap();

    let forged = b
        .post_form(&app.url("/oauth2/logout"), &[("csrf", "forged")])
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(
        b.get(&app.url("/account")).await.status,
        200,
        "still signed in"
    );

    let out = b
        .post_form(&app.url("/oauth2/logout"), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, 200);
    assert!(out.body.contains("You are signed out"));
    assert!(out.location().is_none());
    let gone = b.get(&app.url("/account")).await;
    assert_eq!(gone.status, 303);
    assert_eq!(gone.location().as_deref(), Some("/login"));
    assert_eq!(
        with_session_cookie(&app, "/account", &value).await.status(),
        303,
        "the old cookie value is dead on the server too"
    );
}
