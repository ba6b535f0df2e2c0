//! A user's passkeys on the account page (issue 16): the list (name, when added, when last
//! used), adding one (a WebAuthn registration, §7.1: the page carries the ceremony's
//! options and its sealed state; `assets/passkey.js` asks the browser to create the
//! credential and posts it back), renaming and removing one. A passkey is named in the
//! forms by its credential id, looked up among the user's own only.
//!
//! A first passkey also brings recovery codes when the user has none: a passkey is asked
//! for after a password too, and a lost one must not lock the person out.

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

use crate::error::ApiError;
use crate::interaction::{self, Interaction, Kind};
use crate::passkeys::{self, MAX_PER_USER};
use crate::routes::second_factor::recovery_page;
use crate::session::Browser;
use crate::state::{AppState, Shared};

use super::{date, device, page, signed_in_form, time};

/// The passkeys section of the account page.
#[derive(Serialize)]
pub(super) struct PasskeysView {
    keys: Vec<KeyView>,
    /// The registration ceremony's options (JSON) and sealed state; none at the limit.
    add: Option<crate::routes::passkey::Offer>,
    limit: u32,
}

#[derive(Serialize)]
struct KeyView {
    id: String,
    name: String,
    added: String,
    last_used: Option<String>,
}

/// The section for `b`, with a fresh registration ceremony; `None` where passkeys are not
/// available (an issuer that is an IP address). Nothing is written.
pub(super) async fn section(
    state: &AppState,
    b: &Browser,
    now: i64,
) -> Result<Option<PasskeysView>, ApiError> {
    if !state.passkeys.available() {
        return Ok(None);
    }
    let records = state.store.passkeys_of_user(&b.user.id).await?;
    let add = if records.len() < MAX_PER_USER as usize {
        let existing: Vec<_> = records
            .iter()
            .filter_map(|r| passkeys::read(&r.credential))
            .collect();
        let display = b.user.claims.name.as_deref().unwrap_or(&b.user.username);
        let (options, ceremony) =
            state
                .passkeys
                .start_registration(&b.user.id, &b.user.username, display, &existing)?;
        let sealed = interaction::seal(
            state,
            &b.binding(),
            &Interaction::PasskeyRegister(ceremony),
            now,
        )?;
        Some(crate::routes::passkey::Offer {
            options,
            state: sealed,
        })
    } else {
        None
    };
    Ok(Some(PasskeysView {
        keys: records
            .into_iter()
            .map(|r| KeyView {
                id: r.credential_id,
                name: r.name,
                added: date(r.created_at),
                last_used: r.last_used_at.map(time),
            })
            .collect(),
        add,
        limit: MAX_PER_USER,
    }))
}

#[derive(Deserialize)]
pub struct AddForm {
    csrf: Option<String>,
    interaction: Option<String>,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    name: String,
}

