//! Issue 21: configuration as code. `export` writes a database's applications and APIs;
//! applied to an empty database (SQLite, and PostgreSQL where one is given) it makes the
//! same configuration, after which `plan` finds nothing to do; drift, unmanaged records,
//! `--prune` and refusals are shown as a reviewer would want them.

use valet_protocol::application::{GrantType, Profile};
use valet_protocol::audience::{ApiScope, ExchangeRule};
use valet_server::admin::desired::{Change, Desired};
use valet_server::admin::{ClientChanges, NewApi, NewClient, NewUpstream};
use valet_server::config::Partial;

use crate::harness::{TestApp, spawn_app, spawn_with};

/// A deployment worth exporting: an API with an introspector and an exchange rule, a
/// service, a web app and an agent.
async fn populate(app: &TestApp) {
    let (backend, _) = app
        .client(NewClient {
            name: "Inventory backend".into(),
            profile: Some(Profile::Service),
            ..Default::default()
        })
        .await;
    let (agent, _) = app
        .client(NewClient {
            name: "Agent".into(),
            profile: Some(Profile::Service),
            grant_types: Some(vec![GrantType::ClientCredentials, GrantType::TokenExchange]),
            ..Default::default()
        })
        .await;
    let scope = |n: &str| ApiScope {
        name: n.into(),
        description: format!("{n} the inventory"),
    };
    app.admin
        .create_api(
            NewApi {
                name: Some("Inventory".into()),
                audience: "https://inventory.example".into(),
                scopes: vec![scope("inventory.read"), scope("inventory.write")],
                access_token_format: Default::default(),
                introspectors: vec![backend],
                token_exchange: vec![ExchangeRule {
                    client_id: agent,
                    scopes: vec!["inventory.read".into()],
                }],
            },
            app.now(),
        )
        .await
        .unwrap();
    app.client(NewClient {
        name: "Sync job".into(),
        profile: Some(Profile::Service),
        scopes: Some(vec!["inventory.read".into()]),
        ..Default::default()
    })
    .await;
    app.client(NewClient {
        name: "Shop".into(),
        profile: Some(Profile::Web),
        redirect_uris: vec!["https://shop.example/cb".into()],
        post_logout_redirect_uris: vec!["https://shop.example/".into()],
        scopes: Some(vec!["openid".into(), "inventory.read".into()]),
        require_mfa: true,
        access_token_ttl: Some(300),
        ..Default::default()
    })
    .await;
}

/// No environment: a new upstream's secret is not needed.
fn no_env(_: &str) -> Option<String> {
    None
}

/// Administration that may seal an upstream's secret (the CLI's context).
fn admin(app: &TestApp) -> valet_server::admin::Admin {
    app.admin
        .clone()
        .with_upstream_context(app.master_key.sealer().unwrap(), &app.settings)
}

/// A plain OAuth 2.0 provider (no discovery to fetch).
fn corp() -> NewUpstream {
    NewUpstream {
        id: "corp".into(),
        name: "Corp SSO".into(),
        issuer: None,
        authorization_endpoint: Some("https://sso.corp.example/authorize".into()),
        token_endpoint: Some("https://sso.corp.example/token".into()),
        userinfo_endpoint: Some("https://sso.corp.example/userinfo".into()),
        client_id: "valet-at-corp".into(),
        client_secret: "the corp secret".into(),
        auth_method: None,
        scopes: Some(vec!["profile".into(), "email".into()]),
        claims: None,
        domains: Some(vec!["corp.example".into()]),
        users: None,
        link_by_verified_email: None,
        keep_refresh_token: None,
        trust_mfa: None,
        timeout: None,
    }
}

