//! The applications a user allowed: removing one forgets the consent and revokes every
//! grant of that application: its refresh tokens stop working and its access tokens read
//! inactive at introspection. Withdrawing one scope keeps the rest (`withdraw_scope`).

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use std::net::SocketAddr;
use valet_protocol::scope::Scope;
use valet_protocol::withdraw::{self, Withdrawal};

use crate::error::{ApiError, FormKind, Page};
use crate::routes::login::see_other;
use crate::session::Browser;
use crate::state::{AppState, Shared};

use super::show_inner;

#[derive(Deserialize)]
pub struct RevokeForm {
    csrf: Option<String>,
    client_id: Option<String>,
}

/// `POST /account/revoke`.
pub async fn revoke(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Response {
    revoke_inner(&state, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn revoke_inner(
    state: &AppState,
    headers: &HeaderMap,
    form: RevokeForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(see_other("/login"));
    };
    if !b.check_csrf(state, form.csrf.as_deref()) {
        return Ok(ApiError::from(Page::FormUnverified(FormKind::Account)).into_page(&state.pages));
    }
    let client_id = form
        .client_id
        .ok_or_else(|| ApiError::BadInput("which application?".into()))?;
    let revoked = state
        .store
        .revoke_consent(&b.user.id, &client_id, now)
        .await?;
    tracing::info!(target: "valet::audit", sub = %b.user.id, client_id = %client_id,
        grants = revoked, "consent revoked by the user");
    state.audit.event(
        now,
        "consent.withdraw",
        format!("user:{}", b.user.username),
        None,
        format!("client:{client_id}"),
        serde_json::json!({ "grants_revoked": revoked }),
    );
    let name = state
        .catalog
        .client(&client_id)
        .await?
        .map_or_else(|| "the application".to_owned(), |c| c.app.name.clone());
    show_inner(
        state,
        headers,
        Some(format!("Access removed for {name}.")),
        now,
    )
    .await
}

#[derive(Deserialize)]
pub struct WithdrawForm {
    csrf: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
}

/// `POST /account/withdraw-scope`: one scope of an application, withdrawn
/// (`valet_protocol::withdraw`): the consent and the grants of the pair keep the others
/// (`Consents::withdraw_scope`, one transaction); refresh tokens from then on yield only
/// those, and the access tokens minted before read inactive at introspection and
/// UserInfo (`tokens::live_access_token`). `openid`, or the last scope, is withdrawn by
/// removing the application.
pub async fn withdraw_scope(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<WithdrawForm>,
) -> Response {
    withdraw_inner(&state, peer, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn withdraw_inner(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: WithdrawForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(see_other("/login"));
    };
    if !b.check_csrf(state, form.csrf.as_deref()) {
        return Ok(ApiError::from(Page::FormUnverified(FormKind::Account)).into_page(&state.pages));
    }
    let (Some(client_id), Some(scope)) = (form.client_id, form.scope) else {
        return Err(ApiError::BadInput("which application and scope?".into()));
    };
    let consented = state
        .store
        .consent(&b.user.id, &client_id)
        .await?
        .map(|c| Scope::parse(&c.scope).unwrap_or_default())
        .unwrap_or_default();
    match withdraw::withdraw(&consented, &scope) {
        Withdrawal::Narrow(_) => {}
        Withdrawal::RemoveApplication => {
            return Err(ApiError::BadInput(
                "this permission cannot be removed alone: remove the application's access instead"
                    .into(),
            ));
        }
        Withdrawal::NotGranted => {
            return Err(ApiError::BadInput(
                "the application does not have that permission".into(),
            ));
        }
    }
    let narrowed = state
        .store
        .withdraw_scope(&b.user.id, &client_id, &scope, now)
        .await?;
    tracing::info!(target: "valet::audit", sub = %b.user.id, client_id = %client_id,
        scope = %scope, grants = narrowed, "scope withdrawn by the user");
    state.audit.event(
        now,
        "consent.withdraw_scope",
        format!("user:{}", b.user.username),
        Some(peer.ip()),
        format!("client:{client_id}"),
        serde_json::json!({ "scope": scope, "grants_narrowed": narrowed }),
    );
    let name = state
        .catalog
        .client(&client_id)
        .await?
        .map_or_else(|| "the application".to_owned(), |c| c.app.name.clone());
    show_inner(
        state,
        headers,
        Some(format!("{name} no longer has {scope}.")),
        now,
    )
    .await
}
