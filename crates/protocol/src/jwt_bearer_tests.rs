use super::*;
use crate::ErrorCode;
use crate::audience::ApiScope;
use crate::client_assertion::{MAX_FUTURE, MAX_LIFETIME};
use serde_json::json;

const NOW: UnixTime = 1_700_000_000;
const IDP: &str = "https://idp.example";
const US: &str = "https://valet.example";
const CONTACTS: &str = "https://contacts.example";

fn policy() -> IssuerPolicy {
    IssuerPolicy {
        issuer: IDP.into(),
        audiences: vec![CONTACTS.into()],
        scopes: vec!["contacts:read".into()],
        clients: vec![],
    }
}

fn apis() -> Vec<Api> {
    let api = |aud: &str, scopes: &[&str]| Api {
        audience: aud.into(),
        scopes: scopes
            .iter()
            .map(|s| ApiScope {
                name: (*s).into(),
                description: String::new(),
            })
            .collect(),
        access_token_format: Default::default(),
        introspectors: vec![],
        token_exchange: vec![],
    };
    vec![
        api(CONTACTS, &["contacts:read", "contacts:write"]),
        api("https://calendar.example", &["calendar:read"]),
    ]
}

fn claims(extra: Value) -> BearerClaims {
    let mut c = json!({
        "iss": IDP, "sub": "alice", "aud": US, "exp": NOW + 300, "iat": NOW, "jti": "j1",
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    serde_json::from_value(c).unwrap()
}

fn want() -> Expected<'static> {
    Expected {
        issuer: US,
        token_endpoint: "https://valet.example/oauth2/token",
        client_id: "agent",
        now: NOW,
    }
}

#[test]
fn a_good_assertion_is_accepted_once_until_it_expires() {
    let a = check(&claims(json!({})), &policy(), &want()).unwrap();
    assert_eq!(a.jti, "j1");
    assert_eq!(a.until, NOW + 300 + EXP_LEEWAY);
    // The token endpoint's URL is an audience too, in a list.
    let c = claims(json!({"aud": ["https://other", "https://valet.example/oauth2/token"]}));
    assert!(check(&c, &policy(), &want()).is_ok());
}

#[test]
fn each_rule_of_section_3_is_refused_on_its_own() {
    for (extra, why) in [
        (json!({"iss": "https://evil.example"}), "iss"),
        (json!({"sub": null}), "sub"),
        (json!({"sub": ""}), "sub"),
        (json!({"aud": "https://elsewhere.example"}), "aud"),
        (json!({"aud": null}), "aud"),
        (json!({"exp": null}), "exp"),
        (json!({"exp": NOW - EXP_LEEWAY}), "expired"),
        (
            json!({"exp": NOW + MAX_LIFETIME + MAX_FUTURE + 1}),
            "too long",
        ),
        (json!({"nbf": NOW + MAX_FUTURE + 1}), "nbf"),
        (json!({"iat": NOW + MAX_FUTURE + 1}), "iat"),
        (json!({"jti": null}), "jti"),
        (json!({"jti": "x".repeat(300)}), "jti"),
        (json!({"client_id": "someone-else"}), "client_id"),
    ] {
        let e = check(&claims(extra.clone()), &policy(), &want()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidGrant, "{extra}");
        assert!(e.description().contains(why), "{extra}: {e:?}");
    }
    assert!(check(&claims(json!({"client_id": "agent"})), &policy(), &want()).is_ok());
}

#[test]
fn the_issuers_policy_names_who_may_present_its_assertions() {
    let mut p = policy();
    p.clients = vec!["another".into()];
    let e = check(&claims(json!({})), &p, &want()).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnauthorizedClient);
    p.clients.push("agent".into());
    assert!(check(&claims(json!({})), &p, &want()).is_ok());
}

#[test]
fn the_token_stays_within_the_policy_and_the_assertion() {
    let none = Params::parse(b"", &[]).unwrap();
    let s = select(&none, &claims(json!({})), &policy(), &apis(), US).unwrap();
    assert_eq!(s.scope.to_wire(), "contacts:read");
    assert_eq!(s.audience, [CONTACTS]);
    // The assertion's ID-JAG `resource` and `scope` are taken when the request has none.
    let c = claims(json!({"resource": CONTACTS, "scope": "contacts:read"}));
    let s = select(&none, &c, &policy(), &apis(), US).unwrap();
    assert_eq!(s.audience, [CONTACTS]);
    // Wider than the policy.
    let wide = Params::parse(b"scope=contacts%3Awrite", &[]).unwrap();
    let e = select(&wide, &claims(json!({})), &policy(), &apis(), US).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    // Wider than the assertion.
    let mut p = policy();
    p.scopes.push("contacts:write".into());
    let c = claims(json!({"scope": "contacts:read"}));
    let e = select(&wide, &c, &p, &apis(), US).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    // An API outside the policy's audiences.
    let other = Params::parse(b"resource=https%3A%2F%2Fcalendar.example", &["resource"]).unwrap();
    let e = select(&other, &claims(json!({})), &policy(), &apis(), US).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidTarget);
    let c = claims(json!({"resource": "https://calendar.example"}));
    let e = select(&none, &c, &policy(), &apis(), US).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidTarget);
    // Nothing grantable (the policy's only scope is not in the assertion).
    let c = claims(json!({"scope": "calendar:read"}));
    let e = select(&none, &c, &policy(), &apis(), US).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
}

#[test]
fn the_user_is_named_by_a_claim_and_other_jwts_are_not_grants() {
    let c = claims(json!({"email": "alice@example.com"}));
    assert_eq!(c.user_claim("sub"), Some("alice"));
    assert_eq!(c.user_claim("email"), Some("alice@example.com"));
    assert_eq!(c.user_claim("upn"), None);
    assert_eq!(
        claimed_issuer(br#"{"iss":"https://idp.example"}"#).as_deref(),
        Some(IDP)
    );
    assert_eq!(claimed_issuer(b"{}"), None);
    for typ in ["at+jwt", "application/at+jwt", "dpop+jwt", "logout+jwt"] {
        assert!(!typ_acceptable(Some(typ)), "{typ}");
    }
    for typ in [None, Some("JWT"), Some(ID_JAG_TYP)] {
        assert!(typ_acceptable(typ), "{typ:?}");
    }
}
