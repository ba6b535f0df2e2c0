//! The account page's second factors (issue 16): set up an authenticator app
//! (`GET|POST /account/authenticator`: a fresh secret shown as a QR code and as its
//! `otpauth://` URI, sealed into the form — `Interaction::TotpEnrol`, bound to the session
//! — and stored, sealed under the master key, only once a first code from it is right;
//! ten recovery codes shown once), remove it (`POST /account/authenticator/remove`) or get
//! new recovery codes (`POST /account/recovery-codes`), both confirmed with the password
//! or a current code, so a borrowed session alone can do neither.

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use valet_protocol::UnixTime;
use valet_protocol::mfa::Policy;
use valet_store::TotpRecord;

use super::account;
use super::login::see_other;
use super::second_factor::{EnrolView, View, audit_enrolled, recovery_page};
use crate::error::{ApiError, FormKind, Page};
use crate::interaction::{self, Interaction, Kind, form_spent};
use crate::mfa::{self, totp};
use crate::session::Browser;
use crate::state::{AppState, Shared};
use crate::users::check_password;

/// A secret being enrolled from the account page, sealed in its form.
#[derive(Serialize, Deserialize)]
pub struct TotpEnrol {
    /// base32.
    pub secret: String,
}

/// `GET /account/authenticator`: a fresh secret to scan.
pub async fn show(State(state): State<Shared>, headers: HeaderMap) -> Response {
    show_inner(&state, &headers)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn show_inner(state: &AppState, headers: &HeaderMap) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(see_other("/login"));
    };
    if state.settings.mfa == Policy::Off || state.store.totp(&b.user.id).await?.is_some() {
        return Ok(see_other("/account"));
    }
    let secret = totp::base32(&mfa::new_secret()?);
    enrol_page(state, &b, secret, None, now)
}

fn enrol_page(
    state: &AppState,
    b: &Browser,
    secret: String,
    error: Option<&str>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let bytes = totp::unbase32(&secret).ok_or_else(|| ApiError::invariant("a sealed secret"))?;
    let sealed = interaction::seal(
        state,
        &b.binding(),
        &Interaction::TotpEnrol(TotpEnrol { secret }),
        now,
    )?;
    let csrf = b.csrf(state);
    Ok(state.pages.render(
        StatusCode::OK,
        "second_factor.html",
        View {
            action: "/account/authenticator",
            csrf: &csrf,
            interaction: &sealed,
            enrol: Some(EnrolView::new(state, &b.user.username, &bytes)),
            error,
            recovery: false,
            totp: true,
            passkey: None,
        },
    ))
}

#[derive(Deserialize)]
pub struct EnrolForm {
    #[serde(default)]
    code: String,
    csrf: Option<String>,
    interaction: Option<String>,
}

