//! Token exchange (RFC 8693): the server's half. The presented tokens are verified here —
//! a subject access token live by every rule introspection applies (signature or store,
//! expiry, revocation, its grant, its user); a subject ID token Valet's own, unexpired,
//! issued to the requesting application, its user still there and their grant to the
//! application standing; an actor token a live access token — then
//! `valet_protocol::token_exchange` decides and `issue::execute` mints, and the exchange
//! is audited. §2.2.2: a subject or actor token that fails any of this is
//! `invalid_request`, the same answer whatever the reason (the log says which).

use serde_json::json;
use std::net::IpAddr;
use valet_protocol::access_token::AccessTokenClaims;
use valet_protocol::application::Application;
use valet_protocol::assurance::SubjectType;
use valet_protocol::params::Params;
use valet_protocol::scope::Scope;
use valet_protocol::token::{Authentication, Subject};
use valet_protocol::token_exchange::{self, Presented, PresentedActor, TokenType};
use valet_protocol::{OAuthError, UnixTime};
use valet_store::GrantRecord;

use crate::crypto::random_token;
use crate::error::ApiError;
use crate::issue::{self, TokenResponse};
use crate::state::AppState;
use crate::tokens::{live_access_token, users_token_is_live, verify_id_token_hint};

pub async fn grant(
    state: &AppState,
    app: &Application,
    params: &Params,
    jkt: Option<&str>,
    ip: IpAddr,
    now: UnixTime,
) -> Result<TokenResponse, ApiError> {
    let req = token_exchange::parse(params)?;
    let subject = subject(state, app, req.subject_token, req.subject_type, jkt, now).await?;
    let actor = match req.actor_token {
        Some(token) => Some(actor(state, token, jkt, now).await?),
        None => None,
    };
    let apis = state.catalog.apis().await?;
    let mut issuance =
        token_exchange::decide(app, &req, &subject.presented, actor.as_ref(), &apis)?;
    // An ID token is no grant: its exchange records one, so the user's account page shows
    // it and withdrawing it, or the user's end, ends the token.
    if let Some(record) = subject.new_grant {
        record_grant(state, &record, &issuance.selection.scope, now).await?;
    }
    issuance.bind_dpop(jkt, false);
    let issued = issue::execute(state, app, &issuance, None, now)
        .await?
        .issued()?;
    let act = issuance.act.as_ref().map(|a| a.sub.as_str()).unwrap_or("");
    let (scope, audience) = (
        issuance.selection.scope.to_wire(),
        &issuance.selection.audience,
    );
    tracing::info!(target: "valet::audit", client_id = %app.client_id, sub = %issuance.sub(),
        act, %scope, ?audience, "token exchanged");
    state.audit.event(
        now,
        "token.exchange",
        format!("client:{}", app.client_id),
        Some(ip),
        format!("user:{}", issuance.sub()),
        json!({
            "subject_token_type": subject.kind,
            "act": issuance.act,
            "scope": scope,
            "audience": audience,
        }),
    );
    let mut response = issued.response()?;
    response.issued_token_type = Some(token_exchange::ACCESS_TOKEN.to_owned());
    Ok(response)
}

/// A subject token read and found live, and the grant its exchange needs recorded (an
/// ID token's).
struct Subjected {
    presented: Presented,
    kind: &'static str,
    new_grant: Option<GrantRecord>,
}

fn refused(what: &str, why: &str) -> ApiError {
    tracing::info!(what, why, "token exchange refused");
    OAuthError::invalid_request(format!(
        "the {what} is not a live token of this server that may be exchanged here \
         (RFC 8693 §2.2.2)"
    ))
    .into()
}

