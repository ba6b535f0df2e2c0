//! `POST /consent`: the user's answer on the consent page. The form carries the request
//! sealed to this browser's session and a CSRF token bound to it (checklist C1, C2); it
//! is answered once, within 15 minutes, and only while the application's registration
//! still allows the request (issue 12 item 10). "Deny" sends `access_denied` back (C8);
//! "Allow" remembers the consent (the union with what the user allowed before) and
//! issues the response.

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use valet_protocol::scope::Scope;
use valet_store::ConsentRecord;

use crate::error::{ApiError, FormKind, Page};
use crate::interaction::{self, Interaction, Kind, form_spent};
use crate::session::Browser;
use crate::state::{AppState, Shared};

use super::authorize::{denied, recheck, respond};

#[derive(Deserialize)]
pub struct ConsentForm {
    csrf: Option<String>,
    interaction: Option<String>,
    decision: Option<String>,
}

pub async fn submit(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<ConsentForm>,
) -> Response {
    submit_inner(&state, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn submit_inner(
    state: &AppState,
    headers: &HeaderMap,
    form: ConsentForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(browser) = Browser::from_headers(state, headers, now).await? else {
        return Ok(Page::SessionEnded(FormKind::Consent).into_page(&state.pages));
    };
    if !browser.check_csrf(state, form.csrf.as_deref()) {
        return Ok(Page::FormUnverified(FormKind::Consent).into_page(&state.pages));
    }
    let Some(opened) = form.interaction.as_deref().and_then(|sealed| {
        interaction::open(state, &[Kind::Authorize], &browser.binding(), sealed, now)
    }) else {
        return Ok(form_spent(state));
    };
    // One answer per form (issue 12 item 10): a second submit, Allow or Deny, is refused
    // before anything is recorded or sent.
    if !opened.consume(state).await? {
        return Ok(form_spent(state));
    }
    let Interaction::Authorize(req) = opened.interaction else {
        return Ok(form_spent(state));
    };
    let Some(client) = state.catalog.client(&req.client_id).await? else {
        return Ok(Page::ApplicationGone.into_page(&state.pages));
    };
    if let Some(r) = recheck(state, &client.app, &req) {
        return Ok(r);
    }
    match form.decision.as_deref() {
        Some("allow") => {}
        Some("deny") => {
            tracing::info!(target: "valet::audit", client_id = %client.app.client_id,
                sub = %browser.user.id, "consent denied");
            return Ok(denied(state, &req));
        }
        _ => return Err(ApiError::BadInput("choose Allow or Deny".into())),
    }
    let before = state
        .store
        .consent(&browser.user.id, &client.app.client_id)
        .await?;
    let scope = match &before {
        Some(c) => Scope::parse(&c.scope).unwrap_or_default().union(&req.scope),
        None => req.scope.clone(),
    };
    state
        .store
        .save_consent(&ConsentRecord {
            user_id: browser.user.id.clone(),
            client_id: client.app.client_id.clone(),
            scope: scope.to_wire(),
            created_at: before.map_or(now, |c| c.created_at),
            updated_at: now,
        })
        .await?;
    tracing::info!(target: "valet::audit", client_id = %client.app.client_id,
        sub = %browser.user.id, scope = %scope.to_wire(), "consent given");
    state.audit.event(
        now,
        "consent.give",
        format!("user:{}", browser.user.username),
        None,
        format!("client:{}", client.app.client_id),
        serde_json::json!({ "scope": scope.to_wire() }),
    );
    respond(state, &client.app, &req, &browser, now).await
}
