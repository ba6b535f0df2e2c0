//! Per-application ID token choices: `id_token_signed_response_alg` RS256 (default),
//! PS256, ES256 or EdDSA (OIDC Registration §2), each verified by `jsonwebtoken` against
//! the published JWKS; `subject_type` pairwise (OIDC Core §8.1): a `sub` per sector,
//! the same in the ID token and UserInfo, different from the user's id and from another
//! sector's, and an `id_token_hint` naming it still recognised.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use valet_protocol::application::{Profile, SigningAlg, SubjectType};
use valet_server::admin::NewClient;

use crate::flow::{REDIRECT, param};
use crate::harness::{TestApp, spawn_app};

async fn client(
    app: &TestApp,
    alg: Option<SigningAlg>,
    subject: SubjectType,
    redirect: &str,
) -> (String, String) {
    app.client(NewClient {
        name: "Choosy".into(),
        profile: Some(Profile::Web),
        redirect_uris: vec![redirect.into()],
        id_token_alg: alg,
        subject_type: subject,
        ..Default::default()
    })
    .await
}

/// The tokens of a code flow of `id` for alice (redirecting to `redirect`).
async fn tokens(app: &TestApp, id: &str, secret: &str, redirect: &str) -> Value {
    let enc: String = form_urlencoded::byte_serialize(redirect.as_bytes()).collect();
    let url = app.url(&format!(
        "/oauth2/authorize?client_id={id}&redirect_uri={enc}&response_type=code\
         &scope=openid+profile&state=s&nonce=n"
    ));
    let location = app.browser().sign_in(app, &url, "alice").await;
    let code = param(&location, "code").unwrap();
    let r = app
        .post(
            "/oauth2/token",
            id,
            secret,
            &format!("grant_type=authorization_code&code={code}&redirect_uri={enc}"),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Verifies `jwt` with `jsonwebtoken` and the JWKS key its header names.
async fn verify(app: &TestApp, jwt: &str, aud: &str) -> (String, Value) {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let jwks = app.jwks().await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("the ID token's kid is published")
        .clone();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).unwrap();
    let key = DecodingKey::from_jwk(&jwk).unwrap();
    let mut v = Validation::new(header.alg);
    v.set_audience(&[aud]);
    v.set_issuer(&[&app.settings.issuer]);
    let data = jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap();
    (format!("{:?}", header.alg), data.claims)
}

#[tokio::test]
async fn each_application_gets_id_tokens_in_its_algorithm() {
    let app = spawn_app().await;
    app.user("alice").await;
    for (alg, expected) in [
        (None, Algorithm::RS256),
        (Some(SigningAlg::PS256), Algorithm::PS256),
        (Some(SigningAlg::ES256), Algorithm::ES256),
        (Some(SigningAlg::EdDSA), Algorithm::EdDSA),
    ] {
        let (id, secret) = client(&app, alg, SubjectType::Public, REDIRECT).await;
        let t = tokens(&app, &id, &secret, REDIRECT).await;
        let (got, claims) = verify(&app, t["id_token"].as_str().unwrap(), &id).await;
        assert_eq!(got, format!("{expected:?}"));
        assert_eq!(claims["nonce"], "n");
    }
    // Discovery says so, RS256 first (OIDC Core §15.1).
    let d: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "PS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn pairwise_subjects_differ_per_sector_and_agree_within_one() {
    let app = spawn_app().await;
    let user_id = app.user("alice").await;
    let (a, a_secret) = client(&app, None, SubjectType::Pairwise, REDIRECT).await;
    let (b, b_secret) = client(
        &app,
        None,
        SubjectType::Pairwise,
        "https://other.example/cb",
    )
    .await;
    let (c, c_secret) = client(&app, None, SubjectType::Pairwise, REDIRECT).await;
    let sub_of =
        |t: &Value| crate::jwt_client::claims_of(t["id_token"].as_str().unwrap())["sub"].clone();
    let ta = tokens(&app, &a, &a_secret, REDIRECT).await;
    let tb = tokens(&app, &b, &b_secret, "https://other.example/cb").await;
    let tc = tokens(&app, &c, &c_secret, REDIRECT).await;
    let (sa, sb, sc) = (sub_of(&ta), sub_of(&tb), sub_of(&tc));
    assert_ne!(sa, user_id, "not the user's own id");
    assert_ne!(sa, sb, "another sector, another sub");
    assert_eq!(sa, sc, "one sector (app.example), one sub");
    // UserInfo gives the application the same sub as its ID token.
    let info: Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(ta["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], sa);
    // A hint naming the pairwise sub is the signed-in user (OIDC Core §3.1.2.1).
    let browser = app.browser();
    let url = app.authorize_url(&a, "");
    browser.sign_in(&app, &url, "alice").await;
    let hint = ta["id_token"].as_str().unwrap();
    let page = browser
        .get(&app.authorize_url(&a, &format!("&prompt=none&id_token_hint={hint}")))
        .await;
    let location = page.location().unwrap();
    assert!(param(&location, "code").is_some(), "{location}");
}
