//! The browsers a user is signed in with: ending one of them, or all ("Sign out
//! everywhere"). A session is named in the form by its `sid` (`session::sid`, the digest
//! applications already see in ID and logout tokens), never by its id or its hash, and
//! only one of the user's own live sessions can be named: the handle is looked up among
//! them. Each ends through the store's `end_session` rules: the applications signed in
//! through it are told (Back-Channel Logout) and its grants without `offline_access`
//! are revoked, in the same transaction.

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use valet_store::SessionRecord;

use crate::error::{ApiError, FormKind, Page};
use crate::routes::login::see_other;
use crate::session::{self, Browser, with_cookies};
use crate::state::{AppState, Shared};

use super::{date, device, show_inner, time};

/// A session as the account page shows it.
#[derive(Serialize)]
pub(super) struct SessionView {
    /// What the forms name it by (`session::sid`).
    handle: String,
    device: String,
    /// The header as recorded (shown escaped, as a tooltip).
    user_agent: Option<String>,
    address: Option<String>,
    signed_in: String,
    last_used: String,
    current: bool,
}

/// The user's live sessions, this browser's first, then the newest first.
pub(super) async fn list(
    state: &AppState,
    b: &Browser,
    now: i64,
) -> Result<Vec<SessionView>, ApiError> {
    let mut all = state.store.sessions_of_user(&b.user.id, now).await?;
    all.sort_by_key(|s| (s.id_hash != b.session.id_hash, -s.created_at));
    Ok(all
        .iter()
        .map(|s| SessionView {
            handle: session::sid(&s.id_hash),
            device: device::describe(s.user_agent.as_deref()),
            user_agent: s.user_agent.clone(),
            address: s.address.clone(),
            signed_in: date(s.created_at),
            last_used: time(s.last_used_at),
            current: s.id_hash == b.session.id_hash,
        })
        .collect())
}

#[derive(Deserialize)]
pub struct EndForm {
    csrf: Option<String>,
    session: Option<String>,
}

/// `POST /account/sessions/end`: signs one other browser out.
pub async fn end(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<EndForm>,
) -> Response {
    end_inner(&state, peer, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn end_inner(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: EndForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(see_other("/login"));
    };
    if !b.check_csrf(state, form.csrf.as_deref()) {
        return Ok(ApiError::from(Page::FormUnverified(FormKind::Account)).into_page(&state.pages));
    }
    let handle = form.session.unwrap_or_default();
    // Only among the user's own sessions: a handle of anyone else's names nothing here.
    let target: Option<SessionRecord> = state
        .store
        .sessions_of_user(&b.user.id, now)
        .await?
        .into_iter()
        .find(|s| session::sid(&s.id_hash) == handle);
    let Some(target) = target else {
        return Err(ApiError::BadInput(
            "that session is not one of yours, or it has ended already".into(),
        ));
    };
    if target.id_hash == b.session.id_hash {
        // This browser's own: the Sign out button's job, with its confirmation.
        return Err(ApiError::BadInput(
            "to sign this browser out, use Sign out".into(),
        ));
    }
    state.store.end_session(&target.id_hash, now).await?;
    tracing::info!(target: "valet::audit", sub = %b.user.id, sid = %handle,
        "session ended by its user from another one");
    state.audit.event(
        now,
        "session.end",
        format!("user:{}", b.user.username),
        Some(peer.ip()),
        format!("session:{handle}"),
        serde_json::json!({ "device": device::describe(target.user_agent.as_deref()) }),
    );
    let what = device::describe(target.user_agent.as_deref());
    show_inner(state, headers, Some(format!("Signed out of {what}.")), now).await
}

#[derive(Deserialize)]
pub struct EverywhereForm {
    csrf: Option<String>,
}

/// `POST /account/sessions/end-all` ("Sign out everywhere"): every session of the user
/// ends, this one included, each as a logout ends it; the page then says so. Grants
/// with `offline_access` stay (the applications list is where to remove those).
pub async fn end_all(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<EverywhereForm>,
) -> Response {
    end_all_inner(&state, peer, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn end_all_inner(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: EverywhereForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(see_other("/login"));
    };
    if !b.check_csrf(state, form.csrf.as_deref()) {
        return Ok(ApiError::from(Page::FormUnverified(FormKind::Account)).into_page(&state.pages));
    }
    let others = state
        .store
        .end_sessions_of_user(&b.user.id, Some(&b.session.id_hash), false, now)
        .await?;
    // This browser's last, through the sign-out every logout takes (its cookie cleared).
    let cookie = session::sign_out(state, headers, now).await?;
    tracing::info!(target: "valet::audit", sub = %b.user.id, sessions = others + 1,
        "signed out everywhere");
    state.audit.event(
        now,
        "session.end_all",
        format!("user:{}", b.user.username),
        Some(peer.ip()),
        format!("user:{}", b.user.username),
        serde_json::json!({ "sessions_ended": others + 1 }),
    );
    #[derive(Serialize)]
    struct View {
        everywhere: bool,
    }
    let page = state
        .pages
        .render(StatusCode::OK, "logged_out.html", View { everywhere: true });
    Ok(with_cookies(page, vec![cookie]))
}
