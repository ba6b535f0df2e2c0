//! `GET /login/upstream/{id}/callback`: the provider's answer, checked, the person it
//! names made a user (`protocol::upstream::decide`), then signed in or linked.

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use valet_protocol::UnixTime;
use valet_protocol::mfa;
use valet_protocol::upstream::{self as rules, Decision, Purpose};
use valet_store::{IdentityRecord, StoreError, UserRecord};

use crate::error::{ApiError, Page};
use crate::interaction::{self, Interaction, Kind, form_spent};
use crate::mfa::enrolled as mfa_enrolled;
use crate::routes::second_factor::{self, Then};
use crate::session::{self, Browser, LoginCsrf};
use crate::state::{AppState, Shared};
use crate::upstream::{Provider, UpstreamError};
use crate::users::User;

use super::*;

/// The provider's answer, parsed: each parameter at most once (RFC 6749 §3.1).
#[derive(Default)]
pub(super) struct Answer {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

pub(super) fn parse_answer(query: Option<&str>) -> Option<Answer> {
    let mut a = Answer::default();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let slot = match k.as_ref() {
            "code" => &mut a.code,
            "state" => &mut a.state,
            "iss" => &mut a.iss,
            "error" => &mut a.error,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return None;
        }
    }
    Some(a)
}

