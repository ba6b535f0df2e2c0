use super::*;
use crate::ErrorCode;
use crate::application::{Profile, for_tests};
use crate::audience::{ApiScope, ExchangeRule};
use crate::token::Authentication;

const CONTACTS: &str = "https://contacts.example";
const CALENDAR: &str = "https://calendar.example";

fn api(audience: &str, scopes: &[&str], rules: Vec<ExchangeRule>) -> Api {
    Api {
        audience: audience.into(),
        scopes: scopes
            .iter()
            .map(|s| ApiScope {
                name: (*s).into(),
                description: String::new(),
            })
            .collect(),
        access_token_format: Default::default(),
        introspectors: vec![],
        token_exchange: rules,
    }
}

fn rule(client_id: &str, scopes: &[&str]) -> ExchangeRule {
    ExchangeRule {
        client_id: client_id.into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn apis() -> Vec<Api> {
    vec![
        api(
            CONTACTS,
            &["contacts:read", "contacts:write"],
            vec![rule("agent", &[])],
        ),
        api(CALENDAR, &["calendar:read"], vec![]),
    ]
}

fn agent() -> Application {
    for_tests(
        "agent",
        Profile::Service,
        vec![GrantType::ClientCredentials, GrantType::TokenExchange],
        &[],
    )
}

fn users_token(scope: &str) -> Presented {
    Presented {
        subject: Subject::User {
            user_id: "u1".into(),
            grant_id: "g1".into(),
            authentication: Authentication::password(100),
        },
        scope: Scope::parse(scope).unwrap(),
        exp: 2_000,
        act: None,
    }
}

fn params(body: &str) -> Params {
    Params::parse(body.as_bytes(), &["resource", "audience"]).unwrap()
}

const SUBJECT: &str =
    "subject_token=t&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";

fn exchange(
    body: &str,
    subject: &Presented,
    actor: Option<&PresentedActor>,
) -> Result<Issuance, OAuthError> {
    let p = params(&format!("{SUBJECT}&{body}"));
    let req = parse(&p)?;
    decide(&agent(), &req, subject, actor, &apis())
}

#[test]
fn a_users_token_becomes_a_narrower_one_for_the_api_naming_the_actor() {
    let subject = users_token("openid contacts:read contacts:write calendar:read");
    let i = exchange(
        "resource=https%3A%2F%2Fcontacts.example&scope=contacts%3Aread",
        &subject,
        None,
    )
    .unwrap();
    assert_eq!(i.selection.scope.to_wire(), "contacts:read");
    assert_eq!(i.selection.audience, [CONTACTS]);
    assert_eq!(i.sub(), "u1");
    assert_eq!(
        i.grant_id(),
        Some("g1"),
        "revoking the user's grant ends it"
    );
    assert_eq!(i.client_id, "agent");
    assert_eq!(i.refresh, Refresh::None);
    assert!(i.id_token.is_none());
    assert_eq!(i.not_after, Some(2_000), "never outlives the subject token");
    let act = i.act.unwrap();
    assert_eq!(
        (act.sub.as_str(), act.client_id.as_deref()),
        ("agent", Some("agent"))
    );
    // Without a scope: every scope of the target the subject carries, nothing else.
    let i = exchange("audience=https%3A%2F%2Fcontacts.example", &subject, None).unwrap();
    assert_eq!(
        i.selection.scope.to_wire(),
        "contacts:read contacts:write",
        "`audience` is an alias of `resource`"
    );
    // Without a target: the APIs owning the requested scopes.
    let i = exchange("scope=contacts%3Awrite", &subject, None).unwrap();
    assert_eq!(i.selection.audience, [CONTACTS]);
}

#[test]
fn an_exchange_never_widens_the_subject_tokens_scope() {
    let subject = users_token("contacts:read");
    let e = exchange(
        "resource=https%3A%2F%2Fcontacts.example&scope=contacts%3Aread+contacts%3Awrite",
        &subject,
        None,
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    assert!(e.description().contains("contacts:write"), "{e:?}");
    // A subject carrying none of the target's scopes yields nothing.
    let e = exchange(
        "resource=https%3A%2F%2Fcontacts.example",
        &users_token("openid calendar:read"),
        None,
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    // A scope of another API is not passed on, even if the subject carries it.
    let e = exchange(
        "resource=https%3A%2F%2Fcontacts.example&scope=openid",
        &users_token("openid contacts:read"),
        None,
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
}

#[test]
fn an_api_that_did_not_opt_in_cannot_be_exchanged_into() {
    let subject = users_token("contacts:read calendar:read");
    for body in [
        "resource=https%3A%2F%2Fcalendar.example",
        "scope=calendar%3Aread",
        "resource=https%3A%2F%2Fcontacts.example&resource=https%3A%2F%2Fcalendar.example",
        "resource=https%3A%2F%2Fnowhere.example",
        "scope=openid",
    ] {
        let e = exchange(body, &subject, None).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidTarget, "{body}");
    }
    // Opted in for another application only.
    let mut others = apis();
    others[0].token_exchange = vec![rule("someone-else", &[])];
    let p = params(&format!(
        "{SUBJECT}&resource=https%3A%2F%2Fcontacts.example"
    ));
    let e = decide(&agent(), &parse(&p).unwrap(), &subject, None, &others).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidTarget);
}

#[test]
fn the_apis_rule_limits_the_scopes() {
    let mut limited = apis();
    limited[0].token_exchange = vec![rule("agent", &["contacts:read"])];
    let subject = users_token("contacts:read contacts:write");
    let run = |body: &str| {
        let p = params(&format!("{SUBJECT}&{body}"));
        decide(&agent(), &parse(&p).unwrap(), &subject, None, &limited)
    };
    let i = run("resource=https%3A%2F%2Fcontacts.example").unwrap();
    assert_eq!(i.selection.scope.to_wire(), "contacts:read");
    let e = run("resource=https%3A%2F%2Fcontacts.example&scope=contacts%3Awrite").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
}

#[test]
fn the_actor_token_must_be_the_requesters_and_the_chain_nests() {
    let mut subject = users_token("contacts:read");
    subject.act = Some(Actor {
        sub: "first-agent".into(),
        client_id: Some("first-agent".into()),
        act: None,
    });
    let own = PresentedActor {
        sub: "agent-sub".into(),
        client_id: "agent".into(),
        exp: 1_500,
    };
    let i = exchange(
        "resource=https%3A%2F%2Fcontacts.example",
        &subject,
        Some(&own),
    )
    .unwrap();
    let act = i.act.unwrap();
    assert_eq!(act.sub, "agent-sub");
    assert_eq!(act.act.unwrap().sub, "first-agent", "earlier actors nest");
    assert_eq!(i.not_after, Some(1_500), "nor the actor token");
    let theirs = PresentedActor {
        client_id: "other".into(),
        ..own
    };
    let e = exchange(
        "resource=https%3A%2F%2Fcontacts.example",
        &subject,
        Some(&theirs),
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
}

#[test]
fn a_chain_of_actors_is_bounded() {
    let mut subject = users_token("contacts:read");
    for n in 0..MAX_ACTORS {
        subject.act = Some(Actor {
            sub: format!("a{n}"),
            client_id: None,
            act: subject.act.take().map(Box::new),
        });
    }
    let e = exchange("resource=https%3A%2F%2Fcontacts.example", &subject, None).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
}

#[test]
fn the_request_is_read_by_section_2_1() {
    let bad = [
        "subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token",
        "subject_token=t",
        "subject_token=t&subject_token_type=urn%3Aexample%3Aunknown",
        "subject_token=t&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Arefresh_token",
        &format!("{SUBJECT}&actor_token=a"),
        &format!(
            "{SUBJECT}&actor_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
        ),
        &format!(
            "{SUBJECT}&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token"
        ),
    ];
    for body in bad {
        let p = params(body);
        let e = parse(&p).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{body}");
    }
    let p = params(&format!(
        "{SUBJECT}&actor_token=a&actor_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt\
         &requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
         &resource=https%3A%2F%2Fa.example&audience=https%3A%2F%2Fa.example"
    ));
    let r = parse(&p).unwrap();
    assert_eq!(r.actor_type, Some(TokenType::Jwt));
    assert_eq!(r.targets, ["https://a.example"], "one target, named twice");
}

#[test]
fn only_a_confidential_application_allowed_the_grant_exchanges() {
    let subject = users_token("contacts:read");
    let p = params(&format!(
        "{SUBJECT}&resource=https%3A%2F%2Fcontacts.example"
    ));
    let req = parse(&p).unwrap();
    let mut web = for_tests(
        "agent",
        Profile::Web,
        vec![GrantType::AuthorizationCode],
        &[],
    );
    let e = decide(&web, &req, &subject, None, &apis()).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnauthorizedClient);
    web.grant_types.push(GrantType::TokenExchange);
    assert!(decide(&web, &req, &subject, None, &apis()).is_ok());
    let spa = for_tests("agent", Profile::Spa, vec![GrantType::TokenExchange], &[]);
    let e = decide(&spa, &req, &subject, None, &apis()).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnauthorizedClient);
}
