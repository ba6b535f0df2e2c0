//! `GET|POST /signup/verify?token=…`: following the emailed link confirms the address and
//! makes the account a user for good. Opening the link shows a button and changes
//! nothing (mail scanners open links); pressing it uses the link (one atomic `DELETE …
//! RETURNING`: the first use wins), marks `email_verified` and ends the pending state,
//! then says to sign in. It does not sign in: whoever holds an emailed link is not thereby
//! the account's owner (NIST SP 800-63B §5.1.3.1: email is no authenticator), the link may
//! be opened on another device than the one that signed up, and a sign-in with the
//! password is what every later one will be.

use axum::Form;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::net::SocketAddr;

use super::{SIGNUP, View, page, unverified};
use crate::crypto::sha256;
use crate::error::ApiError;
use crate::routes::password::token_of;
use crate::session::LoginCsrf;
use crate::state::Shared;

/// `GET /signup/verify?token=…`: the button, if the link is still good.
pub async fn form(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let run = async {
        let csrf = LoginCsrf::from_headers(&state, &headers)?;
        let token = token_of(query.as_deref());
        let link = match &token {
            Some(t) => {
                state
                    .store
                    .link(&sha256(t.as_bytes()), SIGNUP, state.clock.now())
                    .await?
            }
            None => None,
        };
        let (step, status) = match link {
            Some(_) => ("confirm", StatusCode::OK),
            None => ("invalid", StatusCode::BAD_REQUEST),
        };
        let view = View {
            step,
            email: link.as_ref().map(|l| l.data.as_str()),
            token: token.as_deref().filter(|_| link.is_some()),
            ..Default::default()
        };
        Ok::<_, ApiError>(page(&state, &csrf, status, view))
    };
    run.await.unwrap_or_else(|e| e.into_page(&state.pages))
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    token: String,
    csrf: Option<String>,
}

/// `POST /signup/verify`.
pub async fn submit(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let run = async {
        let csrf = LoginCsrf::from_headers(&state, &headers)?;
        if !csrf.check(form.csrf.as_deref()) {
            return Err(unverified());
        }
        let now = state.clock.now();
        let invalid = || {
            let view = View {
                step: "invalid",
                ..Default::default()
            };
            Ok(page(&state, &csrf, StatusCode::BAD_REQUEST, view))
        };
        if form.token.is_empty() || form.token.len() > 100 {
            return invalid();
        }
        let Some(link) = state
            .store
            .consume_link(&sha256(form.token.as_bytes()), SIGNUP, now)
            .await?
        else {
            return invalid();
        };
        let Some(mut user) = state.store.user(&link.user_id).await? else {
            return invalid();
        };
        // An admin changed the address since: the link proves nothing of the new one.
        if user.claims.email.as_deref() != Some(link.data.as_str()) {
            return invalid();
        }
        user.pending_until = None;
        user.claims.email_verified = true;
        user.updated_at = now;
        if !state.store.update_user(&user).await? {
            return invalid();
        }
        state.audit.event(
            now,
            "signup.verified",
            format!("user:{}", user.username),
            Some(peer.ip()),
            format!("user:{}", user.username),
            serde_json::json!({ "email_verified": { "from": false, "to": true } }),
        );
        let view = View {
            step: "ready",
            username: Some(&user.username),
            email: Some(&link.data),
            ..Default::default()
        };
        Ok(page(&state, &csrf, StatusCode::OK, view))
    };
    run.await.unwrap_or_else(|e| e.into_page(&state.pages))
}
