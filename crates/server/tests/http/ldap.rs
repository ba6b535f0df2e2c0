//! Directory users (issue 7) against a real OpenLDAP (`slapd.rs`): sign-in through the
//! login and consent pages, claims and groups, filter injection, disabled and deleted
//! users, a directory that is down or silent, LDAPS and StartTLS, ordering and routing
//! between stores, and the same brute-force backoff as database users. Tests that need
//! slapd are ignored where it is missing; `.ci/run` installs it and runs them.

use base64::Engine;
use oauth2::reqwest;
use serde_json::Value;
use std::time::{Duration, Instant};
use valet_protocol::application::{GrantType, Profile};
use valet_server::admin::NewClient;
use valet_server::config::Partial;

use crate::flow::{PASSWORD, REDIRECT, param};
use crate::harness::{TestApp, assert_oauth_error, spawn_with};
use crate::slapd::{ADA, CAROL, GRACE, Slapd};

/// The `[[user_stores]]` tables of `toml`, as the config file would give them.
fn stores(toml: &str) -> Partial {
    toml::from_str(toml).unwrap()
}

/// A directory `staff` (people under ou=people; `employeeType=disabled` is disabled;
/// groups from ou=groups) tried before the database `customers`.
fn staff(d: &Slapd, extra: &str) -> String {
    format!(
        r#"
        [[user_stores]]
        name = "staff"
        type = "ldap"
        url = "{url}"
        base_dn = "ou=people,dc=example,dc=org"
        bind_dn = "{service}"
        bind_password_file = "{pw}"
        user_filter = "(&(objectClass=inetOrgPerson)(!(employeeType=disabled)))"
        email_verified = true
        groups_base_dn = "ou=groups,dc=example,dc=org"
        connect_timeout = 1
        timeout = 2
        retry_interval = 1
        {extra}

        [[user_stores]]
        name = "customers"
        type = "database"
        "#,
        url = d.url(),
        service = crate::slapd::SERVICE_DN,
        pw = d.service_password_file().display(),
    )
}

async fn spawn_stores(toml: String) -> TestApp {
    let user_stores = stores(&toml).user_stores;
    spawn_with(move |p| Partial { user_stores, ..p }).await
}

/// A confidential application allowed the code, password and refresh grants.
async fn legacy_client(app: &TestApp) -> (String, String) {
    app.client(NewClient {
        name: "Legacy".into(),
        profile: Some(Profile::Web),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: Some(vec![
            GrantType::AuthorizationCode,
            GrantType::Password,
            GrantType::RefreshToken,
        ]),
        ..Default::default()
    })
    .await
}

async fn password_grant(
    app: &TestApp,
    (id, secret): &(String, String),
    username: &str,
    password: &str,
) -> reqwest::Response {
    app.http
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("scope", "openid profile email"),
        ])
        .send()
        .await
        .unwrap()
}

async fn refresh(app: &TestApp, (id, secret): &(String, String), token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap()
}

async fn userinfo(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

async fn ok_json(r: reqwest::Response) -> Value {
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}"))
}

