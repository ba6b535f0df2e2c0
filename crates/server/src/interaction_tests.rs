use super::*;
use crate::clock::{Clock, ManualClock};
use crate::crypto::MasterKey;

const BROWSER: &str = "login:one-browser";

fn sealer() -> Sealer {
    MasterKey::generate().unwrap().interaction_sealer().unwrap()
}

fn device() -> Interaction {
    Interaction::Device(DeviceInteraction {
        user_code_hash: "aGFzaA".into(),
        user_code: "BCDF-GHJK".into(),
        client_id: "tv".into(),
    })
}

fn request() -> AuthorizationRequest {
    use valet_protocol::authorize::{Prompt, ResponseMode, ResponseType};
    AuthorizationRequest {
        client_id: "web".into(),
        redirect_uri: "https://app.example/cb".into(),
        redirect_uri_sent: true,
        response_type: ResponseType::Code,
        response_mode: ResponseMode::Query,
        scope: valet_protocol::scope::Scope::parse("openid profile").unwrap(),
        audience: vec!["https://valet.example".into()],
        state: Some("st1".into()),
        nonce: Some("n".into()),
        pkce: None,
        prompt: Prompt::default(),
        max_age: Some(60),
        login_hint: Some("alice".into()),
        id_token_hint: None,
        acr_values: vec![],
        dpop_jkt: None,
    }
}

fn logout() -> Interaction {
    Interaction::Logout(AfterLogout {
        redirect: Some("https://app.example/bye".into()),
        state: Some("st".into()),
    })
}

#[test]
fn an_interaction_opens_as_it_was_sealed() {
    let s = sealer();
    let now = 1_700_000_000;
    let text = seal_with(&s, BROWSER, &Interaction::Authorize(request()), now).unwrap();
    let o = open_with(&s, Kind::SIGN_IN, BROWSER, &text, now).unwrap();
    assert_eq!(o.interaction.kind(), Kind::Authorize);
    assert_eq!(o.interaction.client_id(), Some("web"));
    let Interaction::Authorize(r) = o.interaction else {
        panic!("an authorization request")
    };
    assert_eq!(r, request());

    let text = seal_with(&s, BROWSER, &device(), now).unwrap();
    let o = open_with(&s, Kind::SIGN_IN, BROWSER, &text, now).unwrap();
    let Interaction::Device(d) = o.interaction else {
        panic!("a device interaction")
    };
    assert_eq!(
        (
            d.user_code_hash.as_str(),
            d.user_code.as_str(),
            d.client_id.as_str()
        ),
        ("aGFzaA", "BCDF-GHJK", "tv")
    );
    assert_eq!(o.expires_at, now + TTL);

    let text = seal_with(&s, "session:x", &logout(), now).unwrap();
    let o = open_with(&s, &[Kind::Logout], "session:x", &text, now).unwrap();
    let Interaction::Logout(a) = o.interaction else {
        panic!("a logout interaction")
    };
    assert_eq!(a.redirect.as_deref(), Some("https://app.example/bye"));
    assert_eq!(a.state.as_deref(), Some("st"));
}

// The plaintext is the envelope with the kind's payload alone, the kind in the
// associated data: the format forms were sealed in before `Interaction` existed, so a
// form shown by an older node still opens on a newer one.
#[test]
fn the_kind_is_in_the_associated_data() {
    let s = sealer();
    let text = seal_with(&s, BROWSER, &device(), 100).unwrap();
    let raw = unb64(&text).unwrap();
    assert!(s.open(BROWSER, &raw).is_err());
    let json = s.open(&format!("device|{BROWSER}"), &raw).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["expires_at"], 100 + TTL);
    assert_eq!(v["value"]["client_id"], "tv");
    assert_eq!(v["value"]["user_code"], "BCDF-GHJK");
    assert!(v["id"].as_str().is_some_and(|id| id.len() >= 16));
}

#[test]
fn each_seal_is_fresh() {
    let s = sealer();
    let a = seal_with(&s, BROWSER, &device(), 0).unwrap();
    let b = seal_with(&s, BROWSER, &device(), 0).unwrap();
    assert_ne!(a, b);
    let id = |t: &str| open_with(&s, &[Kind::Device], BROWSER, t, 0).unwrap().id;
    assert_ne!(
        id(&a),
        id(&b),
        "a random id each time: each form counts once"
    );
}

#[test]
fn another_kind_does_not_open() {
    let s = sealer();
    let text = seal_with(&s, BROWSER, &device(), 0).unwrap();
    assert!(open_with(&s, &[Kind::Authorize, Kind::Logout], BROWSER, &text, 0).is_none());
    assert!(open_with(&s, &[], BROWSER, &text, 0).is_none());
    let text = seal_with(&s, BROWSER, &logout(), 0).unwrap();
    assert!(
        open_with(&s, Kind::SIGN_IN, BROWSER, &text, 0).is_none(),
        "the login form takes no sign-out"
    );
    assert!(open_with(&s, &[Kind::Logout], BROWSER, &text, 0).is_some());
}

