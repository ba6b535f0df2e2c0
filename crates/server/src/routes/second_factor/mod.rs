//! The second step of a sign-in (issue 16): after a correct password (`routes/login.rs`)
//! or for a step-up of a password-only session (`routes/authorize.rs`), the person enters
//! a code of their authenticator app or a recovery code, or uses one of their passkeys
//! (the page carries a WebAuthn challenge for them, its state sealed in the step), or,
//! when a second factor is required and they have none, enrols an authenticator app. No
//! session is made before a valid code: the password's result travels sealed in the form
//! (`Interaction::SecondFactor`, bound to the browser's login CSRF cookie, 15 minutes,
//! once), and only `POST /login/second-factor` (`submit.rs`) with a valid code or passkey
//! signs the browser in, with `amr` `pwd otp mfa` (or the passkey's).
//!
//! After an enrolment the new recovery codes are shown once, with a Continue form
//! (`Interaction::Continue`, bound to the new session) that takes the sign-in on
//! (`resume.rs`). This file is the step itself: what it is, where it leads, its page.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use valet_protocol::UnixTime;
use valet_protocol::application::Application;
use valet_protocol::authorize::AuthorizationRequest;
use valet_protocol::mfa;

use crate::error::ApiError;
use crate::interaction::{self, Interaction};
use crate::mfa::totp;
use crate::routes::device::DeviceInteraction;
use crate::session::{Browser, LoginCsrf, with_cookies};
use crate::state::AppState;
use crate::users::User;

mod resume;
mod submit;
pub use resume::{continue_to, recovery_page, resume};
pub use submit::{audit_enrolled, submit};

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
// Short-lived and sealed into a form, never kept in bulk: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Serialize, Deserialize)]
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

    pub fn into_interaction(self) -> Option<Interaction> {
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
