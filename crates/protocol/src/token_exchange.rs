//! Token exchange (RFC 8693): an application presents a token someone gave it — a user's
//! access token, or an ID token Valet issued to it — and gets a *narrower* access token for
//! another API, naming both the subject and itself as the actor (`act`, §4.1).
//!
//! The rules, in the order they are checked once the server has verified the presented
//! tokens (signature, expiry, revocation, the user still there):
//!
//! 1. Only a confidential application allowed the grant exchanges (`application.rs`).
//! 2. An `actor_token` must be the requesting application's own (§2.1: it represents the
//!    acting party; a token of another application is not the requester's to present).
//! 3. The target (`resource`, RFC 8707; `audience`, §2.1, taken as its alias) must be a
//!    registered API that opted in for this application (`Api::token_exchange`): none
//!    does by default, and one that did not is `invalid_target` (§2.2.2).
//! 4. The scopes are those the subject token carries, of the target APIs, that the API's
//!    rule lets the application obtain: never wider than the subject token (`invalid_scope`).
//! 5. The new token expires no later than the subject or actor token, carries the
//!    subject's grant (revoking it ends both), has no refresh token (§2.2.1: optional)
//!    and no ID token.
//!
//! §2.2.2: a subject or actor token that is invalid "for any reason, or unacceptable
//! based on policy" is `invalid_request`; a target the server will not issue for is
//! `invalid_target`.

use crate::OAuthError;
use crate::UnixTime;
use crate::access_token::Actor;
use crate::application::{Application, GrantType};
use crate::audience::{Api, Selection};
use crate::params::Params;
use crate::scope::Scope;
use crate::token::{Issuance, Refresh, Subject};

/// RFC 8693 §2.1 `grant_type`.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 §3 token type identifiers.
pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// Longest chain of actors a token may name; an exchange that would make it longer is
/// refused, so a token cannot grow without bound by exchanging it again and again.
pub const MAX_ACTORS: usize = 8;

/// What a presented token is declared to be (`subject_token_type`, `actor_token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    AccessToken,
    IdToken,
    /// §3 `jwt`: a JWT of any kind; the server tries it as an access token, then as an
    /// ID token.
    Jwt,
}

impl TokenType {
    fn parse(name: &str, value: &str) -> Result<Self, OAuthError> {
        match value {
            ACCESS_TOKEN => Ok(Self::AccessToken),
            ID_TOKEN => Ok(Self::IdToken),
            JWT => Ok(Self::Jwt),
            REFRESH_TOKEN => Err(OAuthError::invalid_request(format!(
                "a refresh token cannot be exchanged ({name}): present an access token \
                 or an ID token"
            ))),
            other => Err(OAuthError::invalid_request(format!(
                "unsupported {name} `{}` (Valet exchanges {ACCESS_TOKEN}, {ID_TOKEN} and {JWT})",
                other.chars().take(80).collect::<String>()
            ))),
        }
    }
}

/// The parameters of a token exchange request (RFC 8693 §2.1).
#[derive(Debug)]
pub struct Request<'a> {
    pub subject_token: &'a str,
    pub subject_type: TokenType,
    pub actor_token: Option<&'a str>,
    pub actor_type: Option<TokenType>,
    /// `resource` and `audience` values, in order, each once.
    pub targets: Vec<&'a str>,
    pub scope: Option<Scope>,
}

/// Reads the §2.1 parameters: `subject_token` and its type are required, `actor_token_type`
/// goes with `actor_token` and only with it, and the one token type Valet issues is an
/// access token (`requested_token_type`, absent or `access_token`).
pub fn parse(params: &Params) -> Result<Request<'_>, OAuthError> {
    let subject_token = params
        .get("subject_token")
        .ok_or_else(|| OAuthError::invalid_request("subject_token is required (RFC 8693 §2.1)"))?;
    let subject_type = params.get("subject_token_type").ok_or_else(|| {
        OAuthError::invalid_request("subject_token_type is required (RFC 8693 §2.1)")
    })?;
    let subject_type = TokenType::parse("subject_token_type", subject_type)?;
    let actor_token = params.get("actor_token");
    let actor_type = match (actor_token, params.get("actor_token_type")) {
        (Some(_), Some(t)) => Some(TokenType::parse("actor_token_type", t)?),
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type is required with an actor_token (RFC 8693 §2.1)",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type must not be sent without an actor_token (RFC 8693 §2.1)",
            ));
        }
        (None, None) => None,
    };
    if actor_type == Some(TokenType::IdToken) {
        return Err(OAuthError::invalid_request(
            "the actor_token must be an access token of the requesting application",
        ));
    }
    if let Some(t) = params.get("requested_token_type") {
        if t != ACCESS_TOKEN {
            return Err(OAuthError::invalid_request(format!(
                "Valet issues access tokens by exchange: requested_token_type must be {ACCESS_TOKEN}"
            )));
        }
    }
    let mut targets: Vec<&str> = Vec::new();
    for t in params.all("resource").chain(params.all("audience")) {
        if !t.is_empty() && !targets.contains(&t) {
            targets.push(t);
        }
    }
    let scope = params.get("scope").map(Scope::parse).transpose()?;
    Ok(Request {
        subject_token,
        subject_type,
        actor_token,
        actor_type,
        targets,
        scope,
    })
}

