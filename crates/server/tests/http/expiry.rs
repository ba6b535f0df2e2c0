//! Issue 12 item 8: Valet's own JWT access tokens are dead at `exp` (`exp <= now` is
//! expired) at introspection, UserInfo and the admin API. The clock-skew leeway is for
//! clocks other than Valet's (an API checking tokens locally); it never extends a token at
//! the server that issued it.

use serde_json::{Value, json};

use crate::harness::{TestApp, spawn_app};

/// Valet's claims for `client_id`, changed by `set`, signed with Valet's own key.
async fn signed(app: &TestApp, client_id: &str, set: &[(&str, Value)]) -> String {
    let mut c = app.claims(client_id);
    let now = app.now();
    c["iat"] = json!(now - 600);
    c["nbf"] = json!(now - 600);
    for (k, v) in set {
        c[*k] = v.clone();
    }
    app.sign_with_valet_key("at+jwt", &c).await
}

async fn status(app: &TestApp, path: &str, token: &str) -> u16 {
    app.http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn valet_tokens_are_dead_at_exp_everywhere_valet_checks_them() {
    let app = spawn_app().await;
    app.api().await;
    let sub = app.user("alice").await;
    let (id, secret) = app.service(&["api:read", "valet:admin"]).await;
    let now = app.now();
    // Within the old 30 s leeway: exactly at `exp`, and a few seconds after it.
    let dead = [now, now - 1, now - 29];

    // Introspection.
    for exp in dead {
        let t = signed(&app, &id, &[("exp", json!(exp))]).await;
        assert_eq!(
            app.introspect(&id, &secret, &t).await,
            json!({"active": false}),
            "exp {} s ago",
            now - exp
        );
    }
    let live = signed(&app, &id, &[("exp", json!(now + 60))]).await;
    assert_eq!(app.introspect(&id, &secret, &live).await["active"], true);

    // UserInfo: a user's openid token.
    let user = |exp: i64| {
        vec![
            ("sub", json!(sub)),
            ("aud", json!(app.settings.issuer)),
            ("scope", json!("openid")),
            ("exp", json!(exp)),
        ]
    };
    for exp in dead {
        let t = signed(&app, &id, &user(exp)).await;
        assert_eq!(status(&app, "/userinfo", &t).await, 401, "exp {exp}");
    }
    let t = signed(&app, &id, &user(now + 60)).await;
    assert_eq!(status(&app, "/userinfo", &t).await, 200);

    // The admin API.
    let admin = |exp: i64| {
        vec![
            ("aud", json!(app.settings.admin_audience())),
            ("scope", json!("valet:admin")),
            ("exp", json!(exp)),
        ]
    };
    for exp in dead {
        let t = signed(&app, &id, &admin(exp)).await;
        assert_eq!(
            status(&app, "/admin/api/clients", &t).await,
            401,
            "exp {exp}"
        );
    }
    let t = signed(&app, &id, &admin(now + 60)).await;
    assert_eq!(status(&app, "/admin/api/clients", &t).await, 200);
}
