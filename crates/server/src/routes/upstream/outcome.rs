//! What a round trip that signs nobody in answers: the login page again (or the account
//! page, when linking), saying why in words for the person, with the status that fits.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use valet_protocol::UnixTime;
use valet_protocol::upstream::Refused;

use crate::error::ApiError;
use crate::interaction::{self};
use crate::routes::login::{self, Destination};
use crate::routes::second_factor::Then;
use crate::session::Browser;
use crate::state::AppState;
use crate::upstream::{Provider, UpstreamError};

use super::account::bad;

pub(super) enum RefusedBy {
    Rule(Refused),
    /// The user it names is disabled or gone.
    Disabled,
    /// A racing sign-in linked the subject elsewhere meanwhile.
    Race,
}

pub(super) async fn refused(
    state: &AppState,
    headers: &HeaderMap,
    provider: &Provider,
    app: Option<valet_protocol::application::Application>,
    then: Then,
    why: RefusedBy,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let name = provider.name();
    let message = match why {
        RefusedBy::Rule(Refused::EmailTaken) => format!(
            "An account with this email address already exists. Sign in to it another way, \
             then link {name} from your account page."
        ),
        RefusedBy::Rule(Refused::NoAccount) => format!(
            "{name} signed you in, but there is no account here for you. \
             Ask your administrator to give you one."
        ),
        RefusedBy::Rule(Refused::LinkedElsewhere) | RefusedBy::Race => {
            format!("Signing in with {name} did not complete. Try again, or sign in another way.")
        }
        RefusedBy::Disabled => "This account cannot sign in.".to_owned(),
    };
    login_again(
        state,
        headers,
        app,
        then,
        &message,
        StatusCode::FORBIDDEN,
        None,
        now,
    )
    .await
}

/// A round trip that failed: the provider is down (503, `Retry-After`) or answered
/// something that signs nobody in (the reason is logged, not shown).
pub(super) async fn failed(
    state: &AppState,
    headers: &HeaderMap,
    provider: &Provider,
    app: Option<valet_protocol::application::Application>,
    then: Then,
    e: UpstreamError,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let name = provider.name();
    let (status, retry, message) = match e {
        UpstreamError::Unavailable { retry_after, .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            Some(retry_after),
            format!(
                "{name} is not answering right now. Try again in a moment, or sign in another way."
            ),
        ),
        UpstreamError::Refused(_) => (
            StatusCode::BAD_REQUEST,
            None,
            format!("Signing in with {name} did not complete. Try again, or sign in another way."),
        ),
    };
    login_again(state, headers, app, then, &message, status, retry, now).await
}

/// The login page again for what the sign-in was for, freshly sealed, saying `message`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn login_again(
    state: &AppState,
    headers: &HeaderMap,
    app: Option<valet_protocol::application::Application>,
    then: Then,
    message: &str,
    status: StatusCode,
    retry_after: Option<u64>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let to = if matches!(then, Then::Admin) {
        Destination::Admin
    } else {
        Destination::Account
    };
    let mut r = match (app, then.into_interaction()) {
        (Some(app), Some(i)) => {
            interaction::login_page(state, headers, &app, &i, Some(message), None, now).await?
        }
        _ => login::standalone(state, headers, Some(message), None, to, now)?,
    };
    *r.status_mut() = status;
    if let Some(secs) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    Ok(r)
}

pub(super) async fn account_problem(
    state: &AppState,
    b: &Browser,
    provider: &Provider,
    e: &UpstreamError,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let name = provider.name();
    let (status, message) = match e {
        UpstreamError::Unavailable { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{name} is not answering right now. Try again in a moment."),
        ),
        UpstreamError::Refused(_) => (
            StatusCode::BAD_REQUEST,
            format!("Linking {name} did not complete. Try again."),
        ),
    };
    crate::routes::account::page(state, b, None, Some((status, message)), now).await
}

pub(super) async fn refuse_link(
    state: &AppState,
    b: &Browser,
    name: &str,
    now: UnixTime,
) -> Result<Response, ApiError> {
    bad(
        state,
        b,
        format!("That {name} account is linked to another account here, so it cannot be linked to yours."),
        now,
    )
    .await
}
