//! "Sign in with a passkey" (issue 16): the login page carries a WebAuthn challenge for a
//! discoverable credential (`offer`), sealed beside the login form's own interaction;
//! its script (`assets/passkey.js`) asks the browser for an assertion — quietly in the
//! username field's autofill where the browser offers conditional mediation, or with the
//! button — and posts it to `POST /login/passkey`, which checks it (WebAuthn §7.2, in
//! `passkeys.rs`) and signs the browser in like a correct password would, with the
//! passkey's `amr`. A passkey requires user verification, so it is two factors on its
//! own: no second-factor step follows.

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use valet_protocol::UnixTime;

use crate::error::{ApiError, FormKind, Page};
use crate::interaction::{self, Interaction, Kind, form_spent};
use crate::passkeys::{self, Passkeys};
use crate::routes::login::{self, Destination, Pending};
use crate::session::{self, LoginCsrf};
use crate::state::{AppState, Shared};

const REFUSED: &str =
    "That passkey could not be used to sign in. Try again, or sign in with your password.";

/// What the login page needs to offer a passkey: the options for
/// `navigator.credentials.get` (JSON) and the ceremony's sealed state.
#[derive(Serialize)]
pub struct Offer {
    pub options: String,
    pub state: String,
}

/// A fresh challenge for a login page shown to the browser of `binding` (its login CSRF
/// cookie); `None` where passkeys are not available. Nothing is written.
pub fn offer(state: &AppState, binding: &str, now: UnixTime) -> Result<Option<Offer>, ApiError> {
    if !state.passkeys.available() {
        return Ok(None);
    }
    let (options, ceremony) = state.passkeys.start_sign_in()?;
    let sealed = interaction::seal(state, binding, &Interaction::PasskeySignIn(ceremony), now)?;
    Ok(Some(Offer {
        options,
        state: sealed,
    }))
}

#[derive(Deserialize)]
pub struct PasskeyForm {
    csrf: Option<String>,
    /// The login form's own interaction (an authorization request, a device code).
    interaction: Option<String>,
    /// The sealed ceremony (`offer`).
    passkey: Option<String>,
    /// The browser's `PublicKeyCredential`, as JSON.
    #[serde(default)]
    credential: String,
    #[serde(default)]
    to: Destination,
}

/// `POST /login/passkey`.
pub async fn submit(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PasskeyForm>,
) -> Response {
    submit_inner(&state, peer.ip(), &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn submit_inner(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    form: PasskeyForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let csrf = LoginCsrf::from_headers(state, headers)?;
    if !csrf.check(form.csrf.as_deref()) {
        return Ok(Page::FormUnverified(FormKind::SignIn).into_page(&state.pages));
    }
    // The ceremony counts once, like every form (a replayed assertion finds it spent).
    let Some(opened) = form
        .passkey
        .as_deref()
        .and_then(|v| interaction::open(state, &[Kind::PasskeySignIn], &csrf.binding(), v, now))
    else {
        return Ok(form_spent(state));
    };
    if !opened.consume(state).await? {
        return Ok(form_spent(state));
    }
    let Interaction::PasskeySignIn(ceremony) = opened.interaction else {
        return Ok(form_spent(state));
    };
    let pending = match login::pending(state, &csrf, form.interaction.as_deref(), now).await? {
        Ok(p) => p,
        Err(spent) => return Ok(spent),
    };
    let counted = crate::mfa::count_passkey_sign_in(state, ip, now).await?;
    let checked = check(state, &form.credential, ceremony, now).await?;
    let Some((user, amr)) = checked else {
        tracing::info!(target: "valet::audit", %ip, "a passkey sign-in failed");
        state.metrics.sign_in("passkey", "failure");
        state.audit.event(
            now,
            "signin.failed",
            "anonymous".to_owned(),
            Some(ip),
            "passkey".to_owned(),
            serde_json::json!({ "method": "passkey" }),
        );
        return again(state, headers, pending.as_ref(), form.to, now).await;
    };
    // A success is no attempt against anyone.
    state.store.throttle_refund(&counted).await?;
    let (session, cookie) = session::sign_in_with(state, headers, ip, &user, now, amr, now).await?;
    state.metrics.sign_in("passkey", "success");
    login::signed_in(
        state, headers, ip, session, user, pending, form.to, cookie, "passkey", now,
    )
    .await
}

/// The user the assertion `credential` proves, with the sign-in's `amr`; `None` for an
/// assertion that does not check out, of a passkey nobody has (any more), or of a user who
/// may not sign in.
async fn check(
    state: &AppState,
    credential: &str,
    ceremony: webauthn_rs::prelude::DiscoverableAuthentication,
    now: UnixTime,
) -> Result<Option<(crate::users::User, Vec<String>)>, ApiError> {
    let Ok((cred, id, handle)) = state.passkeys.identify(credential) else {
        return Ok(None);
    };
    let Some(record) = state.store.passkey(&id).await? else {
        return Ok(None);
    };
    // The user handle the authenticator returned is the one registered for this
    // credential's user (WebAuthn §7.2 step 6).
    if handle != Passkeys::user_handle(&record.user_id) {
        return Ok(None);
    }
    let Some(mut key) = passkeys::read(&record.credential) else {
        tracing::error!(credential_id = %record.credential_id, "a stored passkey is unreadable");
        return Ok(None);
    };
    let Ok(result) = state.passkeys.finish_sign_in(&cred, ceremony, &key) else {
        return Ok(None);
    };
    // The user may have been disabled or deleted since registering it.
    let Some(user) = state.users.by_sub(&record.user_id).await? else {
        return Ok(None);
    };
    key.update_credential(&result);
    state
        .store
        .passkey_used(&record.credential_id, &passkeys::write(&key)?, now)
        .await?;
    Ok(Some((user, passkeys::amr(&result, None))))
}

/// The login page again (freshly sealed, with a new challenge), saying the passkey did
/// not work.
async fn again(
    state: &AppState,
    headers: &HeaderMap,
    pending: Option<&Pending>,
    to: Destination,
    now: UnixTime,
) -> Result<Response, ApiError> {
    match pending {
        Some((client, continues)) => {
            interaction::login_page(
                state,
                headers,
                &client.app,
                continues,
                Some(REFUSED),
                None,
                now,
            )
            .await
        }
        None => login::standalone(state, headers, Some(REFUSED), None, to, now),
    }
}
