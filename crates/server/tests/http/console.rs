//! The web console (`/admin`, issue 15): sign-in through Valet and back, roles (none: 403;
//! viewer: every page, no forms, every POST refused; admin: changes), CSRF on every form,
//! PRG with field errors beside their fields, and every change audited as `user:NAME`.

use valet_protocol::user::Role;
use valet_server::admin::UserChanges;
use valet_store::AuditQuery;

use crate::flow::{Browser, PASSWORD, Page};
use crate::harness::{TestApp, spawn_app};

/// A user with `role` and an authenticator app (administration needs two factors).
pub async fn with_role(app: &TestApp, username: &str, role: Role) {
    app.user(username).await;
    let ch = UserChanges {
        role: Some(role),
        ..Default::default()
    };
    app.admin
        .update_user(username, ch, None, app.now())
        .await
        .unwrap();
    authenticator(app, username).await;
}

/// The secret of `username`'s authenticator app, set up first if they have none, as
/// `/account` would store it (sealed under the master key, bound to the user).
pub async fn authenticator(app: &TestApp, username: &str) -> Option<Vec<u8>> {
    let user = app.store.user_by_username(username).await.unwrap()?;
    let sealer = app.master_key.totp_sealer().unwrap();
    let aad = format!("totp|{}", user.id);
    if let Some(r) = app.store.totp(&user.id).await.unwrap() {
        return Some(sealer.open(&aad, &r.sealed_secret).unwrap());
    }
    let secret = vec![7u8; 20];
    let record = valet_store::TotpRecord {
        user_id: user.id.clone(),
        sealed_secret: sealer.seal(&aad, &secret).unwrap(),
        last_step: 0,
        created_at: app.now(),
    };
    assert!(app.store.enrol_totp(&record, None).await.unwrap());
    Some(secret)
}

/// A browser signed in as `username` the way a person reaches the console: /admin sends
/// them to the login page, which sends them back.
pub async fn signed_in(app: &TestApp, username: &str) -> Browser {
    let b = app.browser();
    let first = b.get(&app.url("/admin")).await;
    assert_eq!(first.status, 303);
    assert_eq!(first.location().as_deref(), Some("/login?to=admin"));
    let login = b.get(&app.url("/login?to=admin")).await;
    assert_eq!(login.status, 200);
    assert_eq!(login.field("to").as_deref(), Some("admin"));
    let csrf = login.field("csrf").unwrap();
    let back = b
        .post_form(
            &app.url("/login"),
            &[
                ("username", username),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("to", "admin"),
            ],
        )
        .await;
    // Someone with an authenticator app gives its code, then is back at the console.
    let user = app.store.user_by_username(username).await.unwrap().unwrap();
    let back = if app.store.totp(&user.id).await.unwrap().is_some() {
        assert!(crate::mfa::is_code_page(&back), "{}", back.body);
        let secret = authenticator(app, username).await.unwrap();
        crate::mfa::align(app);
        let code = crate::mfa::code(app, &secret, 0);
        b.submit_code(app, &back, &code).await
    } else {
        back
    };
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location().as_deref(), Some("/admin"));
    b
}

/// The console's CSRF token, from any of its pages.
pub async fn csrf(app: &TestApp, b: &Browser) -> String {
    b.get(&app.url("/admin")).await.field("csrf").unwrap()
}

