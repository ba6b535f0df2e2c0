//! Issue 20: the JWT bearer grant (RFC 7523 §2.1) from a trusted issuer. The issuer's
//! assertions are signed by the tests' own key through `jsonwebtoken`; Valet maps their
//! `email` to its user and issues a token for the policy's API and scopes, once per `jti`.

use serde_json::{Value, json};
use valet_protocol::application::{GrantType, Profile};
use valet_server::admin::NewClient;
use valet_server::trusted_issuers::TrustedIssuerConfig;

use crate::harness::{TestApp, assert_oauth_error, spawn_with};
use crate::jwt_client::{ClientKey, claims_of, jti};

const GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
const IDP: &str = "https://idp.example";

struct World {
    app: TestApp,
    key: ClientKey,
    agent: (String, String),
    user: String,
}

async fn world() -> World {
    let key = ClientKey::es256("idp-1");
    let jwks = key.jwks();
    let app = spawn_with(move |p| valet_server::config::Partial {
        trusted_issuers: Some(vec![TrustedIssuerConfig {
            issuer: IDP.into(),
            jwks: Some(jwks),
            jwks_uri: None,
            jwks_file: None,
            audiences: vec!["https://api.example".into()],
            scopes: vec!["api:read".into()],
            clients: None,
            user_claim: Some("email".into()),
            users: Some("email".into()),
        }]),
        ..p
    })
    .await;
    app.api().await;
    let user = app.user("alice").await;
    let agent = app
        .client(NewClient {
            name: "agent".into(),
            profile: Some(Profile::Service),
            grant_types: Some(vec![GrantType::JwtBearer]),
            ..Default::default()
        })
        .await;
    World {
        app,
        key,
        agent,
        user,
    }
}

impl World {
    /// The claims of a good assertion for the agent about alice.
    fn claims(&self) -> Value {
        let now = self.app.now();
        json!({
            "iss": IDP, "sub": "idp-user-7", "email": "alice@example.com",
            "aud": self.app.settings.issuer, "client_id": self.agent.0,
            "iat": now, "exp": now + 300, "jti": jti(), "scope": "api:read",
            "resource": "https://api.example",
        })
    }

    async fn present(&self, assertion: &str, extra: &str) -> reqwest::Response {
        self.app
            .post(
                "/oauth2/token",
                &self.agent.0,
                &self.agent.1,
                &format!("grant_type={GRANT}&assertion={assertion}{extra}"),
            )
            .await
    }
}

#[tokio::test]
async fn an_assertion_from_a_trusted_issuer_yields_a_token_for_the_mapped_user() {
    let w = world().await;
    let assertion = w.key.sign(Some("oauth-id-jag+jwt"), &w.claims());
    let r = w.present(&assertion, "").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "api:read");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let claims = claims_of(token);
    assert_eq!(claims["sub"], w.user, "mapped by email to Valet's user");
    assert_eq!(claims["aud"], "https://api.example");
    assert_eq!(claims["client_id"], w.agent.0);
    let seen = w.app.introspect(&w.agent.0, &w.agent.1, token).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["sub"], w.user);
    // RFC 7523 §3 item 7: the same assertion again is refused, on any node.
    let r = w.present(&assertion, "").await;
    let body = assert_oauth_error(r, 400, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("used before")
    );
    // The grant is the user's like any other, shown with the application.
    let grants = w
        .app
        .admin
        .grants(Some("alice"), None, None, 10, w.app.now())
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
}

#[tokio::test]
async fn an_assertion_not_from_a_trusted_issuer_or_not_for_us_is_refused() {
    let w = world().await;
    let cases: Vec<(&str, Value)> = vec![
        ("untrusted issuer", json!({"iss": "https://evil.example"})),
        ("no issuer", json!({"iss": null})),
        (
            "for another server",
            json!({"aud": "https://other.example"}),
        ),
        ("expired", json!({"exp": w.app.now() - 120})),
        ("from the future", json!({"iat": w.app.now() + 3600})),
        (
            "for another application",
            json!({"client_id": "someone-else"}),
        ),
        ("without jti", json!({"jti": null})),
        ("without sub", json!({"sub": null})),
        ("an unknown user", json!({"email": "mallory@example.com"})),
        ("no email", json!({"email": null})),
    ];
    for (what, change) in cases {
        let mut claims = w.claims();
        claims["jti"] = "one-jti".into();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        let r = w.present(&w.key.sign(Some("JWT"), &claims), "").await;
        assert_eq!(r.status(), 400, "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "{what}: {body}");
    }
    // Signed by a key that is not the issuer's.
    let stranger = ClientKey::es256("idp-1");
    let r = w.present(&stranger.sign(None, &w.claims()), "").await;
    assert_oauth_error(r, 400, "invalid_grant").await;
    // A JWT of another kind (RFC 8725 §3.11), and garbage.
    let r = w
        .present(&w.key.sign(Some("at+jwt"), &w.claims()), "")
        .await;
    assert_oauth_error(r, 400, "invalid_grant").await;
    let r = w.present("not-a-jwt", "").await;
    assert_oauth_error(r, 400, "invalid_grant").await;
    let r = w
        .app
        .post(
            "/oauth2/token",
            &w.agent.0,
            &w.agent.1,
            &format!("grant_type={GRANT}"),
        )
        .await;
    assert_oauth_error(r, 400, "invalid_request").await;
    // None of the refused assertions used up their jti: a good one with it still works.
    let mut good = w.claims();
    good["jti"] = "one-jti".into();
    let r = w.present(&w.key.sign(None, &good), "").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_issuers_policy_bounds_scope_and_audience() {
    let w = world().await;
    // api:write is the API's, but not the issuer's to give.
    let r = w
        .present(&w.key.sign(None, &w.claims()), "&scope=api:write")
        .await;
    assert_oauth_error(r, 400, "invalid_scope").await;
    // A registered API outside the policy.
    let r = w
        .present(
            &w.key.sign(None, &w.claims()),
            "&resource=https%3A%2F%2Fother.example",
        )
        .await;
    assert_oauth_error(r, 400, "invalid_target").await;
    // An application not allowed the grant.
    let (plain, plain_secret) = w.app.service(&[]).await;
    let mut claims = w.claims();
    claims["client_id"] = plain.clone().into();
    let r = w
        .app
        .post(
            "/oauth2/token",
            &plain,
            &plain_secret,
            &format!("grant_type={GRANT}&assertion={}", w.key.sign(None, &claims)),
        )
        .await;
    assert_oauth_error(r, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn a_bad_trusted_issuers_table_stops_the_server_at_start() {
    use valet_server::config::{Partial, Settings};
    let bad = |t: TrustedIssuerConfig| {
        Settings::resolve(Partial {
            trusted_issuers: Some(vec![t]),
            ..Default::default()
        })
    };
    let base = TrustedIssuerConfig {
        issuer: IDP.into(),
        jwks: None,
        jwks_uri: Some("https://idp.example/jwks".into()),
        jwks_file: None,
        audiences: vec!["https://api.example".into()],
        scopes: vec!["api:read".into()],
        clients: None,
        user_claim: None,
        users: None,
    };
    assert!(bad(base.clone()).is_ok());
    let no_aud = TrustedIssuerConfig {
        audiences: vec![],
        ..base.clone()
    };
    assert!(bad(no_aud).unwrap_err().contains("audiences"));
    let twice = Settings::resolve(Partial {
        trusted_issuers: Some(vec![base.clone(), base]),
        ..Default::default()
    });
    assert!(twice.unwrap_err().contains("twice"));
}
