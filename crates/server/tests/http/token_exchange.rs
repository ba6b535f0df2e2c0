//! Issue 20: token exchange (RFC 8693). An agent holding a user's token for one API gets a
//! narrower one for another API that opted in, naming the user as `sub` and itself as
//! `act` (§4.1); every rule is tried both ways.

use serde_json::Value;
use valet_protocol::application::{GrantType, Profile};
use valet_protocol::audience::{ApiScope, ExchangeRule};
use valet_server::admin::{AdminError, ApiChanges, NewApi, NewClient};

use valet_store::{AuditQuery, AuditRecord};

use crate::flow::REDIRECT;
use crate::harness::{TestApp, assert_oauth_error, spawn_app};
use crate::jwt_client::claims_of;

const GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange";
const AT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";
const ID_TOKEN: &str = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token";
const CONTACTS: &str = "https://contacts.example";

struct World {
    app: TestApp,
    user: String,
    web: (String, String),
    agent: (String, String),
    /// The contacts API's own back end: its introspector.
    backend: (String, String),
}

async fn exchanger(app: &TestApp, name: &str) -> (String, String) {
    app.client(NewClient {
        name: name.into(),
        profile: Some(Profile::Service),
        grant_types: Some(vec![GrantType::ClientCredentials, GrantType::TokenExchange]),
        ..Default::default()
    })
    .await
}

/// A user, a web application (itself allowed to exchange), an agent, and two APIs:
/// `https://api.example` (not opted in) and the contacts API, which lets the agent (for
/// `contacts:read` only) and the web application exchange into it.
async fn world() -> World {
    let app = spawn_app().await;
    app.api().await;
    let user = app.user("alice").await;
    app.admin
        .create_api(
            NewApi {
                name: None,
                audience: CONTACTS.into(),
                scopes: ["contacts:read", "contacts:write"]
                    .iter()
                    .map(|s| ApiScope {
                        name: (*s).into(),
                        description: format!("{s} things"),
                    })
                    .collect(),
                access_token_format: Default::default(),
                introspectors: vec![],
                token_exchange: vec![],
            },
            app.now(),
        )
        .await
        .unwrap();
    let web = app
        .client(NewClient {
            name: "Web App".into(),
            profile: Some(Profile::Web),
            redirect_uris: vec![REDIRECT.into()],
            scopes: Some(
                ["openid", "api:read", "contacts:read", "contacts:write"]
                    .map(String::from)
                    .to_vec(),
            ),
            grant_types: Some(vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::TokenExchange,
            ]),
            ..Default::default()
        })
        .await;
    let agent = exchanger(&app, "agent").await;
    let backend = app.service(&[]).await;
    // The API's policy names applications, so it comes after them (as on the CLI).
    app.admin
        .update_api(
            CONTACTS,
            ApiChanges {
                introspectors: Some(vec![backend.0.clone()]),
                token_exchange: Some(vec![
                    ExchangeRule::parse(&format!("{}=contacts:read", agent.0)).unwrap(),
                    ExchangeRule::parse(&web.0).unwrap(),
                ]),
                ..Default::default()
            },
            None,
            app.now(),
        )
        .await
        .unwrap();
    World {
        app,
        user,
        web,
        agent,
        backend,
    }
}