/// `POST /account/authenticator`: the first code confirms the enrolment.
pub async fn enrol(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<EnrolForm>,
) -> Response {
    enrol_inner(&state, peer.ip(), &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn enrol_inner(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    form: EnrolForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(Page::SessionEnded(FormKind::Account).into_page(&state.pages));
    };
    if !b.check_csrf(state, form.csrf.as_deref()) {
        return Ok(Page::FormUnverified(FormKind::Account).into_page(&state.pages));
    }
    if state.settings.mfa == Policy::Off {
        return Ok(see_other("/account"));
    }
    let Some(opened) = form
        .interaction
        .as_deref()
        .and_then(|v| interaction::open(state, &[Kind::TotpEnrol], &b.binding(), v, now))
    else {
        return Ok(form_spent(state));
    };
    if !opened.consume(state).await? {
        return Ok(form_spent(state));
    }
    let Interaction::TotpEnrol(TotpEnrol { secret: b32 }) = opened.interaction else {
        return Ok(form_spent(state));
    };
    let secret = totp::unbase32(&b32).ok_or_else(|| ApiError::invariant("a sealed secret"))?;
    let Some(used) = mfa::first_code(&secret, &form.code, now) else {
        let wrong = "That code is not right. Enter the code your authenticator app shows now.";
        return enrol_page(state, &b, b32, Some(wrong), now);
    };
    let (codes, hashes) = mfa::new_recovery_codes(&state.mfa)?;
    let record = TotpRecord {
        user_id: b.user.id.clone(),
        sealed_secret: state.mfa.seal_secret(&b.user.id, &secret)?,
        last_step: used,
        created_at: now,
    };
    if !state.store.enrol_totp(&record, Some(&hashes)).await? {
        return Ok(see_other("/account"));
    }
    audit_enrolled(state, &b.user, Some(ip), now);
    recovery_page(state, &b, None, &codes, now)
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf: Option<String>,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

/// Whether the person confirmed with their password or a current code; `Err` is what to
/// tell them.
async fn confirmed(
    state: &AppState,
    b: &Browser,
    form: &ConfirmForm,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Result<(), String>, ApiError> {
    let wrong = || Err("That password or code is not right.".to_owned());
    let throttled = |secs: u64| {
        Err(format!(
            "There were too many attempts. Try again in {}.",
            crate::error::wait(secs)
        ))
    };
    if !form.code.trim().is_empty() {
        return match mfa::verify(state, &b.user.id, &b.user.username, &form.code, ip, now).await {
            Ok(Some(_)) => Ok(Ok(())),
            Ok(None) => Ok(wrong()),
            Err(ApiError::Throttled(secs, _)) => Ok(throttled(secs)),
            Err(e) => Err(e),
        };
    }
    if !form.password.is_empty() {
        return match check_password(state, &b.user.username, &form.password, ip, now).await {
            Ok(Some(u)) if u.id == b.user.id => Ok(Ok(())),
            Ok(_) => Ok(wrong()),
            Err(ApiError::Throttled(secs, _)) => Ok(throttled(secs)),
            Err(e) => Err(e),
        };
    }
    Ok(Err(
        "Enter your password or a current code to confirm.".to_owned()
    ))
}

/// `POST /account/authenticator/remove`.
pub async fn remove(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Response {
    change(&state, peer.ip(), &headers, form, Change::Remove)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

/// `POST /account/recovery-codes`: ten new codes; the old ones stop working.
pub async fn regenerate(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Response {
    change(&state, peer.ip(), &headers, form, Change::Regenerate)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

#[derive(PartialEq, Eq)]
enum Change {
    Remove,
    Regenerate,
}

async fn change(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    form: ConfirmForm,
    what: Change,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(Page::SessionEnded(FormKind::Account).into_page(&state.pages));
    };
    if !b.check_csrf(state, form.csrf.as_deref()) {
        return Ok(Page::FormUnverified(FormKind::Account).into_page(&state.pages));
    }
    if state.store.totp(&b.user.id).await?.is_none() {
        return Ok(see_other("/account"));
    }
    if let Err(why) = confirmed(state, &b, &form, ip, now).await? {
        return account::page(
            state,
            &b,
            None,
            Some((axum::http::StatusCode::BAD_REQUEST, why)),
            now,
        )
        .await;
    }
    let actor = format!("user:{}", b.user.username);
    match what {
        Change::Remove => {
            state.store.remove_second_factors(&b.user.id).await?;
            tracing::info!(target: "valet::audit", sub = %b.user.id, %ip, "authenticator app removed");
            state.audit.event(
                now,
                "mfa.removed",
                actor.clone(),
                Some(ip),
                actor,
                serde_json::json!({ "by": "user" }),
            );
            let notice = "The authenticator app was removed, with its recovery codes.".to_owned();
            account::page(state, &b, Some(notice), None, now).await
        }
        Change::Regenerate => {
            let (codes, hashes) = mfa::new_recovery_codes(&state.mfa)?;
            state
                .store
                .replace_recovery_codes(&b.user.id, &hashes, now)
                .await?;
            tracing::info!(target: "valet::audit", sub = %b.user.id, %ip, "recovery codes replaced");
            state.audit.event(
                now,
                "mfa.recovery_regenerated",
                actor.clone(),
                Some(ip),
                actor,
                serde_json::json!({}),
            );
            recovery_page(state, &b, None, &codes, now)
        }
    }
}