async fn subject(
    state: &AppState,
    app: &Application,
    token: &str,
    declared: TokenType,
    jkt: Option<&str>,
    now: UnixTime,
) -> Result<Subjected, ApiError> {
    if matches!(declared, TokenType::AccessToken | TokenType::Jwt) {
        if let Some(c) = live_access_token(state, token, now).await? {
            if !users_token_is_live(state, &c).await? {
                return Err(refused("subject_token", "its user is gone or disabled"));
            }
            held(&c, jkt, "subject_token")?;
            let subject = match &c.grant_id {
                Some(grant_id) => Subject::User {
                    user_id: c.sub.clone(),
                    grant_id: grant_id.clone(),
                    authentication: Authentication::new(c.auth_time.unwrap_or(c.iat), &[]),
                },
                None => Subject::Client { sub: c.sub.clone() },
            };
            let scope = Scope::parse(c.scope.as_deref().unwrap_or("")).unwrap_or_default();
            return Ok(Subjected {
                presented: Presented {
                    subject,
                    scope,
                    exp: c.exp,
                    act: c.act,
                },
                kind: token_exchange::ACCESS_TOKEN,
                new_grant: None,
            });
        }
        if declared == TokenType::AccessToken {
            return Err(refused("subject_token", "not a live access token"));
        }
    }
    id_token_subject(state, app, token, now).await
}

/// An ID token as the subject: Valet's, unexpired, issued to `app` (an ID token says who
/// signed in to the application it was issued to; another application holding it is no
/// proof of anything). Its scopes are those the user granted `app` and still grants.
async fn id_token_subject(
    state: &AppState,
    app: &Application,
    token: &str,
    now: UnixTime,
) -> Result<Subjected, ApiError> {
    let what = "subject_token";
    let Some(c) = verify_id_token_hint(state, token, now) else {
        return Err(refused(what, "not an ID token of this server"));
    };
    if c.exp.is_none_or(|exp| exp <= now) {
        return Err(refused(what, "the ID token has expired"));
    }
    if !c.aud.contains(&app.client_id) {
        return Err(refused(
            what,
            "the ID token was issued to another application",
        ));
    }
    // A pairwise `sub` names no user outside its sector; an access token does.
    if app.assurance.subject_type == SubjectType::Pairwise {
        return Err(refused(
            what,
            "a pairwise ID token names no user: send an access token",
        ));
    }
    if state.users.by_sub(&c.sub).await?.is_none() {
        return Err(refused(what, "its user is gone or disabled"));
    }
    let Some(consent) = state.store.consent(&c.sub, &app.client_id).await? else {
        return Err(refused(
            what,
            "the user grants this application nothing (no consent)",
        ));
    };
    let grant_id = random_token(16)?;
    let auth_time = now;
    Ok(Subjected {
        presented: Presented {
            subject: Subject::User {
                user_id: c.sub.clone(),
                grant_id: grant_id.clone(),
                authentication: Authentication::new(auth_time, &[]),
            },
            scope: Scope::parse(&consent.scope).unwrap_or_default(),
            exp: c.exp.unwrap_or(now),
            act: None,
        },
        kind: token_exchange::ID_TOKEN,
        new_grant: Some(GrantRecord {
            grant_id,
            client_id: app.client_id.clone(),
            user_id: c.sub,
            scope: String::new(),
            session: None,
            created_at: now,
            expires_at: now,
        }),
    })
}

async fn record_grant(
    state: &AppState,
    record: &GrantRecord,
    scope: &Scope,
    now: UnixTime,
) -> Result<(), ApiError> {
    let record = GrantRecord {
        scope: scope.to_wire(),
        expires_at: issue::grant_until(state, now),
        ..record.clone()
    };
    state.store.insert_grant(&record).await?;
    Ok(())
}

/// The actor token: a live access token (whose application `decide` compares with the
/// requester's).
async fn actor(
    state: &AppState,
    token: &str,
    jkt: Option<&str>,
    now: UnixTime,
) -> Result<PresentedActor, ApiError> {
    let Some(c) = live_access_token(state, token, now).await? else {
        return Err(refused("actor_token", "not a live access token"));
    };
    held(&c, jkt, "actor_token")?;
    if !users_token_is_live(state, &c).await? {
        return Err(refused("actor_token", "its user is gone or disabled"));
    }
    Ok(PresentedActor {
        sub: c.sub,
        client_id: c.client_id,
        exp: c.exp,
    })
}

/// A sender-constrained token (RFC 9449 §6) is exchanged only with a DPoP proof of its
/// own key: otherwise whoever copied it could trade it for an unbound one, undoing the
/// binding.
fn held(c: &AccessTokenClaims, jkt: Option<&str>, what: &str) -> Result<(), ApiError> {
    match &c.cnf {
        Some(cnf) if jkt != Some(cnf.jkt.as_str()) => Err(refused(
            what,
            "it is DPoP-bound and the request has no proof of its key",
        )),
        _ => Ok(()),
    }
}