/// `GET /login/upstream/{id}/callback`: the provider's authorization response.
pub async fn callback(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    callback_inner(&state, &id, peer.ip(), &headers, query.as_deref())
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

pub(super) async fn callback_inner(
    state: &AppState,
    id: &str,
    ip: IpAddr,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(provider) = state.upstreams.get(id) else {
        return Err(ApiError::NotFound(format!("no identity provider `{id}`")));
    };
    let Some(answer) = parse_answer(query) else {
        return Err(ApiError::BadInput(
            "the provider's answer repeats a parameter".into(),
        ));
    };
    let Some(sealed) = answer.state.as_deref() else {
        return Ok(form_spent(state));
    };
    // A sign-in's state is bound to the login CSRF cookie, a link's to the session.
    let csrf = LoginCsrf::from_headers(state, headers)?;
    let mut browser = None;
    let mut opened =
        interaction::open(state, &[Kind::UpstreamSignIn], &csrf.binding(), sealed, now);
    if opened.is_none() {
        if let Some(b) = Browser::from_headers(state, headers, now).await? {
            opened = interaction::open(state, &[Kind::UpstreamLink], &b.binding(), sealed, now);
            browser = Some(b);
        }
    }
    let Some(opened) = opened else {
        return Ok(form_spent(state));
    };
    if !opened.consume(state).await? {
        return Ok(form_spent(state));
    }
    let (step, linking) = match opened.interaction {
        Interaction::UpstreamSignIn(s) => (s, None),
        Interaction::UpstreamLink(s) => (s, browser),
        _ => return Ok(form_spent(state)),
    };
    if step.upstream != id {
        return Ok(form_spent(state));
    }
    let app = match step.then.client_id() {
        Some(cid) => match state.catalog.client(cid).await? {
            Some(c) => Some(c.app.clone()),
            None => return Ok(Page::ApplicationGone.into_page(&state.pages)),
        },
        None => None,
    };
    let outcome = async {
        if let Some(error) = &answer.error {
            return Err(UpstreamError::Refused(format!(
                "the provider answered `{}`",
                error
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(64)
                    .collect::<String>()
            )));
        }
        provider
            .check_response_issuer(answer.iss.as_deref(), now)
            .await?;
        let code = answer
            .code
            .as_deref()
            .ok_or_else(|| UpstreamError::Refused("the answer has no code".into()))?;
        provider
            .finish(
                code,
                &step.verifier,
                &callback_uri(state, id),
                &step.nonce,
                step.max_age,
                now,
            )
            .await
    }
    .await;
    let finished = match outcome {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(upstream = %id, error = %e, "an upstream sign-in did not complete");
            return match linking {
                Some(b) => account_problem(state, &b, &provider, &e, now).await,
                None => failed(state, headers, &provider, app, step.then, e, now).await,
            };
        }
    };
    let asserted = finished.asserted;
    let purpose = match &linking {
        Some(b) => Purpose::Link {
            user_id: b.user.id.clone(),
        },
        None => Purpose::SignIn,
    };
    let linked = state.store.identity(id, &asserted.subject).await?;
    let with_email = match (&purpose, &linked, &asserted.email) {
        (Purpose::SignIn, None, Some(email)) => state
            .store
            .users_by_email(email)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect(),
        _ => Vec::new(),
    };
    let decision = rules::decide(
        &purpose,
        linked.as_ref().map(|l| l.user_id.as_str()),
        &asserted,
        provider.settings.policy,
        &with_email,
    );
    let sealed_refresh = match &finished.refresh_token {
        Some(t) => Some(
            state
                .sealer
                .seal(&format!("upstream refresh token|{id}"), t.as_bytes())?,
        ),
        None => None,
    };
    let record = |user_id: &str| IdentityRecord {
        upstream: id.to_owned(),
        subject: asserted.subject.clone(),
        user_id: user_id.to_owned(),
        email: asserted.email.clone(),
        refresh_token: sealed_refresh.clone(),
        created_at: now,
        last_used_at: now,
    };
    let name = provider.name().to_owned();
    if let Some(b) = linking {
        return match decision {
            Decision::LinkTo(user_id) => {
                if !state.store.link_identity(&record(&user_id)).await? {
                    return refuse_link(state, &b, &name, now).await;
                }
                tracing::info!(target: "valet::audit", sub = %b.user.id, upstream = %id, "upstream account linked");
                state.audit.event(
                    now,
                    "upstream.linked",
                    format!("user:{}", b.user.username),
                    Some(ip),
                    format!("user:{}", b.user.username),
                    serde_json::json!({ "upstream": id }),
                );
                // To the account page by its own address: a reload does not replay the
                // provider's answer.
                let mut r = StatusCode::SEE_OTHER.into_response();
                let to = HeaderValue::from_str(&format!("/account?linked={id}"))
                    .map_err(|_| ApiError::invariant("an upstream id"))?;
                r.headers_mut().insert(header::LOCATION, to);
                Ok(r)
            }
            Decision::AlreadyLinked => {
                crate::routes::account::page(
                    state,
                    &b,
                    Some(format!("That {name} account was already linked.")),
                    None,
                    now,
                )
                .await
            }
            _ => refuse_link(state, &b, &name, now).await,
        };
    }
    let user_id = match decision {
        Decision::SignInAs(user_id) => {
            state
                .store
                .identity_used(
                    id,
                    &asserted.subject,
                    asserted.email.as_deref(),
                    sealed_refresh.as_deref(),
                    now,
                )
                .await?;
            if user_id == rules::federated_sub(id, &asserted.subject) {
                refresh_claims(state, &user_id, &asserted, now).await?;
            }
            user_id
        }
        Decision::LinkTo(user_id) => {
            if !state.store.link_identity(&record(&user_id)).await? {
                return refused(
                    state,
                    headers,
                    &provider,
                    app,
                    step.then,
                    RefusedBy::Race,
                    now,
                )
                .await;
            }
            tracing::info!(target: "valet::audit", sub = %user_id, upstream = %id, "upstream account linked by its verified address");
            user_id
        }
        Decision::Create => match create(state, id, &asserted, record, now).await? {
            Some(user_id) => user_id,
            None => {
                return refused(
                    state,
                    headers,
                    &provider,
                    app,
                    step.then,
                    RefusedBy::Race,
                    now,
                )
                .await;
            }
        },
        Decision::AlreadyLinked => return Ok(form_spent(state)),
        Decision::Refuse(why) => {
            tracing::info!(target: "valet::audit", upstream = %id, reason = ?why, "an upstream sign-in was refused");
            return refused(
                state,
                headers,
                &provider,
                app,
                step.then,
                RefusedBy::Rule(why),
                now,
            )
            .await;
        }
    };
    let Some(user) = state.users.by_sub(&user_id).await? else {
        return refused(
            state,
            headers,
            &provider,
            app,
            step.then,
            RefusedBy::Disabled,
            now,
        )
        .await;
    };
    signed_in(
        state,
        headers,
        ip,
        &provider,
        user,
        app,
        step.then,
        finished.amr,
        now,
    )
    .await
}

