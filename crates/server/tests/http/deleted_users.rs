//! Issue 12 item 9: a user's tokens — JWT and opaque access tokens, refresh tokens — read
//! inactive at introspection once the user is deleted or disabled, as refresh and UserInfo
//! already refuse them. The user is asked of their store at each introspection; a
//! directory that does not answer makes introspection fail closed (503), never "active".

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use valet_protocol::application::Profile;
use valet_protocol::opaque_token::AccessTokenFormat;
use valet_server::admin::NewClient;
use valet_server::config::Partial;

use crate::flow::REDIRECT;
use crate::harness::{TestApp, spawn_app, spawn_with};

/// A web application whose access tokens have `format`.
async fn web(app: &TestApp, format: AccessTokenFormat) -> (String, String) {
    app.client(NewClient {
        name: format!("{format} web"),
        profile: Some(Profile::Web),
        redirect_uris: vec![REDIRECT.into()],
        access_token_format: format,
        ..Default::default()
    })
    .await
}

/// `username` signs in to each application; each one's (client, access, refresh token).
async fn tokens_of(
    app: &TestApp,
    username: &str,
    clients: &[(String, String)],
) -> Vec<((String, String), String, String)> {
    let b = app.browser();
    let mut out = Vec::new();
    for (id, secret) in clients {
        let location = b.sign_in(app, &app.authorize_url(id, ""), username).await;
        let r = app.redeem(id, secret, &location).await;
        assert_eq!(r.status(), 200);
        let t: Value = r.json().await.unwrap();
        out.push((
            (id.clone(), secret.clone()),
            t["access_token"].as_str().unwrap().to_owned(),
            t["refresh_token"].as_str().unwrap().to_owned(),
        ));
    }
    out
}

/// Whether introspection says each access and refresh token is active.
async fn actives(app: &TestApp, tokens: &[((String, String), String, String)]) -> Vec<bool> {
    let mut out = Vec::new();
    for ((id, secret), access, refresh) in tokens {
        for t in [access, refresh] {
            let v = app.introspect(id, secret, t).await;
            if v["active"] == false {
                assert_eq!(v, json!({"active": false}), "nothing else is said");
            }
            out.push(v["active"] == true);
        }
    }
    out
}

#[tokio::test]
async fn a_deleted_or_disabled_users_tokens_are_inactive_at_introspection() {
    let app = spawn_app().await;
    app.user("alice").await;
    let bob = app.user("bob").await;
    let clients = [
        web(&app, AccessTokenFormat::Jwt).await,
        web(&app, AccessTokenFormat::Opaque).await,
    ];
    let alice_tokens = tokens_of(&app, "alice", &clients).await;
    let bob_tokens = tokens_of(&app, "bob", &clients).await;
    assert!(alice_tokens[1].1.starts_with("valet_at_"), "opaque");
    assert_eq!(actives(&app, &alice_tokens).await, [true; 4]);
    assert_eq!(actives(&app, &bob_tokens).await, [true; 4]);

    app.admin.delete_user("alice", app.now()).await.unwrap();
    assert_eq!(actives(&app, &alice_tokens).await, [false; 4], "deleted");
    assert_eq!(
        actives(&app, &bob_tokens).await,
        [true; 4],
        "others keep theirs"
    );

    // Disabled (the database has no command for it yet; a directory has its own flag).
    let db = rusqlite::Connection::open(app.sqlite_path()).unwrap();
    db.execute("UPDATE users SET disabled = 1 WHERE id = ?1", [&bob])
        .unwrap();
    assert_eq!(actives(&app, &bob_tokens).await, [false; 4], "disabled");
}

// The user of a directory store that accepts connections and never answers: introspection
// of that user's token is a 503 with Retry-After within the directory's timeouts, never
// `active`; a service's token (no user) is still answered.
#[tokio::test]
async fn a_directory_that_does_not_answer_fails_introspection_closed() {
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
        "#
    );
    let user_stores = toml::from_str::<Partial>(&toml).unwrap().user_stores;
    let app = spawn_with(move |p| Partial { user_stores, ..p }).await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    let mut claims = app.claims(&id);
    claims["sub"] = json!("staff:0f8fad5b-d9cb-469f-a165-70867728950e");
    claims["grant_id"] = json!(format!("g{}", app.now()));
    let users_token = app.sign_with_valet_key("at+jwt", &claims).await;

    let started = Instant::now();
    let r = app
        .post(
            "/oauth2/introspect",
            &id,
            &secret,
            &format!("token={users_token}"),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(4), "bounded");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_ne!(body["active"], true, "fails closed: {body}");

    let service_token = app.token(&id, &secret).await;
    assert_eq!(
        app.introspect(&id, &secret, &service_token).await["active"],
        true
    );
}
