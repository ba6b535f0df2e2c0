//! The web console's users, APIs, grants and keys pages: each change made through the
//! forms, audited as the person who made it, from their address, never with a secret.

use valet_protocol::application::{Origin, Registration};
use valet_protocol::user::Role;
use valet_store::AuditQuery;

use crate::console::{audited, csrf, signed_in, with_role};
use crate::flow::PASSWORD;
use crate::harness::spawn_app;

#[tokio::test]
async fn users_apis_grants_and_keys_changes_are_audited_as_the_person() {
    let app = spawn_app().await;
    with_role(&app, "root", Role::Admin).await;
    let b = signed_in(&app, "root").await;
    let token = csrf(&app, &b).await;
    let post = |path: &str, form: Vec<(&'static str, String)>| {
        let url = app.url(path);
        let mut form = form;
        form.push(("csrf", token.clone()));
        let b = &b;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            b.post_form(&url, &pairs).await
        }
    };
    // A user: a weak password is refused beside its field, the username kept.
    let p = post(
        "/admin/users",
        vec![("username", "dave".into()), ("password", "short".into())],
    )
    .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("value=\"dave\""));
    assert!(
        !p.body.contains("value=\"short\""),
        "a password is never shown again"
    );
    let p = post(
        "/admin/users",
        vec![
            ("username", "dave".into()),
            ("password", PASSWORD.into()),
            ("name", "Dave".into()),
        ],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = post(
        "/admin/users/dave",
        vec![
            ("username", "dave".into()),
            ("name", "Dave Example".into()),
            ("email", "dave@example.com".into()),
            ("role", "viewer".into()),
        ],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let dave = app.admin.user("dave").await.unwrap();
    assert_eq!(dave.role, Role::Viewer);
    assert_eq!(dave.claims.name.as_deref(), Some("Dave Example"));
    for path in [
        "/admin/users/dave/disable",
        "/admin/users/dave/enable",
        "/admin/users/dave/revoke",
    ] {
        assert_eq!(post(path, vec![]).await.status, 303, "{path}");
    }
    let p = post(
        "/admin/users/dave/password",
        vec![("password", "a new long passphrase here".into())],
    )
    .await;
    assert_eq!(p.status, 303);
    // An API and its scopes.
    let p = post(
        "/admin/apis",
        vec![
            ("audience", "https://contacts.example".into()),
            ("access_token_format", "jwt".into()),
            ("scopes", "contacts.read=Read your contacts".into()),
        ],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let api = "/admin/apis/https%3A%2F%2Fcontacts.example";
    let p = post(
        &format!("{api}/scopes"),
        vec![
            ("name", "contacts.write".into()),
            ("description", "Change them".into()),
        ],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = post(
        &format!("{api}/scopes/remove"),
        vec![("name", "contacts.write".into())],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(post(&format!("{api}/delete"), vec![]).await.status, 303);
    // A grant, revoked from the console.
    app.user("erin").await;
    let (id, _) = app.web_client().await;
    app.browser()
        .sign_in(&app, &app.authorize_url(&id, ""), "erin")
        .await;
    let grants = b.get(&app.url("/admin/grants?user=erin")).await;
    assert_eq!(grants.status, 200);
    let grant = app
        .admin
        .grants(Some("erin"), None, None, 10, app.now())
        .await
        .unwrap();
    assert_eq!(grant.len(), 1);
    let p = post(
        &format!("/admin/grants/{}/revoke", grant[0].grant_id),
        vec![("user", "erin".into())],
    )
    .await;
    assert_eq!(p.status, 303);
    assert_eq!(
        p.location().as_deref(),
        Some("/admin/users/erin?done=grant.revoked")
    );
    assert!(
        app.admin
            .grants(Some("erin"), None, None, 10, app.now())
            .await
            .unwrap()
            .is_empty()
    );
    // Keys: a rotation and an emergency revocation.
    assert_eq!(
        post("/admin/keys/rotate", vec![("alg", "ES256".into())])
            .await
            .status,
        303
    );
    let kid = app.admin.keys().await.unwrap()[0].kid.clone();
    assert_eq!(
        post(&format!("/admin/keys/{kid}/revoke"), vec![])
            .await
            .status,
        303
    );
    // Delete the user last.
    assert_eq!(post("/admin/users/dave/delete", vec![]).await.status, 303);
    let actions = audited(&app, "user:root").await;
    for a in [
        "user.create",
        "user.update",
        "user.disable",
        "user.enable",
        "user.revoke",
        "user.set_password",
        "user.delete",
        "api.create",
        "api.scope.add",
        "api.scope.remove",
        "api.delete",
        "grant.revoke",
        "key.rotate",
        "key.revoke",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    let rows = app
        .store
        .audit_events(&AuditQuery {
            actor: Some("user:root".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| r.address.as_deref() == Some("127.0.0.1"))
    );
    assert!(rows.iter().all(|r| !r.changes.contains(PASSWORD)));
    // The trail page shows them, filtered.
    let trail = b
        .get(&app.url("/admin/audit?actor=user%3Aroot&action=key."))
        .await;
    assert_eq!(trail.status, 200);
    assert!(trail.body.contains("key.revoke") && !trail.body.contains("user.create"));
    let home = b.get(&app.url("/admin")).await;
    assert!(home.body.contains("active sessions"));
}

#[tokio::test]
async fn an_api_is_edited_and_a_self_registered_application_judged_from_the_console() {
    let app = spawn_app().await;
    with_role(&app, "root", Role::Admin).await;
    app.api().await;
    let b = signed_in(&app, "root").await;
    let token = csrf(&app, &b).await;
    // The API: a new name and a scope's new description, at the version shown.
    let href = app.url("/admin/apis/https%3A%2F%2Fapi.example");
    let page = b.get(&href).await;
    assert_eq!(page.status, 200);
    let etag = page.field("etag").unwrap();
    let scope = app
        .admin
        .api("https://api.example")
        .await
        .unwrap()
        .api
        .scopes[0]
        .name
        .clone();
    let field = format!("description.{scope}");
    let p = b
        .post_form(
            &href,
            &[
                ("csrf", token.as_str()),
                ("etag", &etag),
                ("name", "Renamed API"),
                ("access_token_format", "opaque"),
                ("introspectors", ""),
                (&field, "A clearer description"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let api = app.admin.api("https://api.example").await.unwrap();
    assert_eq!(api.name, "Renamed API");
    assert_eq!(api.api.scopes[0].description, "A clearer description");
    // An introspector that is not registered: the message beside the field.
    let p = b
        .post_form(
            &href,
            &[
                ("csrf", token.as_str()),
                ("name", "Renamed API"),
                ("access_token_format", "jwt"),
                ("introspectors", "nobody"),
            ],
        )
        .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("field-error"), "{}", p.body);
    // A self-registered application: verified, quarantined, approved.
    let (id, _) = app.web_client().await;
    let mut record = app.store.client(&id).await.unwrap().unwrap();
    record.app.registration = Registration {
        origin: Origin::Dynamic,
        ..Default::default()
    };
    assert!(app.store.update_client(&record).await.unwrap());
    let page = b.get(&app.url(&format!("/admin/applications/{id}"))).await;
    assert!(page.body.contains("not verified"), "{}", page.body);
    let listed = b.get(&app.url("/admin/applications?origin=dynamic")).await;
    assert!(listed.body.contains(&id));
    let none = b.get(&app.url("/admin/applications?origin=cimd")).await;
    assert!(!none.body.contains(&id));
    let decide = app.url(&format!("/admin/applications/{id}/registration"));
    for (decision, verified, quarantined) in [
        ("verify", true, false),
        ("quarantine", true, true),
        ("approve", true, false),
    ] {
        let p = b
            .post_form(&decide, &[("csrf", &token), ("decision", decision)])
            .await;
        assert_eq!(p.status, 303, "{decision}: {}", p.body);
        let r = app.admin.get(&id).await.unwrap().app.registration;
        assert_eq!(
            (r.verified, r.quarantined),
            (verified, quarantined),
            "{decision}"
        );
    }
    let actions = audited(&app, "user:root").await;
    for a in [
        "api.update",
        "client.verify",
        "client.quarantine",
        "client.approve",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}
