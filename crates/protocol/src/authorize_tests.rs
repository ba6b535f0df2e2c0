use super::*;
use crate::application::{AuthMethod, Profile};
use crate::audience::ApiScope;

const NOW: UnixTime = 1_700_000_000;
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn app(profile: Profile) -> Application {
    Application {
        client_id: "app1".into(),
        name: "App".into(),
        description: None,
        website: None,
        logo_uri: None,
        policy_uri: None,
        profile,
        redirect_uris: vec!["https://app.example/cb".into()],
        grant_types: profile.default_grant_types(),
        scopes: vec!["contacts.read".into()],
        token_endpoint_auth_method: profile.default_auth_method(),
        token_endpoint_auth_method_chosen: false,
        trusted: false,
        service_subject: None,
        post_logout_redirect_uris: vec![],
        allow_plain_pkce: false,
        require_pkce: false,
        require_mfa: false,
        id_token_on_refresh: true,
        cors_origins: vec![],
        access_token_format: Default::default(),
        registration: Default::default(),
        access_token_ttl: None,
        refresh_token_ttl: None,
        backchannel_logout_uri: None,
        assurance: Default::default(),
        backchannel_logout_session_required: false,
    }
}

fn apis() -> Vec<Api> {
    vec![Api {
        audience: "https://contacts.example".into(),
        scopes: vec![ApiScope {
            name: "contacts.read".into(),
            description: "Read your contacts".into(),
        }],
        access_token_format: Default::default(),
        introspectors: vec![],
        token_exchange: vec![],
    }]
}

fn run(app: &Application, query: &str) -> Result<AuthorizationRequest, Redirected> {
    let p = Params::parse_lenient(query.as_bytes()).unwrap();
    let (uri, sent) = redirect_uri(app, &p).unwrap();
    let apis = apis();
    let ctx = Context {
        apis: &apis,
        default_audience: "https://valet.example",
        pushed: false,
        require_par: false,
        fapi2: false,
    };
    validate(app, &p, uri, sent, &ctx)
}

fn err(app: &Application, query: &str) -> (ErrorCode, Redirected) {
    let e = run(app, query).unwrap_err();
    (e.error.code, e)
}

const OK: &str = "client_id=app1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code";

#[test]
fn a_good_request_validates() {
    let r = run(
        &app(Profile::Web),
        &format!("{OK}&scope=openid+contacts.read&state=s%2B%2F%3D%25&nonce=n"),
    )
    .unwrap();
    assert_eq!(r.response_type, ResponseType::Code);
    assert_eq!(r.response_mode, ResponseMode::Query);
    assert_eq!(r.scope.to_wire(), "openid contacts.read");
    assert_eq!(r.audience, ["https://contacts.example"]);
    // B1: state byte for byte.
    assert_eq!(r.state.as_deref(), Some("s+/=%"));
    assert!(r.is_openid());
}

#[test]
fn client_and_redirect_errors_are_pages() {
    let page = |q: &str| Params::parse_lenient(q.as_bytes()).unwrap();
    assert!(client_id(&page("redirect_uri=https://evil")).is_err());
    assert!(client_id(&page("client_id=a&client_id=b")).is_err());
    let a = app(Profile::Web);
    assert!(redirect_uri(&a, &page("redirect_uri=https://evil.example/cb")).is_err());
    assert!(
        redirect_uri(
            &a,
            &page("redirect_uri=https://app.example/cb&redirect_uri=https://app.example/cb")
        )
        .is_err()
    );
    // A7: omitted redirect_uri is fine for plain OAuth with one URI, not for OIDC.
    assert_eq!(
        redirect_uri(&a, &page("scope=contacts.read")).unwrap(),
        ("https://app.example/cb".to_owned(), false)
    );
    assert!(redirect_uri(&a, &page("scope=openid")).is_err());
    let mut two = app(Profile::Web);
    two.redirect_uris.push("https://app.example/other".into());
    assert!(redirect_uri(&two, &page("")).is_err());
}