#[test]
fn another_binding_or_key_does_not_open() {
    let s = sealer();
    let text = seal_with(&s, BROWSER, &device(), 0).unwrap();
    for binding in ["login:another-browser", "session:one-browser", ""] {
        assert!(
            open_with(&s, &[Kind::Device], binding, &text, 0).is_none(),
            "{binding}"
        );
    }
    assert!(open_with(&sealer(), &[Kind::Device], BROWSER, &text, 0).is_none());
}

#[test]
fn a_tampered_value_does_not_open() {
    let s = sealer();
    let text = seal_with(&s, BROWSER, &device(), 0).unwrap();
    let mut bytes = unb64(&text).unwrap();
    for i in [0, bytes.len() / 2, bytes.len() - 1] {
        bytes[i] ^= 1;
        assert!(open_with(&s, &[Kind::Device], BROWSER, &b64(&bytes), 0).is_none());
        bytes[i] ^= 1;
    }
    assert!(open_with(&s, &[Kind::Device], BROWSER, &b64(&bytes), 0).is_some());
    for garbage in ["", "!!", "AAAA", &text[..10]] {
        assert!(open_with(&s, &[Kind::Device], BROWSER, garbage, 0).is_none());
    }
}

#[test]
fn it_expires_fifteen_minutes_after_sealing() {
    let s = sealer();
    let clock = ManualClock::new(1_700_000_000);
    let text = seal_with(&s, BROWSER, &device(), clock.now()).unwrap();
    clock.advance(TTL - 1);
    assert!(open_with(&s, &[Kind::Device], BROWSER, &text, clock.now()).is_some());
    clock.advance(1);
    assert!(
        open_with(&s, &[Kind::Device], BROWSER, &text, clock.now()).is_none(),
        "expires_at <= now is expired"
    );
    clock.advance(86_400);
    assert!(open_with(&s, &[Kind::Device], BROWSER, &text, clock.now()).is_none());
}

fn second_factor() -> Interaction {
    use crate::routes::second_factor::{SecondFactorStep, Then};
    Interaction::SecondFactor(SecondFactorStep {
        user_id: "u1".into(),
        auth_time: 99,
        enrol: Some("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".into()),
        then: Then::Authorize(request()),
        passkey: None,
    })
}

// The second-factor step opens only as itself: never in the login form (a correct
// password is not a sign-in), and a Continue or an account enrolment never as it.
#[test]
fn the_second_factor_step_opens_only_as_itself() {
    use crate::routes::account_mfa::TotpEnrol;
    use crate::routes::second_factor::{SecondFactorStep, Then};
    let s = sealer();
    let text = seal_with(&s, BROWSER, &second_factor(), 0).unwrap();
    assert!(open_with(&s, Kind::SIGN_IN, BROWSER, &text, 0).is_none());
    assert!(open_with(&s, &[Kind::Continue, Kind::TotpEnrol], BROWSER, &text, 0).is_none());
    let o = open_with(&s, &[Kind::SecondFactor], BROWSER, &text, 0).unwrap();
    assert_eq!(o.interaction.client_id(), Some("web"));
    let Interaction::SecondFactor(SecondFactorStep {
        user_id,
        auth_time,
        enrol,
        then: Then::Authorize(r),
        ..
    }) = o.interaction
    else {
        panic!("a second-factor step")
    };
    assert_eq!((user_id.as_str(), auth_time), ("u1", 99));
    assert_eq!(enrol.as_deref(), Some("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"));
    assert_eq!(r, request());

    let text = seal_with(&s, "session:x", &Interaction::Continue(Then::Account), 0).unwrap();
    assert!(open_with(&s, &[Kind::SecondFactor], "session:x", &text, 0).is_none());
    let o = open_with(&s, &[Kind::Continue], "session:x", &text, 0).unwrap();
    assert!(matches!(
        o.interaction,
        Interaction::Continue(Then::Account)
    ));
    assert_eq!(o.interaction.client_id(), None);

    let enrol = Interaction::TotpEnrol(TotpEnrol {
        secret: "GEZDGNBV".into(),
    });
    let text = seal_with(&s, "session:x", &enrol, 0).unwrap();
    assert!(
        open_with(
            &s,
            &[Kind::SecondFactor, Kind::Continue],
            "session:x",
            &text,
            0
        )
        .is_none()
    );
    assert!(open_with(&s, &[Kind::TotpEnrol], "session:x", &text, 0).is_some());
    assert!(open_with(&s, &[Kind::TotpEnrol], BROWSER, &text, 0).is_none());
}
