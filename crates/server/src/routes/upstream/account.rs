//! The account page's side of upstream providers: linking one (the round trip bound to
//! the session), unlinking one while another way in remains, the section listing them.

use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use valet_protocol::UnixTime;

use crate::error::ApiError;
use crate::interaction::Kind;
use crate::routes::second_factor::Then;
use crate::session::Browser;
use crate::state::{AppState, Shared};

use super::*;

/// `POST /account/upstreams/{id}/link`: a signed-in user links an account at `id`.
pub async fn link(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    link_inner(&state, &id, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
    #[serde(default)]
    subject: String,
}

pub(super) async fn link_inner(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    form: CsrfForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let b = match crate::routes::account::signed_in_form(state, headers, form.csrf.as_deref(), now)
        .await?
    {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    let Some(provider) = state.upstreams.get(id) else {
        return Err(ApiError::NotFound(format!("no identity provider `{id}`")));
    };
    match go(
        state,
        &provider,
        Then::Account,
        &b.binding(),
        Kind::UpstreamLink,
        None,
        now,
    )
    .await?
    {
        Ok(r) => Ok(r),
        Err(e) => account_problem(state, &b, &provider, &e, now).await,
    }
}

/// `POST /account/upstreams/{id}/unlink`: removes one of the user's links, while another
/// way to sign in remains (a password, a passkey, another link).
pub async fn unlink(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    unlink_inner(&state, &id, peer.ip(), &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

pub(super) async fn unlink_inner(
    state: &AppState,
    id: &str,
    ip: IpAddr,
    headers: &HeaderMap,
    form: CsrfForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let b = match crate::routes::account::signed_in_form(state, headers, form.csrf.as_deref(), now)
        .await?
    {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    let name = state
        .upstreams
        .get(id)
        .map_or_else(|| id.to_owned(), |p| p.name().to_owned());
    let links = state.store.identities_of_user(&b.user.id).await?;
    if !links
        .iter()
        .any(|l| l.upstream == id && l.subject == form.subject)
    {
        return bad(
            state,
            &b,
            format!("That {name} account is not linked to yours."),
            now,
        )
        .await;
    }
    if !other_way_in(state, &b.user.id, links.len()).await? {
        return bad(
            state,
            &b,
            format!(
                "{name} is your only way to sign in. Set a password or add a passkey first, \
                 or link another provider."
            ),
            now,
        )
        .await;
    }
    if !state
        .store
        .unlink_identity(&b.user.id, id, &form.subject)
        .await?
    {
        return bad(
            state,
            &b,
            format!("That {name} account is not linked to yours."),
            now,
        )
        .await;
    }
    tracing::info!(target: "valet::audit", sub = %b.user.id, upstream = %id, "upstream account unlinked");
    state.audit.event(
        now,
        "upstream.unlinked",
        format!("user:{}", b.user.username),
        Some(ip),
        format!("user:{}", b.user.username),
        serde_json::json!({ "upstream": id }),
    );
    crate::routes::account::page(
        state,
        &b,
        Some(format!("{name} is no longer linked.")),
        None,
        now,
    )
    .await
}

/// Whether the user can still sign in without one of their `links` links: a password, a
/// passkey, or a second link.
pub async fn other_way_in(state: &AppState, user_id: &str, links: usize) -> Result<bool, ApiError> {
    if links > 1 {
        return Ok(true);
    }
    let password = state
        .store
        .user(user_id)
        .await?
        .is_none_or(|u| u.password_hash.is_some());
    Ok(password || !state.store.passkeys_of_user(user_id).await?.is_empty())
}

pub(super) async fn bad(
    state: &AppState,
    b: &Browser,
    message: String,
    now: UnixTime,
) -> Result<Response, ApiError> {
    crate::routes::account::page(
        state,
        b,
        None,
        Some((StatusCode::BAD_REQUEST, message)),
        now,
    )
    .await
}

/// `/account?linked={id}` (where a link made on the account page lands): the notice,
/// when the signed-in user does have a link at that provider (otherwise none: the query
/// is only a pointer to what happened, not a claim that it did).
pub async fn linked_notice(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    now: UnixTime,
) -> Result<Option<String>, ApiError> {
    let Some(id) = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "linked")
        .map(|(_, v)| v.into_owned())
    else {
        return Ok(None);
    };
    let Some(provider) = state.upstreams.get(&id) else {
        return Ok(None);
    };
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(None);
    };
    let links = state.store.identities_of_user(&b.user.id).await?;
    Ok(links
        .iter()
        .any(|l| l.upstream == id)
        .then(|| format!("{} is linked: you can sign in with it.", provider.name())))
}

/// The account page's section: each provider, linked (with the address it asserted) or
/// not.
#[derive(Serialize)]
pub struct LinkView {
    id: String,
    name: String,
    linked: Vec<LinkedView>,
}

#[derive(Serialize)]
pub(super) struct LinkedView {
    subject: String,
    email: Option<String>,
    /// Whether another way to sign in remains without it.
    can_unlink: bool,
}

pub async fn section(state: &AppState, user_id: &str) -> Result<Vec<LinkView>, ApiError> {
    if state.upstreams.all().is_empty() {
        return Ok(Vec::new());
    }
    let links = state.store.identities_of_user(user_id).await?;
    let can_unlink = other_way_in(state, user_id, links.len()).await?;
    Ok(state
        .upstreams
        .all()
        .iter()
        .map(|p| LinkView {
            id: p.id().to_owned(),
            name: p.name().to_owned(),
            linked: links
                .iter()
                .filter(|l| l.upstream == p.id())
                .map(|l| LinkedView {
                    subject: l.subject.clone(),
                    email: l.email.clone(),
                    can_unlink,
                })
                .collect(),
        })
        .collect())
}