// The whole browser flow for a directory user: the login page (the same page database
// users see), the consent page, the code, the tokens; the ID token's sub and UserInfo's
// claims come from the directory, groups included. A database user signs in beside.
#[tokio::test]
#[ignore = "needs slapd (run .ci/run)"]
async fn a_directory_user_signs_in_through_the_login_and_consent_pages() {
    let d = Slapd::start();
    let app = spawn_stores(staff(&d, "")).await;
    app.user("bob").await;
    let (id, secret) = app.web_client().await;

    let b = app.browser();
    let login = b.get(&app.authorize_url(&id, "")).await;
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    let consent = b.login(&app, &login, "ada", ADA).await;
    assert!(consent.body.contains("value=\"allow\""), "{}", consent.body);
    let done = b.consent(&app, &consent, "allow").await;
    assert_eq!(done.status, 303, "{}", done.body);
    let code = param(&done.location().unwrap(), "code").unwrap();
    let r = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    let t = ok_json(r).await;
    let sub = format!("staff:{}", d.entry_uuid("ada").await);
    assert_eq!(jwt_claims(s(&t, "id_token"))["sub"], sub.as_str());
    let info = ok_json(userinfo(&app, s(&t, "access_token")).await).await;
    assert_eq!(info["sub"], sub.as_str());
    assert_eq!(info["preferred_username"], "ada");
    assert_eq!(info["name"], "Ada Lovelace");
    assert_eq!(info["given_name"], "Ada");
    assert_eq!(info["family_name"], "Lovelace");
    assert_eq!(info["email"], "ada@example.org");
    assert_eq!(info["email_verified"], true);
    assert_eq!(info["groups"], serde_json::json!(["engineers", "poets"]));
    let meta = ok_json(
        app.http
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        meta["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&"groups".into())
    );

    // The session is a directory user's too: the next authorization goes straight through.
    let again = b.get(&app.authorize_url(&id, "")).await;
    assert_eq!(again.status, 303, "{}", again.body);

    // A renamed entry keeps its sub: it comes from entryUUID, not from a name.
    d.set("ada", "cn", "Ada King").await;
    let info = ok_json(userinfo(&app, s(&t, "access_token")).await).await;
    assert_eq!(
        (info["sub"].as_str(), info["name"].as_str()),
        (Some(sub.as_str()), Some("Ada King"))
    );

    // A database user, on the same page.
    let other = app.browser();
    let location = other
        .sign_in(&app, &app.authorize_url(&id, ""), "bob")
        .await;
    assert!(param(&location, "code").is_some());
}

// RFC 4515 §3: values are escaped in filters. Every name below would find ada if it were
// pasted into `(uid=…)` as is; escaped, none finds anyone. `ada` itself works, so the
// failures are the escaping's doing.
#[tokio::test]
#[ignore = "needs slapd (run .ci/run)"]
async fn names_that_are_filters_find_nobody() {
    let d = Slapd::start();
    let app = spawn_stores(staff(&d, "")).await;
    let client = legacy_client(&app).await;
    for name in [
        "*",
        "ad*",
        "*a*",
        ")(uid=*",
        "ada)(uid=*",
        "ada)(|(uid=*",
        "*)(|(objectClass=*",
        "ada)(!(uid=nobody)",
        "(uid=ada)",
        "\\61da",
        "\\2a",
        "twin",
    ] {
        let r = password_grant(&app, &client, name, ADA).await;
        assert_oauth_error(r, 400, "invalid_grant").await;
    }
    let b = app.browser();
    let mut login = b.get(&app.authorize_url(&client.0, "")).await;
    for name in ["*", ")(uid=*"] {
        let p = b.login(&app, &login, name, ADA).await;
        assert_eq!(p.status, 200);
        assert!(
            p.body.contains("The username or password is not right."),
            "{name}"
        );
        // A submitted form is spent; the re-rendered one is fresh.
        login = p;
    }
    ok_json(password_grant(&app, &client, "ada", ADA).await).await;
    // An empty password is never sent: to LDAP it would be an anonymous bind (RFC 4513
    // §5.1.2), which a server may well accept.
    let r = password_grant(&app, &client, "ada", "").await;
    assert_eq!(r.status(), 400);
}

// A user disabled in the directory (no longer matching user_filter) or deleted from it
// can no longer refresh, read UserInfo, or use a browser session; one disabled from the
// start never signs in.
#[tokio::test]
#[ignore = "needs slapd (run .ci/run)"]
async fn disabled_or_deleted_directory_users_lose_their_tokens() {
    let d = Slapd::start();
    let app = spawn_stores(staff(&d, "")).await;
    let client = legacy_client(&app).await;
    assert_oauth_error(
        password_grant(&app, &client, "carol", CAROL).await,
        400,
        "invalid_grant",
    )
    .await;

    let ada = ok_json(password_grant(&app, &client, "ada", ADA).await).await;
    let grace = ok_json(password_grant(&app, &client, "grace", GRACE).await).await;
    ok_json(refresh(&app, &client, s(&ada, "refresh_token")).await).await;
    let b = app.browser();
    let location = {
        let p = b.get(&app.authorize_url(&client.0, "")).await;
        let p = b.login(&app, &p, "ada", ADA).await;
        b.consent(&app, &p, "allow").await.location().unwrap()
    };
    assert!(param(&location, "code").is_some());

    d.set("ada", "employeeType", "disabled").await;
    let r = refresh(&app, &client, s(&ada, "refresh_token")).await;
    assert_oauth_error(r, 400, "invalid_grant").await;
    assert_eq!(userinfo(&app, s(&ada, "access_token")).await.status(), 401);
    let p = b.get(&app.authorize_url(&client.0, "")).await;
    assert!(
        p.body.contains("name=\"password\""),
        "the session ended: {}",
        p.body
    );
    assert_oauth_error(
        password_grant(&app, &client, "ada", ADA).await,
        400,
        "invalid_grant",
    )
    .await;

    d.delete("grace").await;
    let r = refresh(&app, &client, s(&grace, "refresh_token")).await;
    assert_oauth_error(r, 400, "invalid_grant").await;
}

// Directory down: a clear error within a bounded time (503 and Retry-After, the login
// page says why), database users unaffected (and not slowed down), failures during the
// outage not counted against the account, and recovery without a restart.
#[tokio::test]
#[ignore = "needs slapd (run .ci/run)"]
async fn a_directory_outage_is_explained_and_recovered_from() {
    let mut d = Slapd::start();
    let app = spawn_stores(staff(&d, "")).await;
    app.user("bob").await;
    let client = legacy_client(&app).await;
    ok_json(password_grant(&app, &client, "ada", ADA).await).await;

    d.stop();
    for _ in 0..12 {
        let started = Instant::now();
        let r = password_grant(&app, &client, "ada", ADA).await;
        assert!(started.elapsed() < Duration::from_secs(5), "bounded");
        assert!(r.headers().contains_key("retry-after"));
        assert_oauth_error(r, 503, "temporarily_unavailable").await;
    }
    let b = app.browser();
    let login = b.get(&app.authorize_url(&client.0, "")).await;
    let p = b.login(&app, &login, "ada", ADA).await;
    assert_eq!(p.status, 503);
    assert!(p.body.contains("is not answering"), "{}", p.body);
    assert!(
        p.body.contains("name=\"password\""),
        "the form stays: {}",
        p.body
    );

    let started = Instant::now();
    ok_json(password_grant(&app, &client, "bob", PASSWORD).await).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "database users wait for no one"
    );

    d.restart();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = ok_json(password_grant(&app, &client, "ada", ADA).await).await;
    ok_json(refresh(&app, &client, s(&t, "refresh_token")).await).await;
}