#[test]
fn other_errors_redirect_with_state() {
    let a = app(Profile::Web);
    let (code, e) = err(&a, &format!("{OK}&scope=nope&state=xyz"));
    assert_eq!(code, ErrorCode::InvalidScope);
    assert_eq!(e.state.as_deref(), Some("xyz"));
    assert_eq!(e.redirect_uri, "https://app.example/cb");
    // B2: repeated response_type or scope.
    assert_eq!(
        err(&a, &format!("{OK}&response_type=code")).0,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        err(&a, &format!("{OK}&scope=openid&scope=openid")).0,
        ErrorCode::InvalidRequest
    );
    // B6: missing or unknown response_type.
    let base = "client_id=app1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb";
    assert_eq!(err(&a, base).0, ErrorCode::InvalidRequest);
    assert_eq!(
        err(&a, &format!("{base}&response_type=foo")).0,
        ErrorCode::UnsupportedResponseType
    );
    // I6: implicit is off unless enabled.
    assert_eq!(
        err(&a, &format!("{base}&response_type=token")).0,
        ErrorCode::UnauthorizedClient
    );
    // B8: request objects.
    assert_eq!(
        err(&a, &format!("{OK}&request=eyJ")).0,
        ErrorCode::RequestNotSupported
    );
    assert_eq!(
        err(
            &a,
            &format!("{OK}&request_uri=http%3A%2F%2F169.254.169.254%2F")
        )
        .0,
        ErrorCode::RequestUriNotSupported
    );
    assert_eq!(
        err(&a, &format!("{OK}&response_mode=jwt")).0,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        err(&a, &format!("{OK}&max_age=-1")).0,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn unknown_and_empty_parameters_are_ignored() {
    // B3, B4, J11.
    let r = run(
        &app(Profile::Web),
        &format!(
            "{OK}&extra=foobar&state=&nonce=&display=page&ui_locales=de&claims_locales=fr\
             &acr_values=1&login_hint=alice"
        ),
    )
    .unwrap();
    assert_eq!(r.state, None);
    assert_eq!(r.nonce, None);
    assert_eq!(r.login_hint.as_deref(), Some("alice"));
}

#[test]
fn pkce_rules_at_the_authorization_endpoint() {
    let spa = app(Profile::Spa);
    // E6: public clients must send a challenge.
    let (code, e) = err(&spa, OK);
    assert_eq!(code, ErrorCode::InvalidRequest);
    assert!(e.error.description().contains("code challenge required"));
    // E7: plain refused by default.
    assert_eq!(
        err(
            &spa,
            &format!("{OK}&code_challenge={CHALLENGE}&code_challenge_method=plain")
        )
        .0,
        ErrorCode::InvalidRequest
    );
    let r = run(
        &spa,
        &format!("{OK}&code_challenge={CHALLENGE}&code_challenge_method=S256"),
    )
    .unwrap();
    assert_eq!(r.pkce.unwrap().method, pkce::Method::S256);
    // E9: confidential clients may use PKCE; an admin may require it.
    assert!(run(&app(Profile::Web), OK).is_ok());
    let mut strict = app(Profile::Web);
    strict.require_pkce = true;
    assert!(run(&strict, OK).is_err());
}

#[test]
fn implicit_rules() {
    let mut a = app(Profile::Web);
    a.grant_types.push(GrantType::Implicit);
    let base = "client_id=app1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid";
    let r = run(&a, &format!("{base}&response_type=token+id_token&nonce=n")).unwrap();
    assert_eq!(r.response_type, ResponseType::IdTokenToken);
    assert_eq!(r.response_mode, ResponseMode::Fragment);
    // I2: query mode cannot carry tokens.
    assert_eq!(
        err(
            &a,
            &format!("{base}&response_type=token&response_mode=query")
        )
        .0,
        ErrorCode::InvalidRequest
    );
    // I3: nonce required with an id_token.
    let (code, e) = err(&a, &format!("{base}&response_type=id_token+token"));
    assert_eq!(code, ErrorCode::InvalidRequest);
    assert_eq!(e.mode, ResponseMode::Fragment);
}

#[test]
fn prompt_rules() {
    let a = app(Profile::Web);
    assert_eq!(
        err(&a, &format!("{OK}&prompt=none+login")).0,
        ErrorCode::InvalidRequest
    );
    let r = run(&a, &format!("{OK}&prompt=login+consent")).unwrap();
    assert!(r.prompt.login && r.prompt.consent && !r.prompt.none);
}

fn request(query: &str) -> AuthorizationRequest {
    run(
        &app(Profile::Web),
        &format!("{OK}&scope=openid+contacts.read{query}"),
    )
    .unwrap()
}

#[test]
fn decisions() {
    let consented = Scope::parse("openid contacts.read profile").unwrap();
    let user = SignedIn {
        user_id: "u1",
        auth_time: NOW - 100,
        just_now: false,
        two_factors: false,
    };
    let d = |q: &str, u: Option<&SignedIn<'_>>, hint: Option<&str>, c: Option<&Scope>| {
        decide(&request(q), u, hint, c, false, false, NOW)
    };
    let code = |d: Decision| match d {
        Decision::Error(e) => Some(e.code),
        _ => None,
    };
    assert_eq!(d("", None, None, None), Decision::Login);
    // J3: prompt=none without a session.
    assert_eq!(
        code(d("&prompt=none", None, None, None)),
        Some(ErrorCode::LoginRequired)
    );
    assert_eq!(d("", Some(&user), None, None), Decision::Consent);
    assert_eq!(d("", Some(&user), None, Some(&consented)), Decision::Issue);
    // J4, C9: silent only for consented scopes.
    assert_eq!(
        d("&prompt=none", Some(&user), None, Some(&consented)),
        Decision::Issue
    );
    let narrow = Scope::parse("openid").unwrap();
    assert_eq!(
        code(d("&prompt=none", Some(&user), None, Some(&narrow))),
        Some(ErrorCode::ConsentRequired)
    );
    // J5: prompt=login forces a login unless it just happened.
    assert_eq!(
        d("&prompt=login", Some(&user), None, Some(&consented)),
        Decision::Login
    );
    let fresh = SignedIn {
        just_now: true,
        ..user.clone()
    };
    assert_eq!(
        d("&prompt=login", Some(&fresh), None, Some(&consented)),
        Decision::Issue
    );
    assert_eq!(
        d("&prompt=consent", Some(&user), None, Some(&consented)),
        Decision::Consent
    );
    // J6: max_age.
    assert_eq!(
        d("&max_age=10", Some(&user), None, Some(&consented)),
        Decision::Login
    );
    assert_eq!(
        d("&max_age=10000", Some(&user), None, Some(&consented)),
        Decision::Issue
    );
    // J7: a hint naming someone else.
    assert_eq!(
        code(d("&prompt=none", Some(&user), Some("u2"), Some(&consented))),
        Some(ErrorCode::LoginRequired)
    );
    assert_eq!(
        d("&prompt=none", Some(&user), Some("u1"), Some(&consented)),
        Decision::Issue
    );
    // Trusted applications skip consent.
    assert_eq!(
        decide(&request(""), Some(&user), None, None, true, false, NOW),
        Decision::Issue
    );
}

#[test]
fn step_up() {
    let consented = Scope::parse("openid contacts.read profile").unwrap();
    let pwd = SignedIn {
        user_id: "u1",
        auth_time: NOW - 100,
        just_now: false,
        two_factors: false,
    };
    let mfa = SignedIn {
        two_factors: true,
        ..pwd.clone()
    };
    let d = |q: &str, u: &SignedIn<'_>, needed: bool| {
        decide(
            &request(q),
            Some(u),
            None,
            Some(&consented),
            false,
            needed,
            NOW,
        )
    };
    assert_eq!(d("", &pwd, false), Decision::Issue);
    assert_eq!(d("", &pwd, true), Decision::SecondFactor);
    assert_eq!(d("", &mfa, true), Decision::Issue);
    // max_age first: a session too old signs in again, password and all.
    assert_eq!(d("&max_age=10", &pwd, true), Decision::Login);
    assert_eq!(d("&max_age=10", &mfa, true), Decision::Login);
    assert_eq!(d("&max_age=1000", &pwd, true), Decision::SecondFactor);
    assert_eq!(d("&prompt=login", &mfa, true), Decision::Login);
    match d("&prompt=none", &pwd, true) {
        Decision::Error(e) => assert_eq!(e.code, ErrorCode::InteractionRequired),
        other => panic!("{other:?}"),
    }
    assert_eq!(d("&prompt=none", &mfa, true), Decision::Issue);
    // Signed in just now with a password alone: still a second factor.
    let fresh = SignedIn {
        just_now: true,
        ..pwd.clone()
    };
    assert_eq!(d("&max_age=0", &fresh, true), Decision::SecondFactor);
}

