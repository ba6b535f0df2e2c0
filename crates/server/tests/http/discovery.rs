//! Discovery metadata and JWKS (checklist N2, K8) and the health endpoints.

use crate::harness::spawn_app;
use serde_json::Value;
use std::collections::HashSet;

#[tokio::test]
async fn metadata_is_truthful() {
    let app = spawn_app().await;
    app.api().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let m: Value = r.json().await.unwrap();
        assert_eq!(
            m["issuer"], app.settings.issuer,
            "issuer is the well-known prefix"
        );
        for (k, v) in m.as_object().unwrap() {
            if k.ends_with("endpoint") || k == "jwks_uri" {
                assert!(v.as_str().unwrap().starts_with("https://"), "{k}");
                let resolved = v.as_str().unwrap().strip_prefix(&app.base).unwrap();
                let status = app
                    .http
                    .get(app.url(resolved))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_ne!(status, 404, "{k} must exist");
            }
        }
        let grants = m["grant_types_supported"].as_array().unwrap();
        for g in ["authorization_code", "refresh_token", "client_credentials"] {
            assert!(grants.contains(&g.into()), "{g}");
        }
        assert_eq!(
            m["scopes_supported"],
            serde_json::json!([
                "openid",
                "profile",
                "email",
                "address",
                "phone",
                "offline_access",
                "api:read",
                "api:write"
            ])
        );
        // Checklist E10, A12.
        assert_eq!(
            m["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
        assert_eq!(
            m["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256", "PS256", "ES256", "EdDSA"])
        );
        // Issue 19: the PAR endpoint exists and only takes POST.
        assert_eq!(
            m["pushed_authorization_request_endpoint"],
            app.url("/oauth2/par")
        );
        assert!(
            m["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&"private_key_jwt".into())
        );
        assert_eq!(
            m["dpop_signing_alg_values_supported"],
            serde_json::json!(["PS256", "ES256", "EdDSA", "RS256"])
        );
    }
}

#[tokio::test]
async fn jwks_publishes_public_keys_only() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/oauth2/jwks")).send().await.unwrap();
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=300")
    );
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let algs: HashSet<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, HashSet::from(["ES256", "RS256", "PS256", "EdDSA"]));
    let kids: HashSet<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), keys.len(), "kids are distinct");
    for k in keys {
        assert_eq!(k["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                k.get(private).is_none(),
                "{private} must never be published"
            );
        }
    }
}

#[tokio::test]
async fn health() {
    let app = spawn_app().await;
    let live = app.http.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready: Value = app
        .http
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    let missing = app.http.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}
