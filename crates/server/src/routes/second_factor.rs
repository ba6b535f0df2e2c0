//! The second step of a sign-in (issue 16): after a correct password (`routes/login.rs`)
//! or for a step-up of a password-only session (`routes/authorize.rs`), the person enters
//! a code of their authenticator app or a recovery code, or uses one of their passkeys
//! (the page carries a WebAuthn challenge for them, its state sealed in the step), or,
//! when a second factor is required and they have none, enrols an authenticator app. No session is made before a
//! valid code: the password's result travels sealed in the form (`Interaction::
//! SecondFactor`, bound to the browser's login CSRF cookie, 15 minutes, once), and only
//! `POST /login/second-factor` with a valid code signs the browser in, with `amr`
//! `pwd otp mfa`.
//!
//! After an enrolment the new recovery codes are shown once, with a Continue form
//! (`Interaction::Continue`, bound to the new session) that takes the sign-in on.

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use valet_protocol::UnixTime;
use valet_protocol::application::Application;
use valet_protocol::authorize::AuthorizationRequest;
use valet_protocol::mfa;
use valet_store::TotpRecord;

use crate::error::{ApiError, FormKind, Page};
use crate::interaction::{self, Interaction, Kind, form_spent};
use crate::mfa::totp;
use crate::routes::device::DeviceInteraction;
use crate::routes::login::see_other;
use crate::session::{self, Browser, LoginCsrf, with_cookies};
use crate::state::{AppState, Shared};
use crate::users::User;

const WRONG: &str = "That code is not right. Enter the current code from your authenticator app, or a recovery code.";
const PASSKEY_REFUSED: &str =
    "That passkey could not be used. Try it again, or enter a code instead.";
const WRONG_FIRST: &str =
    "That code is not right. Enter the code your authenticator app shows now.";

/// A correct password (or a password-only session stepping up), waiting for its second
/// factor. Sealed in the form: the browser cannot change whom it names.
#[derive(Serialize, Deserialize)]
pub struct SecondFactorStep {
    /// The user's `sub`.
    pub user_id: String,
    /// When the password was entered (the session's `auth_time`).
    pub auth_time: UnixTime,
    /// The TOTP secret being enrolled (base32), when the person has none and one is
    /// required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrol: Option<String>,
    /// Where the sign-in goes afterwards.
    pub then: Then,
    /// The passkey ceremony the page offers (its challenge, the user's credentials), when
    /// the user has passkeys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<webauthn_rs::prelude::PasskeyAuthentication>,
}

/// Where a sign-in goes once it is complete.
#[derive(Serialize, Deserialize)]
#[serde(tag = "to", content = "value", rename_all = "snake_case")]
pub enum Then {
    /// `/account` (the login page without an application).
    Account,
    /// The console (`/login?to=admin`, or a step-up the console asked for).
    Admin,
    Authorize(AuthorizationRequest),
    Device(DeviceInteraction),
}

impl Then {
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Account | Self::Admin => None,
            Self::Authorize(r) => Some(&r.client_id),
            Self::Device(d) => Some(&d.client_id),
        }
    }

    /// Where a login form's interaction leads (`None`: to `/account`).
    pub fn from_interaction(i: Option<Interaction>) -> Self {
        match i {
            Some(Interaction::Authorize(r)) => Self::Authorize(r),
            Some(Interaction::Device(d)) => Self::Device(d),
            _ => Self::Account,
        }
    }

    fn into_interaction(self) -> Option<Interaction> {
        match self {
            Self::Account | Self::Admin => None,
            Self::Authorize(r) => Some(Interaction::Authorize(r)),
            Self::Device(d) => Some(Interaction::Device(d)),
        }
    }
}

/// Whether the application or the request of a login form's interaction demands a
/// second factor (`mfa::demanded`); under `mfa = "required"` every sign-in does.
pub fn demanded(state: &AppState, app: Option<&Application>, i: Option<&Interaction>) -> bool {
    if state.settings.mfa == mfa::Policy::Required {
        return true;
    }
    match (app, i) {
        (Some(app), Some(Interaction::Authorize(r))) => mfa::demanded(app, r),
        (Some(app), _) => app.require_mfa,
        _ => false,
    }
}

/// Whether a signed-in browser must add a second factor before going on with `app`
/// outside an authorization request (the device page): the application or the policy
/// requires one and the session has the password alone.
pub fn needs_step_up(state: &AppState, app: &Application, b: &Browser) -> bool {
    let policy = state.settings.mfa;
    policy != mfa::Policy::Off
        && (policy == mfa::Policy::Required || app.require_mfa)
        && !mfa::has_two_factors(&b.session.amr)
}

/// The second-factor page for `user` (after their password at `auth_time`), or the
/// enrolment of an authenticator app when `enrol`; `then` is where it goes afterwards.
pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    auth_time: UnixTime,
    then: Then,
    enrol: bool,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let step = SecondFactorStep {
        user_id: user.id.clone(),
        auth_time,
        enrol: if enrol {
            Some(totp::base32(&crate::mfa::new_secret()?))
        } else {
            None
        },
        then,
        passkey: None,
    };
    page(state, headers, &user.username, step, None, now).await
}

/// What the page shows to enrol a secret: its QR code and its URI as text.
#[derive(Serialize)]
pub struct EnrolView {
    pub uri: String,
    pub qr: Option<String>,
    /// The secret alone, in groups of four, for apps that take it typed.
    pub secret: String,
}

