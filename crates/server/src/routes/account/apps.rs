//! The applications a user allowed: removing one forgets the consent and revokes every
//! grant of that application: its refresh tokens stop working and its access tokens read
//! inactive at introspection.

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

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