// LDAPS and StartTLS with a CA made for the run (`ca_file`), and a directory whose
// certificate is not trusted: unavailable, never an unverified connection. Login
// patterns route each name to its store.
#[tokio::test]
#[ignore = "needs slapd (run .ci/run)"]
async fn ldaps_and_starttls_verify_the_directory() {
    let d = Slapd::start();
    let table = |name: &str, url: &str, pattern: &str, tls: &str| {
        format!(
            r#"
            [[user_stores]]
            name = "{name}"
            type = "ldap"
            url = "{url}"
            login_pattern = "{pattern}"
            base_dn = "dc=example,dc=org"
            connect_timeout = 2
            timeout = 2
            {tls}
            "#
        )
    };
    let ca = format!("ca_file = \"{}\"", d.ca_file().display());
    let toml = [
        table("ldaps", &d.ldaps_url(), "ada", &ca),
        table(
            "starttls",
            &d.url(),
            "grace",
            &format!("starttls = true\n{ca}"),
        ),
        table("untrusted", &d.ldaps_url(), "carol", ""),
    ]
    .concat();
    let app = spawn_stores(toml).await;
    let client = legacy_client(&app).await;
    let t = ok_json(password_grant(&app, &client, "ada", ADA).await).await;
    assert!(s(&jwt_claims(s(&t, "id_token")), "sub").starts_with("ldaps:"));
    let t = ok_json(password_grant(&app, &client, "grace", GRACE).await).await;
    assert!(s(&jwt_claims(s(&t, "id_token")), "sub").starts_with("starttls:"));
    let r = password_grant(&app, &client, "carol", CAROL).await;
    assert_oauth_error(r, 503, "temporarily_unavailable").await;
    // No store takes this name: unknown, not unavailable.
    let r = password_grant(&app, &client, "bob", PASSWORD).await;
    assert_oauth_error(r, 400, "invalid_grant").await;
}

