//! `POST /account/password`: a user of the built-in store changes their password: the
//! current one first, checked as a sign-in is (`users::check_password`: throttled per
//! account and address before any hashing), then the new one against the policy
//! (`Passwords::check_policy`). Afterwards every other session of the user ends and every
//! grant not made in this browser's session is revoked, `offline_access` included
//! (checklist G11: `Sessions::end_sessions_of_user` with `every_grant`, one transaction;
//! their applications are told through Back-Channel Logout). This session stays. A
//! directory user's password is the directory's to change.

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::net::SocketAddr;

use crate::error::{ApiError, FormKind, Page};
use crate::passwords::Passwords;
use crate::routes::login::see_other;
use crate::session::Browser;
use crate::state::{AppState, Shared};
use crate::users::check_password;

use super::show_with;

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: Option<String>,
    current: Option<String>,
    new: Option<String>,
    confirm: Option<String>,
}

pub async fn change(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    change_inner(&state, peer, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn change_inner(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: PasswordForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(see_other("/login"));
    };
    if !b.check_csrf(state, form.csrf.as_deref()) {
        return Ok(ApiError::from(Page::FormUnverified(FormKind::Account)).into_page(&state.pages));
    }
    let problem = |status: StatusCode, text: String| async move {
        show_with(state, headers, None, Some((status, text)), now).await
    };
    let Some(mut record) = state.store.user(&b.user.id).await? else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Your password is managed by your organisation's directory: change it there.".into(),
        )
        .await;
    };
    let (current, new) = (
        form.current.unwrap_or_default(),
        form.new.unwrap_or_default(),
    );
    if form.confirm.as_deref() != Some(new.as_str()) {
        return problem(
            StatusCode::BAD_REQUEST,
            "The new password and its confirmation differ.".into(),
        )
        .await;
    }
    if let Err(why) = Passwords::check_policy(&new) {
        return problem(StatusCode::BAD_REQUEST, format!("The new password: {why}.")).await;
    }
    match check_password(state, &b.user.username, &current, peer.ip(), now).await {
        Ok(Some(u)) if u.id == b.user.id => {}
        Ok(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Your current password is not right.".into(),
            )
            .await;
        }
        Err(ApiError::Throttled(secs, _)) => {
            let mut r = problem(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "There were too many attempts. Try again in {}.",
                    crate::error::wait(secs)
                ),
            )
            .await?;
            if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            return Ok(r);
        }
        Err(e) => return Err(e),
    }
    // One hash, through the password gate (the current password was checked, throttled,
    // first).
    let hash = state.users.hash_password(&new).await?;
    record.password_hash = Some(hash);
    record.updated_at = now;
    if !state.store.update_user(&record).await? {
        return Ok(see_other("/login"));
    }
    let ended = state
        .store
        .end_sessions_of_user(&b.user.id, Some(&b.session.id_hash), true, now)
        .await?;
    tracing::info!(target: "valet::audit", sub = %b.user.id, sessions = ended,
        "password changed by the user; other sessions and grants ended");
    state.audit.event(
        now,
        "user.password_change",
        format!("user:{}", b.user.username),
        Some(peer.ip()),
        format!("user:{}", b.user.username),
        serde_json::json!({ "password": "[hidden]", "other_sessions_ended": ended }),
    );
    show_with(
        state,
        headers,
        Some(
            "Your password is changed. Every other browser and application signed in with it has been signed out."
                .into(),
        ),
        None,
        now,
    )
    .await
}
