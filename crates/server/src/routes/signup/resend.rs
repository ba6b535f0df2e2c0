//! `GET|POST /signup/resend`: a new link for an account waiting for its address to be
//! confirmed (the pending page after a right password leads here, the username filled
//! in). It takes a username or an email address and answers the same whether or not a
//! pending account matched (nobody learns which accounts exist or wait); a match gets a
//! fresh link (the earlier ones stop working) and its deadline moves with it. Throttled
//! like sign-up, per client address and per name or address asked for. It keeps working
//! after `self_registration` is turned off, so that accounts already waiting can still be
//! confirmed before they are purged.

use axum::Form;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::net::SocketAddr;
use valet_store::UserRecord;

use super::{SIGNUP_TTL, View, page, send_link, throttle, unverified};
use crate::error::ApiError;
use crate::session::LoginCsrf;
use crate::state::{AppState, Shared};

/// `GET /signup/resend[?username=…]`.
pub async fn form(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let who: Option<String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "username")
        .map(|(_, v)| v.chars().take(128).collect());
    match LoginCsrf::from_headers(&state, &headers) {
        Ok(csrf) => {
            let view = View {
                step: "resend",
                username: who.as_deref(),
                ..Default::default()
            };
            page(&state, &csrf, StatusCode::OK, view)
        }
        Err(e) => e.into_page(&state.pages),
    }
}

#[derive(Deserialize)]
pub struct ResendForm {
    #[serde(default)]
    who: String,
    csrf: Option<String>,
}

/// `POST /signup/resend`.
pub async fn submit(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ResendForm>,
) -> Response {
    let run = async {
        let csrf = LoginCsrf::from_headers(&state, &headers)?;
        if !csrf.check(form.csrf.as_deref()) {
            return Err(unverified());
        }
        let who: String = form.who.trim().chars().take(320).collect();
        if let Some(mailer) = &state.mailer {
            let now = state.clock.now();
            throttle(&state, "signup-resend", peer.ip(), &who, now).await?;
            // From here on the answer is the same, whatever matched.
            if let Some(mut user) = pending(&state, &who).await? {
                user.pending_until = Some(now + SIGNUP_TTL);
                user.updated_at = now;
                state.store.update_user(&user).await?;
                send_link(&state, mailer, &user, now).await?;
            }
        }
        let view = View {
            step: "sent",
            ..Default::default()
        };
        Ok::<_, ApiError>(page(&state, &csrf, StatusCode::OK, view))
    };
    run.await.unwrap_or_else(|e| e.into_page(&state.pages))
}

/// The pending account `who` names: by username, else the one pending account with that
/// address.
async fn pending(state: &AppState, who: &str) -> Result<Option<UserRecord>, ApiError> {
    if who.is_empty() {
        return Ok(None);
    }
    if let Some(u) = state.store.user_by_username(who).await? {
        return Ok(u.pending_until.is_some().then_some(u));
    }
    if !who.contains('@') {
        return Ok(None);
    }
    let mut waiting: Vec<UserRecord> = state
        .store
        .users_by_email(who)
        .await?
        .into_iter()
        .filter(|u| u.pending_until.is_some())
        .collect();
    Ok(match waiting.len() {
        1 => waiting.pop(),
        _ => None,
    })
}