// The configured order decides who answers a name both stores know, and a name the
// directory's login_pattern does not match never reaches it.
#[tokio::test]
#[ignore = "needs slapd (run .ci/run)"]
async fn the_first_store_that_knows_a_name_answers() {
    let mut d = Slapd::start();
    let app = spawn_stores(staff(&d, "login_pattern = '[a-z]+'")).await;
    let db_ada = app.user("ada").await;
    app.user("bob2").await;
    let client = legacy_client(&app).await;
    assert_oauth_error(
        password_grant(&app, &client, "ada", PASSWORD).await,
        400,
        "invalid_grant",
    )
    .await;
    let t = ok_json(password_grant(&app, &client, "ada", ADA).await).await;
    let sub = s(&jwt_claims(s(&t, "id_token")), "sub").to_owned();
    assert!(sub.starts_with("staff:") && sub != db_ada, "{sub}");
    d.stop();
    let t = ok_json(password_grant(&app, &client, "bob2", PASSWORD).await).await;
    assert!(!s(&jwt_claims(s(&t, "id_token")), "sub").contains(':'));
}

// Checklist H1 for directory users: the same per-account backoff as database users.
#[tokio::test]
#[ignore = "needs slapd (run .ci/run)"]
async fn ten_wrong_directory_passwords_lock_the_account_for_a_while() {
    let d = Slapd::start();
    let app = spawn_stores(staff(&d, "")).await;
    let client = legacy_client(&app).await;
    for i in 0..10 {
        let r = password_grant(&app, &client, "ada", &format!("guess {i}")).await;
        assert_oauth_error(r, 400, "invalid_grant").await;
    }
    let r = password_grant(&app, &client, "ADA", ADA).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    ok_json(password_grant(&app, &client, "grace", GRACE).await).await;
}

// A directory that accepts connections and never answers: the sign-in fails within the
// configured timeouts, and database users are not held up. (No slapd needed.)
#[tokio::test]
async fn a_silent_directory_times_out() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming().take(16) {
            held.push(c);
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    let toml = format!(
        r#"
        [[user_stores]]
        name = "staff"
        type = "ldap"
        url = "ldap://127.0.0.1:{port}"
        base_dn = "dc=example,dc=org"
        connect_timeout = 1
        timeout = 1
        retry_interval = 30

        [[user_stores]]
        name = "customers"
        type = "database"
        "#
    );
    let app = spawn_stores(toml).await;
    app.user("bob").await;
    let client = legacy_client(&app).await;
    let started = Instant::now();
    let r = password_grant(&app, &client, "ada", ADA).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait));
    assert_oauth_error(r, 503, "temporarily_unavailable").await;
    let started = Instant::now();
    ok_json(password_grant(&app, &client, "bob", PASSWORD).await).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

// Issue 15: a directory's groups give roles (`admin_group`, `viewer_group`), asked of the
// directory at each request like everything else about the user.
#[tokio::test]
#[ignore = "needs slapd (run .ci/run)"]
async fn directory_groups_give_administrative_roles() {
    let d = Slapd::start();
    // The roles from groups are what this tests; with second factors on, a password
    // session would not administer at all (`http::console::the_console_needs_two_factors`).
    let user_stores = stores(&staff(
        &d,
        "admin_group = \"poets\"\n        viewer_group = \"engineers\"",
    ))
    .user_stores;
    let app = spawn_with(move |p| Partial {
        user_stores,
        mfa: Some("off".into()),
        ..p
    })
    .await;
    app.user("bob").await;
    let (web, _) = app.web_client().await;
    let signed_in = |name: &'static str, password: &'static str| {
        let app = &app;
        let web = web.clone();
        async move {
            let b = app.browser();
            let login = b.get(&app.authorize_url(&web, "")).await;
            let next = b.login(app, &login, name, password).await;
            assert!(next.status == 200 || next.status == 303, "{}", next.body);
            b
        }
    };
    let status = |b: &crate::flow::Browser, method: reqwest::Method, path: &str| {
        let req = b
            .http
            .request(method, app.url(path))
            .header("sec-fetch-site", "same-origin");
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let ada = signed_in("ada", ADA).await; // poets: admin
    let grace = signed_in("grace", GRACE).await; // engineers: viewer
    let bob = signed_in("bob", PASSWORD).await; // the database, no role
    assert_eq!(
        status(&ada, reqwest::Method::GET, "/admin/api/users").await,
        200
    );
    assert_eq!(
        status(&grace, reqwest::Method::GET, "/admin/api/users").await,
        200
    );
    assert_eq!(
        status(
            &grace,
            reqwest::Method::DELETE,
            &format!("/admin/api/clients/{web}")
        )
        .await,
        403
    );
    assert_eq!(
        status(&bob, reqwest::Method::GET, "/admin/api/users").await,
        403
    );
}
