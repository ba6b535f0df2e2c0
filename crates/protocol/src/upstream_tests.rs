use super::*;
use serde_json::json;

fn claims(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn good() -> Value {
    json!({
        "iss": "https://corp.example", "aud": "valet", "sub": "alice",
        "exp": 2_000, "iat": 1_000, "nonce": "n-1",
    })
}

const EXPECTED: Expected<'static> = Expected {
    issuer: "https://corp.example",
    client_id: "valet",
    nonce: "n-1",
    now: 1_500,
    max_age: None,
};

fn with(change: impl FnOnce(&mut Map<String, Value>)) -> Result<(), Refusal> {
    let mut c = claims(good());
    change(&mut c);
    check_id_token(&c, &EXPECTED)
}

#[test]
fn a_good_id_token_passes() {
    assert_eq!(with(|_| {}), Ok(()));
    // An array audience naming us, with azp us.
    assert_eq!(
        with(|c| {
            c.insert("aud".into(), json!(["valet", "other"]));
            c.insert("azp".into(), json!("valet"));
        }),
        Ok(())
    );
}

#[test]
fn every_id_token_rule_refuses() {
    type Change = Box<dyn FnOnce(&mut Map<String, Value>)>;
    let cases: Vec<(Change, Refusal)> = vec![
        (
            Box::new(|c| {
                c.insert("iss".into(), json!("https://evil.example"));
            }),
            Refusal::Issuer,
        ),
        (
            Box::new(|c| {
                c.remove("iss");
            }),
            Refusal::Issuer,
        ),
        (
            Box::new(|c| {
                c.insert("aud".into(), json!("someone-else"));
            }),
            Refusal::Audience,
        ),
        (
            Box::new(|c| {
                c.insert("aud".into(), json!(["valet", "other"]));
            }),
            Refusal::AuthorizedParty,
        ),
        (
            Box::new(|c| {
                c.insert("azp".into(), json!("other"));
            }),
            Refusal::AuthorizedParty,
        ),
        (
            Box::new(|c| {
                c.insert("exp".into(), json!(1_440));
            }),
            Refusal::Expired,
        ),
        (
            Box::new(|c| {
                c.insert("iat".into(), json!(1_561));
            }),
            Refusal::IssuedInFuture,
        ),
        (
            Box::new(|c| {
                c.remove("nonce");
            }),
            Refusal::Nonce,
        ),
        (
            Box::new(|c| {
                c.insert("nonce".into(), json!("n-2"));
            }),
            Refusal::Nonce,
        ),
        (
            Box::new(|c| {
                c.remove("exp");
            }),
            Refusal::Malformed("no exp"),
        ),
    ];
    for (change, refusal) in cases {
        assert_eq!(with(change), Err(refusal));
    }
    // Within the leeway, an expiry just past still passes.
    assert_eq!(
        with(|c| {
            c.insert("exp".into(), json!(1_441));
        }),
        Ok(())
    );
}

#[test]
fn response_issuer_rfc_9207() {
    let iss = Some("https://corp.example");
    assert_eq!(check_response_issuer(iss, true, iss), Ok(()));
    assert_eq!(check_response_issuer(iss, false, None), Ok(()));
    assert_eq!(
        check_response_issuer(iss, true, None),
        Err(Refusal::ResponseIssuerMissing)
    );
    assert!(matches!(
        check_response_issuer(iss, false, Some("https://evil.example")),
        Err(Refusal::ResponseIssuer(_))
    ));
    assert_eq!(check_response_issuer(None, false, Some("x")), Ok(()));
}

#[test]
fn claims_map_with_numeric_subjects_and_strict_verification() {
    let github = Mapping {
        sub: "id".into(),
        preferred_username: "login".into(),
        ..Mapping::default()
    };
    let a = map_claims(
        &github,
        &claims(
            json!({"id": 583231, "login": "octo", "email": "octo@hub.example", "name": "Octo"}),
        ),
    )
    .unwrap();
    assert_eq!(a.subject, "583231");
    assert_eq!(a.preferred_username.as_deref(), Some("octo"));
    assert!(!a.email_verified, "no claim is no verification");
    assert_eq!(federated_username("hub", &a), "hub:octo");
    assert_eq!(federated_sub("hub", &a.subject), "hub:583231");

    let m = Mapping::default();
    let v = map_claims(
        &m,
        &claims(json!({"sub": "a", "email": "a@corp.example", "email_verified": "true"})),
    )
    .unwrap();
    assert!(v.email_verified);
    let not = map_claims(
        &m,
        &claims(json!({"sub": "a", "email": "a@corp.example", "email_verified": "yes"})),
    )
    .unwrap();
    assert!(!not.email_verified);
    // No address, nothing verified; a bad address is dropped.
    let bad = map_claims(
        &m,
        &claims(json!({"sub": "a", "email": "not an address", "email_verified": true})),
    )
    .unwrap();
    assert_eq!((bad.email, bad.email_verified), (None, false));
    for s in [
        json!(""),
        json!("a b"),
        json!(1.5),
        json!(["a"]),
        json!("x".repeat(256)),
    ] {
        assert!(map_claims(&m, &claims(json!({ "sub": s }))).is_err(), "{s}");
    }
    assert!(map_claims(&m, &claims(json!({}))).is_err());
}