#[test]
fn acr_values_are_read() {
    let r = request("&acr_values=urn:valet:acr:mfa%20urn:valet:acr:password");
    assert_eq!(
        r.acr_values,
        ["urn:valet:acr:mfa", "urn:valet:acr:password"]
    );
    assert!(request("").acr_values.is_empty());
    // The MFA value alone demands a second factor; with the password's, either will do.
    let web = app(Profile::Web);
    assert!(!crate::mfa::demanded(&web, &r));
    assert!(crate::mfa::demanded(
        &web,
        &request("&acr_values=urn:valet:acr:mfa")
    ));
    assert!(!crate::mfa::demanded(
        &web,
        &request("&acr_values=urn:valet:acr:password")
    ));
    assert!(!crate::mfa::demanded(&web, &request("")));
    let strict = Application {
        require_mfa: true,
        ..web
    };
    assert!(crate::mfa::demanded(&strict, &request("")));
}

#[test]
fn public_clients_need_no_secret_method() {
    let spa = app(Profile::Spa);
    assert_eq!(spa.token_endpoint_auth_method, AuthMethod::None);
    assert!(spa.requires_pkce());
}

#[test]
fn a_sealed_request_is_rechecked_against_the_current_registration() {
    // Issue 12 item 10: the registration changed while the form was open.
    let a = app(Profile::Web);
    let req = run(&a, &format!("{OK}&scope=openid+contacts.read&state=s1")).unwrap();
    assert_eq!(recheck(&a, &req), Ok(()));

    let mut moved = a.clone();
    moved.redirect_uris = vec!["https://app.example/elsewhere".into()];
    assert!(matches!(recheck(&moved, &req), Err(Stale::Page(_))));
    let mut other = a.clone();
    other.client_id = "app2".into();
    assert!(matches!(recheck(&other, &req), Err(Stale::Page(_))));

    let redirected = |changed: &Application| match recheck(changed, &req) {
        Err(Stale::Redirect(r)) => {
            assert_eq!(r.redirect_uri, "https://app.example/cb");
            assert_eq!(r.state.as_deref(), Some("s1"));
            r.error.code
        }
        other => panic!("expected a redirected error, got {other:?}"),
    };
    let mut narrower = a.clone();
    narrower.scopes = vec![];
    assert_eq!(redirected(&narrower), ErrorCode::InvalidScope);
    let mut no_code = a.clone();
    no_code.grant_types = vec![GrantType::ClientCredentials];
    assert_eq!(redirected(&no_code), ErrorCode::UnauthorizedClient);
    let mut strict = a.clone();
    strict.require_pkce = true;
    assert_eq!(redirected(&strict), ErrorCode::InvalidRequest);
}