/// A verified, live subject token, as the server read it.
#[derive(Debug, Clone)]
pub struct Presented {
    /// Whose token it is: a user within a grant, or an application for itself.
    pub subject: Subject,
    /// The scopes it carries (an ID token: the scopes its user granted the application).
    pub scope: Scope,
    pub exp: UnixTime,
    /// The actors it already names, if it was itself made by an exchange.
    pub act: Option<Actor>,
}

/// A verified, live actor token.
#[derive(Debug, Clone)]
pub struct PresentedActor {
    pub sub: String,
    /// The application it was issued to.
    pub client_id: String,
    pub exp: UnixTime,
}

/// Decides an exchange by `app` (authenticated) of `subject` (verified), acted by
/// `actor` (verified, if sent), into the APIs `req` names; see the module's rules.
pub fn decide(
    app: &Application,
    req: &Request<'_>,
    subject: &Presented,
    actor: Option<&PresentedActor>,
    apis: &[Api],
) -> Result<Issuance, OAuthError> {
    // Rule 1.
    if !app.is_confidential() || !app.allows_grant(GrantType::TokenExchange) {
        return Err(OAuthError::unauthorized_client(
            "this application may not use token exchange",
        ));
    }
    // Rule 2, and the actor the new token names.
    let acting = match actor {
        Some(a) if a.client_id != app.client_id => {
            return Err(OAuthError::invalid_request(
                "the actor_token was issued to another application: an application acts \
                 with its own token",
            ));
        }
        Some(a) => a.sub.clone(),
        None => app
            .service_subject
            .clone()
            .unwrap_or_else(|| app.client_id.clone()),
    };
    let act = Actor {
        sub: acting,
        client_id: Some(app.client_id.clone()),
        act: subject.act.clone().map(Box::new),
    };
    if act.depth() > MAX_ACTORS {
        return Err(OAuthError::invalid_request(format!(
            "the subject_token already names {} actors: at most {MAX_ACTORS} in one chain",
            act.depth() - 1
        )));
    }
    // Rule 3: the target APIs, each opted in for this application.
    let targets = targets(app, req, apis)?;
    // Rule 4: within the subject token's scopes and each API's rule.
    let may = |t: &str| {
        targets.iter().any(|api| {
            api.defines(t)
                && api
                    .exchange_rule(&app.client_id)
                    .is_some_and(|r| r.allows(t))
        })
    };
    let scope = match &req.scope {
        Some(requested) => {
            for t in requested.iter() {
                if !subject.scope.contains(t) {
                    return Err(OAuthError::invalid_scope(format!(
                        "the subject_token does not carry the scope {t}: an exchange never \
                         widens a token"
                    )));
                }
                if !targets.iter().any(|api| api.defines(t)) {
                    return Err(OAuthError::invalid_scope(format!(
                        "{t} is not a scope of the API exchanged into"
                    )));
                }
                if !may(t) {
                    return Err(OAuthError::invalid_scope(format!(
                        "the API does not let this application obtain {t} by exchange"
                    )));
                }
            }
            requested.clone()
        }
        None => Scope::from_tokens(
            subject
                .scope
                .iter()
                .filter(|t| may(t))
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        ),
    };
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope(
            "the subject_token carries none of the scopes this application may obtain \
             for the API by exchange",
        ));
    }
    // Rule 5.
    let not_after = actor.map_or(subject.exp, |a| a.exp.min(subject.exp));
    Ok(Issuance {
        client_id: app.client_id.clone(),
        subject: subject.subject.clone(),
        selection: Selection {
            scope,
            audience: targets.iter().map(|a| a.audience.clone()).collect(),
        },
        access_token: true,
        id_token: None,
        refresh: Refresh::None,
        cnf: None,
        act: Some(act),
        not_after: Some(not_after),
    })
}

/// The APIs exchanged into: those named by `resource`/`audience`, else those owning the
/// requested scopes; each must be registered and must have opted in for `app`.
fn targets<'a>(
    app: &Application,
    req: &Request<'_>,
    apis: &'a [Api],
) -> Result<Vec<&'a Api>, OAuthError> {
    let mut out: Vec<&Api> = Vec::new();
    if req.targets.is_empty() {
        for t in req.scope.iter().flat_map(|s| s.iter()) {
            if let Some(api) = apis.iter().find(|a| a.defines(t)) {
                if !out.iter().any(|a| a.audience == api.audience) {
                    out.push(api);
                }
            }
        }
        if out.is_empty() {
            return Err(OAuthError::invalid_target(
                "name the API to exchange into with resource (RFC 8707) or audience \
                 (RFC 8693 §2.1)",
            ));
        }
    } else {
        for r in &req.targets {
            let Some(api) = apis.iter().find(|a| a.audience == *r) else {
                return Err(OAuthError::invalid_target(format!(
                    "{} is not a registered API",
                    r.chars().take(200).collect::<String>()
                )));
            };
            out.push(api);
        }
    }
    if let Some(api) = out
        .iter()
        .find(|a| a.exchange_rule(&app.client_id).is_none())
    {
        return Err(OAuthError::invalid_target(format!(
            "{} does not accept tokens exchanged by this application (its operator allows \
             one with `valet api update AUDIENCE --allow-exchange-from CLIENT_ID`)",
            api.audience
        )));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "token_exchange_tests.rs"]
mod tests;