async fn round_trip(target: TestApp) {
    let source = spawn_app().await;
    populate(&source).await;
    admin(&source)
        .create_upstream(corp(), source.now())
        .await
        .unwrap();
    let text = admin(&source).export().await.unwrap().to_toml();
    assert!(
        !text.contains("the corp secret") && !text.contains("client_secret ="),
        "{text}"
    );
    assert!(
        text.contains("client_secret_env = \"UPSTREAM_CORP_CLIENT_SECRET\""),
        "{text}"
    );
    // (`parse` refuses a client_id or a secret in an application's table.)
    let file = Desired::parse(&text).unwrap();
    let target_admin = admin(&target);
    let env = |v: &str| (v == "UPSTREAM_CORP_CLIENT_SECRET").then(|| "the new secret".to_owned());

    // Without the variable, the new provider is refused, naming it.
    let e = target_admin
        .apply(&file, false, &no_env, target.now())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("UPSTREAM_CORP_CLIENT_SECRET"), "{e}");

    let plan = target_admin.plan(&file, false).await.unwrap();
    assert!(plan.refused.is_empty(), "{:?}", plan.refused);
    let creates = plan
        .changes
        .iter()
        .filter(|c| matches!(c, Change::CreateApplication { .. }))
        .count();
    assert_eq!(creates, 4, "{}", plan.render());
    let applied = target_admin
        .apply(&file, false, &env, target.now())
        .await
        .unwrap();
    assert_eq!(
        applied.secrets.len(),
        4,
        "each confidential application's secret, once"
    );

    let again = target_admin.plan(&file, false).await.unwrap();
    assert!(
        again.changes.is_empty() && again.refused.is_empty(),
        "{}",
        again.render()
    );
    // The same file out of the new database: references by name, not by client_id.
    assert_eq!(target_admin.export().await.unwrap().to_toml(), text);
    // And applying once more changes nothing.
    let twice = target_admin
        .apply(&file, false, &no_env, target.now())
        .await
        .unwrap();
    assert_eq!(twice.changes, 0);
    let up = target_admin.upstream("corp").await.unwrap();
    assert_eq!(
        (up.source, up.client_id.as_str()),
        ("database", "valet-at-corp")
    );

    // The API's references resolve to the new database's applications.
    let api = target.admin.api("https://inventory.example").await.unwrap();
    let apps = target.admin.list().await.unwrap();
    let id = |name: &str| {
        apps.iter()
            .find(|a| a.name == name)
            .unwrap()
            .client_id
            .clone()
    };
    assert_eq!(api.api.introspectors, [id("Inventory backend")]);
    assert_eq!(api.api.token_exchange[0].client_id, id("Agent"));
}

#[tokio::test]
async fn export_then_apply_on_an_empty_sqlite_database_then_plan_shows_no_change() {
    round_trip(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set VALET_TEST_POSTGRES"
)]
async fn export_then_apply_on_an_empty_postgres_database_then_plan_shows_no_change() {
    let db = valet_store::postgres::testdb::TestDatabase::create()
        .await
        .unwrap();
    let target = spawn_with(|p| Partial {
        database: Some(db.url.clone()),
        ..p
    })
    .await;
    round_trip(target).await;
}

#[tokio::test]
async fn drift_unmanaged_records_prune_and_refusals() {
    let app = spawn_app().await;
    populate(&app).await;
    let file = app.admin.export().await.unwrap();

    // Someone changed the shop by hand: the plan says what, from and to.
    let shop = app
        .admin
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.name == "Shop")
        .unwrap();
    app.admin
        .update_client(
            &shop.client_id,
            ClientChanges {
                require_mfa: Some(false),
                ..Default::default()
            },
            None,
            app.now(),
        )
        .await
        .unwrap();
    let extra = app.service(&[]).await.0;
    let plan = app.admin.plan(&file, false).await.unwrap();
    let text = plan.render();
    assert!(text.contains("~ application \"Shop\""), "{text}");
    assert!(text.contains("require_mfa: false → true"), "{text}");
    assert_eq!(plan.changes.len(), 1, "{text}");
    assert!(text.contains("left alone: application \"svc\""), "{text}");

    // --prune deletes what the file does not name; apply puts the shop back.
    let plan = app.admin.plan(&file, true).await.unwrap();
    assert!(
        plan.changes.iter().any(
            |c| matches!(c, Change::DeleteApplication { client_id, .. } if *client_id == extra)
        )
    );
    app.admin
        .apply(&file, true, &no_env, app.now())
        .await
        .unwrap();
    assert!(app.admin.get(&extra).await.is_err(), "pruned");
    assert!(
        app.admin
            .plan(&file, true)
            .await
            .unwrap()
            .changes
            .is_empty()
    );

    // A profile cannot change in place; two applications of one name cannot be told apart.
    let mut changed = file.clone();
    for a in &mut changed.applications {
        if a["name"] == "Shop" {
            a.insert("profile".into(), "spa".into());
        }
    }
    let plan = app.admin.plan(&changed, false).await.unwrap();
    assert!(
        plan.refused[0].contains("profile cannot change"),
        "{:?}",
        plan.refused
    );
    assert!(
        app.admin
            .apply(&changed, false, &no_env, app.now())
            .await
            .is_err()
    );
    app.service(&[]).await;
    app.service(&[]).await;
    let mut named = file.clone();
    named.applications.push(
        serde_json::json!({ "name": "svc", "profile": "service" })
            .as_object()
            .unwrap()
            .clone(),
    );
    let plan = app.admin.plan(&named, false).await.unwrap();
    assert!(
        plan.refused[0].contains("names 2 applications"),
        "{:?}",
        plan.refused
    );
}

#[test]
fn a_file_is_refused_for_what_it_must_not_hold() {
    for (bad, says) in [
        (
            "[[applications]]\nname = \"a\"\nclient_secret = \"x\"\n",
            "never in the file",
        ),
        ("[[applications]]\nprofile = \"web\"\n", "without a name"),
        (
            "[[applications]]\nname = \"a\"\n[[applications]]\nname = \"a\"\n",
            "twice",
        ),
        ("[[clients]]\nname = \"a\"\n", "unknown key `clients`"),
        ("applications = 3\n", "array of tables"),
    ] {
        let e = Desired::parse(bad).unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}