impl EnrolView {
    pub fn new(state: &AppState, username: &str, secret: &[u8]) -> Self {
        let uri = totp::otpauth_uri(state.pages.brand_name(), username, secret);
        let b32 = totp::base32(secret);
        Self {
            qr: totp::qr_svg(&uri),
            uri,
            secret: b32
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// The form's view: the page posts `code` with `csrf` and `interaction` to `action`.
#[derive(Serialize)]
pub struct View<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub interaction: &'a str,
    pub enrol: Option<EnrolView>,
    pub error: Option<&'a str>,
    /// Whether a recovery code may be entered instead (not while enrolling).
    pub recovery: bool,
    /// Whether the user has an authenticator app (else the field takes recovery codes).
    pub totp: bool,
    /// The passkey ceremony's options (JSON), when the user has passkeys.
    pub passkey: Option<String>,
}

async fn page(
    state: &AppState,
    headers: &HeaderMap,
    username: &str,
    mut step: SecondFactorStep,
    error: Option<(&str, StatusCode)>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let csrf = LoginCsrf::from_headers(state, headers)?;
    // A fresh challenge at every showing of the page, for the user's passkeys.
    let mut passkey = None;
    step.passkey = None;
    if step.enrol.is_none() && state.passkeys.available() {
        let keys: Vec<_> = state
            .store
            .passkeys_of_user(&step.user_id)
            .await?
            .iter()
            .filter_map(|r| crate::passkeys::read(&r.credential))
            .collect();
        if !keys.is_empty() {
            let (options, ceremony) = state.passkeys.start_second_factor(&keys)?;
            step.passkey = Some(ceremony);
            passkey = Some(options);
        }
    }
    let totp = step.enrol.is_some() || state.store.totp(&step.user_id).await?.is_some();
    let enrol = match &step.enrol {
        Some(b32) => Some(EnrolView::new(
            state,
            username,
            &totp::unbase32(b32).ok_or_else(|| ApiError::invariant("a sealed secret"))?,
        )),
        None => None,
    };
    let recovery = enrol.is_none();
    let sealed = interaction::seal(
        state,
        &csrf.binding(),
        &Interaction::SecondFactor(step),
        now,
    )?;
    let (error, status) = match error {
        Some((e, s)) => (Some(e), s),
        None => (None, StatusCode::OK),
    };
    let r = state.pages.render(
        status,
        "second_factor.html",
        View {
            action: "/login/second-factor",
            csrf: &csrf.value,
            interaction: &sealed,
            enrol,
            error,
            recovery,
            totp,
            passkey,
        },
    );
    Ok(with_cookies(r, csrf.cookie(state)))
}

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
        let Some(amr) = passkey_check(state, &user, &step, &form.credential, ip, now).await? else {
            let e = Some((PASSKEY_REFUSED, StatusCode::OK));
            return page(state, headers, &user.username, step, e, now).await;
        };
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
            let message = format!(
                "There were too many attempts. Try again in {}.",
                crate::error::wait(secs)
            );
            let mut r = page(
                state,
                headers,
                &user.username,
                step,
                Some((&message, StatusCode::TOO_MANY_REQUESTS)),
                now,
            )
            .await?;
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(r);
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

/// Takes a complete sign-in on to where it was going.
async fn continue_to(
    state: &AppState,
    headers: &HeaderMap,
    app: Option<Application>,
    then: Then,
    browser: Browser,
    cookies: Vec<HeaderValue>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    if matches!(then, Then::Admin) {
        return Ok(with_cookies(see_other("/admin"), cookies));
    }
    match (app, then.into_interaction()) {
        (Some(app), Some(i)) => {
            if let Some(r) = interaction::recheck(state, &app, &i) {
                return Ok(with_cookies(r, cookies));
            }
            interaction::resume(state, headers, &app, i, browser, cookies, now).await
        }
        _ => Ok(with_cookies(see_other("/account"), cookies)),
    }
}

/// The new recovery codes, shown once; `then` is where Continue goes (`None`: a link
/// back to `/account`).
pub fn recovery_page(
    state: &AppState,
    b: &Browser,
    then: Option<Then>,
    codes: &[String],
    now: UnixTime,
) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct View<'a> {
        codes: &'a [String],
        csrf: String,
        interaction: Option<String>,
    }
    let interaction = match then {
        Some(t) => Some(interaction::seal(
            state,
            &b.binding(),
            &Interaction::Continue(t),
            now,
        )?),
        None => None,
    };
    let mut r = state.pages.render(
        StatusCode::OK,
        "recovery_codes.html",
        View {
            codes,
            csrf: b.csrf(state),
            interaction,
        },
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[derive(Deserialize)]
pub struct ContinueForm {
    csrf: Option<String>,
    interaction: Option<String>,
}

/// `POST /login/continue`: the recovery codes page's Continue.
pub async fn resume(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<ContinueForm>,
) -> Response {
    resume_inner(&state, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn resume_inner(
    state: &AppState,
    headers: &HeaderMap,
    form: ContinueForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(b) = Browser::from_headers(state, headers, now).await? else {
        return Ok(Page::SessionEnded(FormKind::SignIn).into_page(&state.pages));
    };
    if !b.check_csrf(state, form.csrf.as_deref()) {
        return Ok(Page::FormUnverified(FormKind::SignIn).into_page(&state.pages));
    }
    let Some(opened) = form
        .interaction
        .as_deref()
        .and_then(|v| interaction::open(state, &[Kind::Continue], &b.binding(), v, now))
    else {
        return Ok(form_spent(state));
    };
    if !opened.consume(state).await? {
        return Ok(form_spent(state));
    }
    let Interaction::Continue(then) = opened.interaction else {
        return Ok(form_spent(state));
    };
    let app = match then.client_id() {
        Some(id) => match state.catalog.client(id).await? {
            Some(c) => Some(c.app.clone()),
            None => return Ok(form_spent(state)),
        },
        None => None,
    };
    continue_to(state, headers, app, then, b, vec![], now).await
}