#[test]
fn an_address_alone_never_takes_over_an_account() {
    let verified = Asserted {
        subject: "s".into(),
        email: Some("bob@example.com".into()),
        email_verified: true,
        ..Default::default()
    };
    let unverified = Asserted {
        email_verified: false,
        ..verified.clone()
    };
    let open = Policy {
        create_users: true,
        link_by_verified_email: true,
    };
    let strict = Policy {
        create_users: true,
        link_by_verified_email: false,
    };
    let bob = vec!["u-bob".to_owned()];
    let sign_in = Purpose::SignIn;
    assert_eq!(
        decide(&sign_in, None, &verified, open, &bob),
        Decision::LinkTo("u-bob".into())
    );
    assert_eq!(
        decide(&sign_in, None, &unverified, open, &bob),
        Decision::Refuse(Refused::EmailTaken)
    );
    assert_eq!(
        decide(&sign_in, None, &verified, strict, &bob),
        Decision::Refuse(Refused::EmailTaken)
    );
    // Two accounts with the address: which one? Neither.
    let two = vec!["u-1".to_owned(), "u-2".to_owned()];
    assert_eq!(
        decide(&sign_in, None, &verified, open, &two),
        Decision::Refuse(Refused::EmailTaken)
    );
    assert_eq!(
        decide(&sign_in, None, &unverified, strict, &[]),
        Decision::Create
    );
    let existing_only = Policy {
        create_users: false,
        link_by_verified_email: false,
    };
    assert_eq!(
        decide(&sign_in, None, &unverified, existing_only, &[]),
        Decision::Refuse(Refused::NoAccount)
    );
    // A link decides, whatever the address says.
    assert_eq!(
        decide(&sign_in, Some("u-x"), &unverified, strict, &bob),
        Decision::SignInAs("u-x".into())
    );
}

#[test]
fn linking_from_the_account_page() {
    let a = Asserted {
        subject: "s".into(),
        ..Default::default()
    };
    let p = Policy {
        create_users: false,
        link_by_verified_email: false,
    };
    let me = Purpose::Link {
        user_id: "u-me".into(),
    };
    assert_eq!(
        decide(&me, None, &a, p, &[]),
        Decision::LinkTo("u-me".into())
    );
    assert_eq!(
        decide(&me, Some("u-me"), &a, p, &[]),
        Decision::AlreadyLinked
    );
    assert_eq!(
        decide(&me, Some("u-other"), &a, p, &[]),
        Decision::Refuse(Refused::LinkedElsewhere)
    );
}

#[test]
fn a_fresh_sign_in_needs_a_recent_auth_time() {
    let fresh = Expected {
        max_age: Some(0),
        ..EXPECTED
    };
    let mut c = claims(good());
    assert_eq!(check_id_token(&c, &fresh), Err(Refusal::AuthTime));
    c.insert("auth_time".into(), json!(1_499));
    assert_eq!(check_id_token(&c, &fresh), Ok(()));
    c.insert("auth_time".into(), json!(1_000));
    assert_eq!(check_id_token(&c, &fresh), Err(Refusal::AuthTime));
    assert_eq!(fresh_sign_in(true, None), Some(0));
    assert_eq!(fresh_sign_in(true, Some(300)), Some(0));
    assert_eq!(fresh_sign_in(false, Some(300)), Some(300));
    assert_eq!(fresh_sign_in(false, None), None);
}

#[test]
fn a_providers_amr_counts_only_when_trusted() {
    let c = claims(json!({"amr": ["pwd", "mfa", "otp", "made-up", 7]}));
    assert!(session_amr(false, &c).is_empty());
    assert_eq!(session_amr(true, &c), ["pwd", "mfa", "otp"]);
    assert!(session_amr(true, &claims(json!({"amr": "mfa"}))).is_empty());
    assert!(session_amr(true, &claims(json!({}))).is_empty());
}