pub async fn audited(app: &TestApp, actor: &str) -> Vec<String> {
    app.store
        .audit_events(&AuditQuery {
            actor: Some(actor.into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect()
}

#[tokio::test]
async fn a_user_without_a_role_gets_a_403_page() {
    let app = spawn_app().await;
    app.user("carol").await;
    let b = signed_in(&app, "carol").await;
    let p = b.get(&app.url("/admin")).await;
    assert_eq!(p.status, 403);
    assert!(p.body.contains("no administrative role"), "{}", p.body);
    let p = b.get(&app.url("/admin/users")).await;
    assert_eq!(p.status, 403);
    // Signed in already: the login page sends a person straight back.
    let again = b.get(&app.url("/login?to=admin")).await;
    assert_eq!(again.location().as_deref(), Some("/admin"));
}

// Administration needs two factors (issue 15, once second factors exist): an admin who
// signed in with the password alone is asked for the code before any console page, and
// comes back to the console; one without a second factor is told to set one up; the
// admin API refuses both sessions.
#[tokio::test]
async fn the_console_needs_two_factors() {
    let app = spawn_app().await;
    app.user("pat").await;
    app.admin
        .update_user(
            "pat",
            UserChanges {
                role: Some(Role::Admin),
                ..Default::default()
            },
            None,
            app.now(),
        )
        .await
        .unwrap();
    // An admin without a second factor, signed in with the password.
    let pat = app.browser();
    let login = pat.get(&app.url("/login")).await;
    pat.login(&app, &login, "pat", PASSWORD).await;
    let p = pat.get(&app.url("/admin")).await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(
        p.body.contains("Two-step verification needed"),
        "{}",
        p.body
    );
    let r = pat
        .http
        .get(app.url("/admin/api/clients"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("two factors"));

    // Pat sets up an authenticator app; the same password session is asked for its code
    // at the console, then lands there.
    let secret = authenticator(&app, "pat").await.unwrap();
    let p = pat.get(&app.url("/admin/users")).await;
    assert!(crate::mfa::is_code_page(&p), "{}", p.body);
    let r = pat
        .http
        .get(app.url("/admin/api/clients"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "still one factor");
    crate::mfa::align(&app);
    let back = pat
        .submit_code(&app, &p, &crate::mfa::code(&app, &secret, 0))
        .await;
    assert_eq!(back.location().as_deref(), Some("/admin"), "{}", back.body);
    let p = pat.get(&app.url("/admin")).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let r = pat
        .http
        .get(app.url("/admin/api/clients"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_viewer_reads_every_page_and_changes_nothing() {
    let app = spawn_app().await;
    with_role(&app, "vera", Role::Viewer).await;
    app.user("bob").await;
    let (id, _) = app.web_client().await;
    app.api().await;
    let b = signed_in(&app, "vera").await;
    let keys = app.admin.keys().await.unwrap();
    let kid = keys[0].kid.clone();
    let pages = [
        "/admin".to_owned(),
        "/admin/applications".into(),
        "/admin/applications?q=web".into(),
        "/admin/applications/new".into(),
        format!("/admin/applications/{id}"),
        "/admin/apis".into(),
        "/admin/apis/https%3A%2F%2Fapi.example".into(),
        "/admin/users".into(),
        "/admin/users/bob".into(),
        "/admin/grants".into(),
        "/admin/grants?user=bob".into(),
        "/admin/keys".into(),
        "/admin/upstreams".into(),
        "/admin/audit".into(),
        "/admin/audit?actor=cli%3Atest&action=user.&since=2000-01-01".into(),
    ];
    for path in &pages {
        let p = b.get(&app.url(path)).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert!(p.body.contains("viewer"), "{path}");
        // The only form that posts is signing out.
        let html = crate::flow::unescape(&p.body);
        let posts = html.matches("method=\"post\"").count();
        let logout = html
            .matches("method=\"post\" action=\"/oauth2/logout\"")
            .count();
        assert_eq!((posts, logout), (1, 1), "{path} shows a form to a viewer");
        assert_eq!(p.headers["cache-control"], "no-store");
        assert!(p.headers.contains_key("content-security-policy"));
    }
    // Forged posts, with the viewer's own valid CSRF token: refused, nothing changes.
    let token = csrf(&app, &b).await;
    let apps_before = app.admin.list().await.unwrap().len();
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/admin/applications".into(),
            vec![
                ("name", "Forged"),
                ("profile", "spa"),
                ("redirect_uris", "https://x.example/cb"),
            ],
        ),
        (format!("/admin/applications/{id}/delete"), vec![]),
        (format!("/admin/applications/{id}/secret"), vec![]),
        ("/admin/users/bob/disable".into(), vec![]),
        (
            "/admin/users/bob/password".into(),
            vec![("password", "another long password 1")],
        ),
        (
            "/admin/users/bob".into(),
            vec![("username", "bob"), ("role", "admin")],
        ),
        ("/admin/keys/rotate".into(), vec![("alg", "ES256")]),
        (format!("/admin/keys/{kid}/revoke"), vec![]),
        ("/admin/upstreams/partner/remove".into(), vec![]),
        (
            "/admin/apis/https%3A%2F%2Fapi.example/delete".into(),
            vec![],
        ),
    ];
    for (path, mut form) in posts {
        form.push(("csrf", &token));
        let p = b.post_form(&app.url(&path), &form).await;
        assert_eq!(p.status, 403, "{path}: {}", p.body);
    }
    assert_eq!(app.admin.list().await.unwrap().len(), apps_before);
    let bob = app.admin.user("bob").await.unwrap();
    assert!(!bob.disabled);
    assert_eq!(bob.role, Role::None);
    assert_eq!(
        app.admin.keys().await.unwrap(),
        keys,
        "no key rotated or revoked"
    );
    assert!(app.admin.api("https://api.example").await.is_ok());
    let changes: Vec<_> = audited(&app, "user:vera")
        .await
        .into_iter()
        .filter(|a| !a.starts_with("signin."))
        .collect();
    assert!(changes.is_empty(), "{changes:?}");
}

#[tokio::test]
async fn without_the_csrf_token_nothing_changes() {
    let app = spawn_app().await;
    with_role(&app, "root", Role::Admin).await;
    app.user("bob").await;
    let b = signed_in(&app, "root").await;
    for token in ["", "forged"] {
        let p = b
            .post_form(
                &app.url("/admin/applications"),
                &[("name", "X"), ("profile", "spa"), ("csrf", token)],
            )
            .await;
        assert_eq!(p.status, 403, "{}", p.body);
        let p = b
            .post_form(&app.url("/admin/users/bob/disable"), &[("csrf", token)])
            .await;
        assert_eq!(p.status, 403);
    }
    assert!(app.admin.list().await.unwrap().is_empty());
    assert!(!app.admin.user("bob").await.unwrap().disabled);
    // Another admin's session's token does not work either.
    with_role(&app, "other", Role::Admin).await;
    let other = signed_in(&app, "other").await;
    let theirs = csrf(&app, &other).await;
    let p = b
        .post_form(&app.url("/admin/users/bob/disable"), &[("csrf", &theirs)])
        .await;
    assert_eq!(p.status, 403);
}

/// The text of the element with this id.
fn text_of(p: &Page, id: &str) -> String {
    let open = format!("id=\"{id}\">");
    let at = p.body.find(&open).unwrap() + open.len();
    p.body[at..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn an_admin_registers_and_edits_an_application_through_the_forms() {
    let app = spawn_app().await;
    with_role(&app, "root", Role::Admin).await;
    let b = signed_in(&app, "root").await;
    let token = csrf(&app, &b).await;
    // A rule broken: the message beside its field, the values kept.
    let p = b
        .post_form(
            &app.url("/admin/applications"),
            &[
                ("csrf", &token),
                ("name", "Kept Name"),
                ("profile", "web"),
                ("redirect_uris", "http://evil.example/cb"),
            ],
        )
        .await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.body.contains("field-error"), "{}", p.body);
    assert!(p.body.contains("value=\"Kept Name\""));
    assert!(crate::flow::unescape(&p.body).contains("http://evil.example/cb"));
    assert!(app.admin.list().await.unwrap().is_empty());
    // Created: the secret shown once, on the answer itself, not in a URL.
    let p = b
        .post_form(
            &app.url("/admin/applications"),
            &[
                ("csrf", &token),
                ("name", "Console App"),
                ("profile", "web"),
                (
                    "redirect_uris",
                    "https://app.example/cb\nhttps://app.example/cb2",
                ),
            ],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.headers["cache-control"], "no-store");
    let id = text_of(&p, "client-id");
    let mut secrets = vec![text_of(&p, "client-secret")];
    assert!(secrets[0].len() > 30);
    let rec = app.admin.get(&id).await.unwrap();
    assert_eq!(rec.app.name, "Console App");
    assert_eq!(rec.app.redirect_uris.len(), 2);
    assert!(p.body.contains("id=\"client-secret\""));
    // Its page, then an edit (PRG: 303 to the page with the outcome).
    let page = b.get(&app.url(&format!("/admin/applications/{id}"))).await;
    assert_eq!(page.status, 200);
    let etag = page.field("etag").unwrap();
    let href = app.url(&format!("/admin/applications/{id}"));
    let edit = [
        ("csrf", token.as_str()),
        ("etag", etag.as_str()),
        ("name", "Renamed"),
        ("scopes", "openid profile"),
        ("grant_types", "authorization_code"),
        ("grant_types", "refresh_token"),
        ("access_token_format", "opaque"),
        ("token_endpoint_auth_method", "client_secret_post"),
        ("require_pkce", "on"),
        ("post_logout_redirect_uris", "https://app.example/bye"),
    ];
    let p = b.post_form(&href, &edit).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(p.location().unwrap().ends_with("?done=client.updated"));
    let shown = b.get(&app.url(&p.location().unwrap())).await;
    assert!(shown.body.contains("The application was saved."));
    let app_now = app.admin.get(&id).await.unwrap().app;
    assert_eq!(app_now.name, "Renamed");
    assert_eq!(app_now.scopes, ["openid", "profile"]);
    assert!(app_now.require_pkce && !app_now.trusted);
    assert_eq!(
        app_now.post_logout_redirect_uris,
        ["https://app.example/bye"]
    );
    // The same form again, at the version it was shown at: refused as stale.
    let p = b.post_form(&href, &edit).await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains("changed since this page was shown"),
        "{}",
        p.body
    );
    // Redirect URIs, one at a time.
    let uris = format!("{href}/redirect-uris");
    let p = b
        .post_form(
            &uris,
            &[("csrf", &token), ("remove", "https://app.example/cb2")],
        )
        .await;
    assert_eq!(p.status, 303);
    let p = b
        .post_form(&uris, &[("csrf", &token), ("add", "not a uri")])
        .await;
    assert_eq!(p.status, 400);
    assert!(
        crate::flow::unescape(&p.body).contains("value=\"not a uri\""),
        "{}",
        p.body
    );
    assert_eq!(
        app.admin.get(&id).await.unwrap().app.redirect_uris,
        ["https://app.example/cb"]
    );
    // A new secret, shown once; grants revoked; deleted after the confirmation page.
    let p = b
        .post_form(&format!("{href}/secret"), &[("csrf", &token)])
        .await;
    assert_eq!(p.status, 200);
    secrets.push(text_of(&p, "client-secret"));
    let p = b
        .post_form(&format!("{href}/revoke-grants"), &[("csrf", &token)])
        .await;
    assert_eq!(p.status, 303);
    let confirm = b.get(&format!("{href}/delete")).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("cannot be undone"));
    let p = b
        .post_form(&format!("{href}/delete"), &[("csrf", &token)])
        .await;
    assert_eq!(p.status, 303);
    assert!(app.admin.get(&id).await.is_err());
    let actions = audited(&app, "user:root").await;
    for a in [
        "client.create",
        "client.update",
        "client.rotate_secret",
        "client.revoke_grants",
        "client.delete",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    // Never a secret in the trail.
    let rows = app
        .store
        .audit_events(&AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    for s in &secrets {
        assert!(rows.iter().all(|r| !r.changes.contains(s.as_str())));
    }
}
