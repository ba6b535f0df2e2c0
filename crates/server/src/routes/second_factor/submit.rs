//! `POST /login/second-factor`: a code, a recovery code or a passkey's answer for the
//! step (`super`), and the session it makes.

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use valet_protocol::UnixTime;
use valet_protocol::mfa;
use valet_store::TotpRecord;

use crate::error::{ApiError, FormKind, Page};
use crate::interaction::{self, Interaction, Kind, form_spent};
use crate::mfa::totp;
use crate::session::{self, Browser, LoginCsrf, with_cookies};
use crate::state::{AppState, Shared};
use crate::users::User;

use super::{
    PASSKEY_REFUSED, SecondFactorStep, WRONG, WRONG_FIRST, continue_to, page, recovery_page,
};

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    /// A passkey's answer (`PublicKeyCredential` JSON) instead of a code.
    #[serde(default)]
    credential: String,
    csrf: Option<String>,
    interaction: Option<String>,
}

/// `POST /login/second-factor`.
pub async fn submit(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    submit_inner(&state, peer.ip(), &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn submit_inner(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    form: CodeForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let csrf = LoginCsrf::from_headers(state, headers)?;
    if !csrf.check(form.csrf.as_deref()) {
        return Ok(Page::FormUnverified(FormKind::SignIn).into_page(&state.pages));
    }
    let Some(opened) = form
        .interaction
        .as_deref()
        .and_then(|v| interaction::open(state, &[Kind::SecondFactor], &csrf.binding(), v, now))
    else {
        return Ok(form_spent(state));
    };
    if !opened.consume(state).await? {
        return Ok(form_spent(state));
    }
    let Interaction::SecondFactor(step) = opened.interaction else {
        return Ok(form_spent(state));
    };
    // The user may have been disabled or deleted since the password.
    let Some(user) = state.users.by_sub(&step.user_id).await? else {
        return Ok(form_spent(state));
    };
    let client = match step.then.client_id() {
        Some(id) => match state.catalog.client(id).await? {
            Some(c) => Some(c),
            None => return Ok(form_spent(state)),
        },
        None => None,
    };
    if let Some(enrolling) = step.enrol.as_deref() {
        let secret =
            totp::unbase32(enrolling).ok_or_else(|| ApiError::invariant("a sealed secret"))?;
        let Some(used) = crate::mfa::first_code(&secret, &form.code, now) else {
            let e = Some((WRONG_FIRST, StatusCode::OK));
            return page(state, headers, &user.username, step, e, now).await;
        };
        let (codes, hashes) = crate::mfa::new_recovery_codes(&state.mfa)?;
        let record = TotpRecord {
            user_id: user.id.clone(),
            sealed_secret: state.mfa.seal_secret(&user.id, &secret)?,
            last_step: used,
            created_at: now,
        };
        if !state.store.enrol_totp(&record, Some(&hashes)).await? {
            // Another tab enrolled one meanwhile: this secret is not the user's.
            return Ok(form_spent(state));
        }
        audit_enrolled(state, &user, Some(ip), now);
        let amr = mfa::two_factor_amr();
        let (browser, cookie) = finish(
            state,
            headers,
            &user,
            step.auth_time,
            amr,
            "password+otp",
            ip,
            now,
        )
        .await?;
        let r = recovery_page(state, &browser, Some(step.then), &codes, now)?;
        return Ok(with_cookies(r, vec![cookie]));
    }
    if !form.credential.is_empty() {
        // Counted like a code (per account and address), given back when it checks out.
        let counted =
            match crate::mfa::count_attempt(state, &user.id, &user.username, ip, now).await {
                Ok(c) => c,
                Err(ApiError::Throttled(secs, _)) => {
                    return throttled(state, headers, &user.username, step, secs, now).await;
                }
                Err(e) => return Err(e),
            };
        let Some(amr) = passkey_check(state, &user, &step, &form.credential, ip, now).await? else {
            let e = Some((PASSKEY_REFUSED, StatusCode::OK));
            return page(state, headers, &user.username, step, e, now).await;
        };
        state.store.throttle_refund(&counted).await?;
        let (browser, cookie) = finish(
            state,
            headers,
            &user,
            step.auth_time,
            amr,
            "password+passkey",
            ip,
            now,
        )
        .await?;
        let app = client.map(|c| c.app.clone());
        return continue_to(state, headers, app, step.then, browser, vec![cookie], now).await;
    }
    match crate::mfa::verify(state, &user.id, &user.username, &form.code, ip, now).await {
        Ok(Some(_proof)) => {}
        Ok(None) => {
            return page(
                state,
                headers,
                &user.username,
                step,
                Some((WRONG, StatusCode::OK)),
                now,
            )
            .await;
        }
        Err(ApiError::Throttled(secs, _)) => {
            return throttled(state, headers, &user.username, step, secs, now).await;
        }
        Err(e) => return Err(e),
    }
    let amr = mfa::two_factor_amr();
    let (browser, cookie) = finish(
        state,
        headers,
        &user,
        step.auth_time,
        amr,
        "password+otp",
        ip,
        now,
    )
    .await?;
    continue_to(
        state,
        headers,
        client.map(|c| c.app.clone()),
        step.then,
        browser,
        vec![cookie],
        now,
    )
    .await
}

/// The step again, saying there were too many attempts (429, `Retry-After`).
async fn throttled(
    state: &AppState,
    headers: &HeaderMap,
    username: &str,
    step: SecondFactorStep,
    secs: u64,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let message = format!(
        "There were too many attempts. Try again in {}.",
        crate::error::wait(secs)
    );
    let too_many = Some((message.as_str(), StatusCode::TOO_MANY_REQUESTS));
    let mut r = page(state, headers, username, step, too_many, now).await?;
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(r)
}

/// The `amr` of a second factor by one of the user's passkeys, if `credential` (the
/// browser's answer to the step's challenge) checks out (WebAuthn §7.2); the passkey's
/// counter and last use are recorded.
async fn passkey_check(
    state: &AppState,
    user: &User,
    step: &SecondFactorStep,
    credential: &str,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Option<Vec<String>>, ApiError> {
    let checked = match &step.passkey {
        Some(ceremony) => state
            .passkeys
            .finish_second_factor(credential, ceremony)
            .ok(),
        None => None,
    };
    let record = match &checked {
        Some((id, _)) => state.store.passkey(id).await?,
        None => None,
    };
    let (Some((_, result)), Some(record)) = (checked, record) else {
        tracing::info!(target: "valet::audit", sub = %user.id, %ip, "passkey second factor failed");
        state.audit.event(
            now,
            "mfa.failed",
            format!("user:{}", user.username),
            Some(ip),
            format!("user:{}", user.username),
            serde_json::json!({ "method": "passkey" }),
        );
        return Ok(None);
    };
    // The ceremony allowed only this user's credentials; the record must agree.
    if record.user_id != user.id {
        return Ok(None);
    }
    if let Some(mut key) = crate::passkeys::read(&record.credential) {
        key.update_credential(&result);
        let stored = crate::passkeys::write(&key)?;
        state
            .store
            .passkey_used(&record.credential_id, &stored, now)
            .await?;
    }
    Ok(Some(crate::passkeys::amr(&result, Some(mfa::AMR_PASSWORD))))
}

/// Signs the browser in with two factors, `amr` (a new session id, replacing any session
/// it had: a step-up rotates the id too); `method` is for the audit trail.
#[allow(clippy::too_many_arguments)]
async fn finish(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    auth_time: UnixTime,
    amr: Vec<String>,
    method: &str,
    ip: IpAddr,
    now: UnixTime,
) -> Result<(Browser, HeaderValue), ApiError> {
    let (session, cookie) =
        session::sign_in_with(state, headers, ip, user, auth_time, amr, now).await?;
    state.metrics.sign_in("second_factor", "success");
    tracing::info!(target: "valet::audit", sub = %user.id, %ip, method, "signed in with a second factor");
    state.audit.event(
        now,
        "signin.succeeded",
        format!("user:{}", user.username),
        Some(ip),
        format!("user:{}", user.username),
        serde_json::json!({ "method": method }),
    );
    Ok((
        Browser {
            session,
            user: user.clone(),
        },
        cookie,
    ))
}

pub fn audit_enrolled(state: &AppState, user: &User, ip: Option<IpAddr>, now: UnixTime) {
    tracing::info!(target: "valet::audit", sub = %user.id, "authenticator app enrolled");
    state.audit.event(
        now,
        "mfa.enrolled",
        format!("user:{}", user.username),
        ip,
        format!("user:{}", user.username),
        serde_json::json!({ "method": "totp" }),
    );
}