/// A user created just in time, with their link, named `<id>:<name at the provider>`
/// (or `<id>:<subject>` when that name is taken); `None` when the link appeared meanwhile
/// and names nobody usable.
pub(super) async fn create(
    state: &AppState,
    id: &str,
    asserted: &rules::Asserted,
    record: impl Fn(&str) -> IdentityRecord,
    now: UnixTime,
) -> Result<Option<String>, ApiError> {
    let user_id = rules::federated_sub(id, &asserted.subject);
    let mut user = UserRecord {
        id: user_id.clone(),
        username: rules::federated_username(id, asserted),
        claims: claims_of(asserted),
        password_hash: None,
        disabled: false,
        role: valet_protocol::user::Role::None,
        pending_until: None,
        created_at: now,
        updated_at: now,
    };
    for attempt in 0..2 {
        match state
            .store
            .create_user_with_identity(&user, &record(&user_id))
            .await
        {
            Ok(true) => {
                tracing::info!(target: "valet::audit", sub = %user_id, upstream = %id, "a user was created at their first upstream sign-in");
                state.audit.event(
                    now,
                    "user.created",
                    format!("upstream:{id}"),
                    None,
                    format!("user:{}", user.username),
                    serde_json::json!({ "upstream": id }),
                );
                return Ok(Some(user_id));
            }
            // A racer created them: sign in through its link.
            Ok(false) => {
                return Ok(state
                    .store
                    .identity(id, &asserted.subject)
                    .await?
                    .map(|l| l.user_id));
            }
            Err(StoreError::Conflict(_)) if attempt == 0 => user.username = user_id.clone(),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

pub(super) fn claims_of(a: &rules::Asserted) -> valet_protocol::user::UserClaims {
    valet_protocol::user::UserClaims {
        name: a.name.clone(),
        given_name: a.given_name.clone(),
        family_name: a.family_name.clone(),
        email: a.email.clone(),
        email_verified: a.email_verified,
        groups: a.groups.clone(),
        ..Default::default()
    }
}

/// A user the provider created: their claims follow the provider's at each sign-in.
pub(super) async fn refresh_claims(
    state: &AppState,
    user_id: &str,
    asserted: &rules::Asserted,
    now: UnixTime,
) -> Result<(), ApiError> {
    let Some(mut u) = state.store.user(user_id).await? else {
        return Ok(());
    };
    let claims = valet_protocol::user::UserClaims {
        phone_number: u.claims.phone_number.clone(),
        phone_number_verified: u.claims.phone_number_verified,
        locale: u.claims.locale.clone(),
        ..claims_of(asserted)
    };
    if claims != u.claims {
        u.claims = claims;
        u.updated_at = now;
        state.store.update_user(&u).await?;
    }
    Ok(())
}

/// The sign-in completes as after a password: a second factor when one is needed, else a
/// new session, audited, on to where it was going.
#[allow(clippy::too_many_arguments)]
pub(super) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    ip: IpAddr,
    provider: &Provider,
    user: User,
    app: Option<valet_protocol::application::Application>,
    then: Then,
    amr: Vec<String>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let interaction = then.clone().into_interaction();
    let demanded = second_factor::demanded(state, app.as_ref(), interaction.as_ref());
    let enrolled = state.settings.mfa != mfa::Policy::Off && mfa_enrolled(state, &user.id).await?;
    let next = mfa::after_password(state.settings.mfa, enrolled, demanded);
    // A trusted provider's two factors are two factors: no second one of Valet's.
    if next != mfa::AfterPassword::SignIn && !mfa::has_two_factors(&amr) {
        let enrol = next == mfa::AfterPassword::Enrol;
        return second_factor::start(state, headers, &user, now, then, enrol, now).await;
    }
    let method = format!("upstream:{}", provider.id());
    let (session, cookie) = session::sign_in_with(state, headers, ip, &user, now, amr, now).await?;
    state.metrics.sign_in("upstream", "success");
    tracing::info!(target: "valet::audit", sub = %user.id, %ip, method = %method, "signed in");
    state.audit.event(
        now,
        "signin.succeeded",
        format!("user:{}", user.username),
        Some(ip),
        format!("user:{}", user.username),
        serde_json::json!({ "method": method }),
    );
    let browser = Browser { session, user };
    second_factor::continue_to(state, headers, app, then, browser, vec![cookie], now).await
}