impl World {
    /// The web application's token response for alice, with `scope`.
    async fn user_tokens(&self, scope: &str) -> Value {
        let url = self.app.url(&format!(
            "/oauth2/authorize?client_id={}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
             &response_type=code&scope={scope}&state=s&nonce=n",
            self.web.0
        ));
        let location = self.app.browser().sign_in(&self.app, &url, "alice").await;
        assert!(location.contains("code="), "{location}");
        let r = self.app.redeem(&self.web.0, &self.web.1, &location).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    async fn user_token(&self, scope: &str) -> String {
        self.user_tokens(scope).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn exchange(&self, who: &(String, String), form: &str) -> reqwest::Response {
        self.app
            .post(
                "/oauth2/token",
                &who.0,
                &who.1,
                &format!("grant_type={GRANT}&{form}"),
            )
            .await
    }
}

fn subject(token: &str) -> String {
    format!("subject_token={token}&subject_token_type={AT}")
}

#[tokio::test]
async fn an_agent_gets_a_narrower_token_for_another_api_naming_itself_as_act() {
    let w = world().await;
    let token = w
        .user_token("openid+api:read+contacts:read+contacts:write")
        .await;
    let r = w
        .exchange(
            &w.agent,
            &format!(
                "{}&resource={CONTACTS}&scope=contacts:read",
                subject(&token)
            ),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    // RFC 8693 §2.2.1.
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "contacts:read");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let exchanged = body["access_token"].as_str().unwrap();
    let claims = claims_of(exchanged);
    assert_eq!(claims["sub"], w.user);
    assert_eq!(claims["aud"], CONTACTS);
    assert_eq!(claims["client_id"], w.agent.0);
    assert_eq!(claims["act"]["sub"], w.agent.0, "{claims}");
    // The API's back end sees the delegation at introspection (RFC 8693 §4.1).
    let seen = w
        .app
        .introspect(&w.backend.0, &w.backend.1, exchanged)
        .await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["sub"], w.user);
    assert_eq!(seen["act"]["sub"], w.agent.0, "{seen}");
    assert!(
        seen["exp"].as_i64().unwrap() <= claims_of(&token)["exp"].as_i64().unwrap(),
        "never outlives the subject token"
    );
    // `audience` is accepted as an alias of `resource`, and the scope defaults to all the
    // rule allows of what the subject carries.
    let r = w
        .exchange(
            &w.agent,
            &format!("{}&audience={CONTACTS}", subject(&token)),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "contacts:read");

    // The audit trail records the exchange and who acted.
    let e = audited(&w.app, "token.exchange").await;
    let details: Value = serde_json::from_str(&e.changes).unwrap();
    assert_eq!(e.actor, format!("client:{}", w.agent.0));
    assert_eq!(e.target, format!("user:{}", w.user));
    assert_eq!(details["act"]["sub"], w.agent.0, "{details}");
    assert!(!e.changes.contains(&token), "never the token itself");
}

/// The first `action` event; security events are written by a background task, so this
/// waits for that write (never for a clock).
pub async fn audited(app: &TestApp, action: &str) -> AuditRecord {
    let query = AuditQuery {
        action: Some(action.into()),
        limit: 10,
        ..Default::default()
    };
    crate::harness::audit_event(app, query).await
}

#[tokio::test]
async fn never_wider_than_the_subject_token_nor_the_apis_policy() {
    let w = world().await;
    let read_only = w.user_token("openid+contacts:read").await;
    // The subject carries no contacts:write: the web app, allowed every scope of the API,
    // still cannot get it.
    let r = w
        .exchange(
            &w.web,
            &format!(
                "{}&resource={CONTACTS}&scope=contacts:write",
                subject(&read_only)
            ),
        )
        .await;
    assert_oauth_error(r, 400, "invalid_scope").await;
    // The subject carries contacts:write, but the agent's rule allows contacts:read only.
    let both = w.user_token("openid+contacts:read+contacts:write").await;
    let r = w
        .exchange(
            &w.agent,
            &format!(
                "{}&resource={CONTACTS}&scope=contacts:write",
                subject(&both)
            ),
        )
        .await;
    assert_oauth_error(r, 400, "invalid_scope").await;
    // The web app's rule allows any scope of the API: contacts:write passes on.
    let r = w
        .exchange(
            &w.web,
            &format!(
                "{}&resource={CONTACTS}&scope=contacts:write",
                subject(&both)
            ),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn an_api_that_did_not_opt_in_cannot_be_exchanged_into() {
    let w = world().await;
    let token = w.user_token("openid+api:read+contacts:read").await;
    let r = w
        .exchange(
            &w.agent,
            &format!(
                "{}&resource=https%3A%2F%2Fapi.example&scope=api:read",
                subject(&token)
            ),
        )
        .await;
    assert_oauth_error(r, 400, "invalid_target").await;
    // An unregistered target too.
    let r = w
        .exchange(
            &w.agent,
            &format!("{}&resource=https%3A%2F%2Fnowhere.example", subject(&token)),
        )
        .await;
    assert_oauth_error(r, 400, "invalid_target").await;
    // A registered application with the grant, but named by no rule of the API.
    let stranger = exchanger(&w.app, "stranger").await;
    let r = w
        .exchange(
            &stranger,
            &format!("{}&resource={CONTACTS}", subject(&token)),
        )
        .await;
    assert_oauth_error(r, 400, "invalid_target").await;
    // The API withdraws the agent's rule: the agent's exchange stops working.
    w.app
        .admin
        .update_api(
            CONTACTS,
            ApiChanges {
                token_exchange: Some(vec![]),
                ..Default::default()
            },
            None,
            w.app.now(),
        )
        .await
        .unwrap();
    let r = w
        .exchange(
            &w.agent,
            &format!("{}&resource={CONTACTS}", subject(&token)),
        )
        .await;
    assert_oauth_error(r, 400, "invalid_target").await;
}

#[tokio::test]
async fn an_expired_or_revoked_or_foreign_subject_token_is_refused() {
    let w = world().await;
    let form = |t: &str| format!("{}&resource={CONTACTS}", subject(t));
    let token = w.user_token("openid+contacts:read").await;
    let r = w.exchange(&w.agent, &form(&token)).await;
    assert_eq!(r.status(), 200, "live: accepted");
    // Revoked by its application (RFC 7009): no longer exchangeable.
    let r = w
        .app
        .post(
            "/oauth2/revoke",
            &w.web.0,
            &w.web.1,
            &format!("token={token}"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = w.exchange(&w.agent, &form(&token)).await;
    assert_oauth_error(r, 400, "invalid_request").await;
    // Expired: the clock passes its exp.
    let token = w.user_token("openid+contacts:read").await;
    w.app.clock.advance(w.app.settings.access_token_ttl + 1);
    let r = w.exchange(&w.agent, &form(&token)).await;
    assert_oauth_error(r, 400, "invalid_request").await;
    // Not Valet's: a token signed by nobody we know, garbage, a missing type.
    let r = w
        .exchange(&w.agent, &form("eyJhbGciOiJub25lIn0.e30."))
        .await;
    assert_oauth_error(r, 400, "invalid_request").await;
    let r = w
        .exchange(&w.agent, &format!("subject_token=x&resource={CONTACTS}"))
        .await;
    assert_oauth_error(r, 400, "invalid_request").await;
    let r = w
        .exchange(
            &w.agent,
            "subject_token=x&subject_token_type=urn%3Aexample%3Abogus",
        )
        .await;
    assert_oauth_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn the_actor_token_is_the_requesters_own_and_acts_chain() {
    let w = world().await;
    let token = w.user_token("openid+contacts:read").await;
    // The agent names its own client_credentials token as the actor.
    let own = w.app.token(&w.agent.0, &w.agent.1).await;
    let r = w
        .exchange(
            &w.agent,
            &format!(
                "{}&resource={CONTACTS}&actor_token={own}&actor_token_type={AT}",
                subject(&token)
            ),
        )
        .await;
    assert_eq!(r.status(), 200);
    let first: Value = r.json().await.unwrap();
    let first = first["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&first)["act"]["sub"], w.agent.0);
    // Another application's token is no proof of who acts (RFC 8693 §2.1).
    let (other, other_secret) = w.app.service(&[]).await;
    let theirs = w.app.token(&other, &other_secret).await;
    let r = w
        .exchange(
            &w.agent,
            &format!(
                "{}&resource={CONTACTS}&actor_token={theirs}&actor_token_type={AT}",
                subject(&token)
            ),
        )
        .await;
    assert_oauth_error(r, 400, "invalid_request").await;
    // An actor_token without its type (§2.1: required with it).
    let r = w
        .exchange(
            &w.agent,
            &format!("{}&resource={CONTACTS}&actor_token={own}", subject(&token)),
        )
        .await;
    assert_oauth_error(r, 400, "invalid_request").await;
    // The exchanged token exchanged again: the earlier actor nests (§4.1).
    let r = w
        .exchange(&w.web, &format!("{}&resource={CONTACTS}", subject(&first)))
        .await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    let claims = claims_of(second["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], w.user);
    assert_eq!(claims["act"]["sub"], w.web.0, "{claims}");
    assert_eq!(claims["act"]["act"]["sub"], w.agent.0, "{claims}");
}

#[tokio::test]
async fn an_id_token_of_the_requester_is_a_subject_too() {
    let w = world().await;
    let tokens = w.user_tokens("openid+contacts:read").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let form =
        format!("subject_token={id_token}&subject_token_type={ID_TOKEN}&resource={CONTACTS}");
    let r = w.exchange(&w.web, &form).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "contacts:read");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["sub"],
        w.user
    );
    // The ID token was issued to the web application: the agent holding it proves nothing.
    let r = w.exchange(&w.agent, &form).await;
    assert_oauth_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn only_a_confidential_application_allowed_the_grant_exchanges() {
    let w = world().await;
    let token = w.user_token("openid+contacts:read").await;
    let plain = w.app.service(&[]).await;
    let r = w
        .exchange(&plain, &format!("{}&resource={CONTACTS}", subject(&token)))
        .await;
    assert_oauth_error(r, 400, "unauthorized_client").await;
    // An API's policy names only such applications.
    let err = w
        .app
        .admin
        .update_api(
            CONTACTS,
            ApiChanges {
                token_exchange: Some(vec![ExchangeRule::parse(&plain.0).unwrap()]),
                ..Default::default()
            },
            None,
            w.app.now(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AdminError::Field { field, .. } if field == "token_exchange"),
        "{err:?}"
    );
    // A rule's scopes must be the API's.
    let err = w
        .app
        .admin
        .update_api(
            CONTACTS,
            ApiChanges {
                token_exchange: Some(vec![
                    ExchangeRule::parse(&format!("{}=api:read", w.agent.0)).unwrap(),
                ]),
                ..Default::default()
            },
            None,
            w.app.now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AdminError::Invalid(_)), "{err:?}");
}

/// A token request with a DPoP proof (RFC 9449 §5).
async fn with_proof(
    app: &TestApp,
    who: &(String, String),
    body: &str,
    proof: &str,
) -> reqwest::Response {
    app.http
        .post(app.url("/oauth2/token"))
        .basic_auth(&who.0, Some(&who.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("DPoP", proof)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

// A DPoP-bound subject token is exchanged only with a proof of its key: a copy of it alone
// would otherwise buy an unbound token (RFC 9449 §6).
#[tokio::test]
async fn a_dpop_bound_subject_token_needs_a_proof_of_its_key() {
    let w = world().await;
    let key = crate::jwt_client::ClientKey::es256("holder");
    let (svc, svc_secret) = w.app.service(&["contacts:read"]).await;
    let url = w.app.url("/oauth2/token");
    let r = with_proof(
        &w.app,
        &(svc, svc_secret),
        "grant_type=client_credentials&scope=contacts:read",
        &key.dpop("POST", &url, w.app.now(), None),
    )
    .await;
    assert_eq!(r.status(), 200);
    let bound: Value = r.json().await.unwrap();
    assert_eq!(bound["token_type"], "DPoP");
    let bound = bound["access_token"].as_str().unwrap();
    let form = format!("grant_type={GRANT}&{}&resource={CONTACTS}", subject(bound));
    let r = w
        .app
        .post("/oauth2/token", &w.agent.0, &w.agent.1, &form)
        .await;
    assert_oauth_error(r, 400, "invalid_request").await;
    let other = crate::jwt_client::ClientKey::es256("other");
    let r = with_proof(
        &w.app,
        &w.agent,
        &form,
        &other.dpop("POST", &url, w.app.now(), None),
    )
    .await;
    assert_oauth_error(r, 400, "invalid_request").await;
    // The holder of the key: accepted, and the new token is bound to it too.
    let r = with_proof(
        &w.app,
        &w.agent,
        &form,
        &key.dpop("POST", &url, w.app.now(), None),
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());
}