/// `POST /account/passkeys`: the browser's new credential.
pub async fn add(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AddForm>,
) -> Response {
    add_inner(&state, peer, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn add_inner(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: AddForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let b = match signed_in_form(state, headers, form.csrf.as_deref(), now).await? {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    let Some(opened) = form
        .interaction
        .as_deref()
        .and_then(|v| interaction::open(state, &[Kind::PasskeyRegister], &b.binding(), v, now))
    else {
        return problem(state, &b, "That took too long. Add the passkey again.", now).await;
    };
    if !opened.consume(state).await? {
        return problem(
            state,
            &b,
            "That form was used already. Add the passkey again.",
            now,
        )
        .await;
    }
    let Interaction::PasskeyRegister(ceremony) = opened.interaction else {
        return problem(state, &b, "Add the passkey again.", now).await;
    };
    let key = match state
        .passkeys
        .finish_registration(&form.credential, &ceremony)
    {
        Ok(k) => k,
        Err(why) => {
            let message = format!("The passkey was not added: {}.", why.0);
            return problem(state, &b, &message, now).await;
        }
    };
    let name = passkeys::clean_name(&form.name).unwrap_or_else(|| {
        let ua = headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        format!(
            "Passkey on {}",
            device::describe(ua).replace("A browser on ", "")
        )
    });
    let record = valet_store::PasskeyRecord {
        credential_id: crate::crypto::b64(key.cred_id()),
        user_id: b.user.id.clone(),
        name: name.clone(),
        credential: passkeys::write(&key)?,
        created_at: now,
        last_used_at: None,
    };
    let first = state.store.recovery_codes_left(&b.user.id).await? == 0;
    let codes = if first {
        Some(crate::mfa::new_recovery_codes(&state.mfa)?)
    } else {
        None
    };
    let hashes = codes.as_ref().map(|(_, h)| h.as_slice());
    if !state
        .store
        .add_passkey(&record, hashes, MAX_PER_USER)
        .await?
    {
        return problem(
            state,
            &b,
            &format!(
                "The passkey was not added: it is registered already, or you have {MAX_PER_USER} passkeys."
            ),
            now,
        )
        .await;
    }
    tracing::info!(target: "valet::audit", sub = %b.user.id, "passkey added");
    state.audit.event(
        now,
        "mfa.enrolled",
        format!("user:{}", b.user.username),
        Some(peer.ip()),
        format!("user:{}", b.user.username),
        serde_json::json!({ "method": "passkey", "name": name }),
    );
    match codes {
        Some((codes, _)) => recovery_page(state, &b, None, &codes, now),
        None => {
            page(
                state,
                &b,
                Some(format!("Passkey “{name}” added.")),
                None,
                now,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct KeyForm {
    csrf: Option<String>,
    #[serde(default)]
    passkey: String,
    #[serde(default)]
    name: String,
}

/// `POST /account/passkeys/rename`.
pub async fn rename(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<KeyForm>,
) -> Response {
    rename_inner(&state, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn rename_inner(
    state: &AppState,
    headers: &HeaderMap,
    form: KeyForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let b = match signed_in_form(state, headers, form.csrf.as_deref(), now).await? {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    let Some(name) = passkeys::clean_name(&form.name) else {
        return problem(state, &b, "A passkey needs a name.", now).await;
    };
    if !state
        .store
        .rename_passkey(&b.user.id, &form.passkey, &name)
        .await?
    {
        return problem(state, &b, "That passkey is not one of yours.", now).await;
    }
    page(
        state,
        &b,
        Some(format!("Passkey renamed “{name}”.")),
        None,
        now,
    )
    .await
}

/// `POST /account/passkeys/remove`.
pub async fn remove(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<KeyForm>,
) -> Response {
    remove_inner(&state, peer, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn remove_inner(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: KeyForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let b = match signed_in_form(state, headers, form.csrf.as_deref(), now).await? {
        Ok(b) => b,
        Err(r) => return Ok(r),
    };
    let name = state
        .store
        .passkey(&form.passkey)
        .await?
        .filter(|r| r.user_id == b.user.id)
        .map(|r| r.name);
    let Some(name) = name else {
        return problem(state, &b, "That passkey is not one of yours.", now).await;
    };
    if !state
        .store
        .remove_passkey(&b.user.id, &form.passkey)
        .await?
    {
        return problem(state, &b, "That passkey is not one of yours.", now).await;
    }
    tracing::info!(target: "valet::audit", sub = %b.user.id, "passkey removed");
    state.audit.event(
        now,
        "mfa.removed",
        format!("user:{}", b.user.username),
        Some(peer.ip()),
        format!("user:{}", b.user.username),
        serde_json::json!({ "method": "passkey", "name": name }),
    );
    page(
        state,
        &b,
        Some(format!("Passkey “{name}” removed.")),
        None,
        now,
    )
    .await
}

async fn problem(
    state: &AppState,
    b: &Browser,
    message: &str,
    now: i64,
) -> Result<Response, ApiError> {
    let status = axum::http::StatusCode::BAD_REQUEST;
    page(state, b, None, Some((status, message.to_owned())), now).await
}
