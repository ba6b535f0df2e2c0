//! `GET|POST /login`: the sign-in form (checklist C1, C6, C7, C10). It is shown by the
//! authorization endpoint with the request sealed into it, or on its own (then it leads
//! to `/account`). A correct password starts a new session (a new id, always) and the
//! authorization continues in the same response; a wrong one re-renders the form with
//! one message for an unknown user and a wrong password alike, after the same work. The
//! device page (`device.rs`) shows this form too, with the entered code sealed into it;
//! then a correct password continues to its Allow / Deny step. The password itself is
//! checked in `users/` (`users::check_password`), as for the password grant.

use crate::error::{ApiError, DIRECTORY_DOWN};
use crate::session::{self, Browser, LoginCsrf, Purpose, with_cookies};
use crate::state::{AppState, Shared};
use crate::users::check_password;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use valet_protocol::authorize::AuthorizationRequest;

use super::authorize::{form_spent, login_page_for, proceed, recheck};
use super::device::DeviceInteraction;

const WRONG: &str = "The username or password is not right.";

/// `GET /login`: signing in without an application, on the way to `/account`.
pub async fn show(State(state): State<Shared>, headers: HeaderMap) -> Response {
    match Browser::from_headers(&state, &headers, state.clock.now()).await {
        Ok(Some(_)) => see_other("/account"),
        Ok(None) => match standalone(&state, &headers, None, None) {
            Ok(r) => r,
            Err(e) => e.into_page(&state.pages),
        },
        Err(e) => e.into_page(&state.pages),
    }
}

/// `username`: what the person typed, shown again (autoescaped) after a failed attempt.
fn standalone(
    state: &AppState,
    headers: &HeaderMap,
    error: Option<&str>,
    username: Option<&str>,
) -> Result<Response, ApiError> {
    let csrf = LoginCsrf::from_headers(state, headers)?;
    #[derive(Serialize)]
    struct View<'a> {
        csrf: &'a str,
        error: Option<&'a str>,
        username: Option<&'a str>,
    }
    let r = state.pages.render(
        StatusCode::OK,
        "login.html",
        View {
            csrf: &csrf.value,
            error,
            username: username.filter(|u| !u.is_empty()),
        },
    );
    Ok(with_cookies(r, csrf.cookie(state)))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    csrf: Option<String>,
    interaction: Option<String>,
}

/// `POST /login`.
pub async fn submit(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    submit_inner(&state, peer.ip(), &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn submit_inner(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    form: LoginForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let csrf = LoginCsrf::from_headers(state, headers)?;
    // Checklist C1: no valid CSRF token, nothing happens.
    if !csrf.check(form.csrf.as_deref()) {
        return Ok(state.pages.error(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The sign-in form could not be verified (it may be old, or cookies may be blocked).",
            Some("Go back to the application and start signing in again."),
        ));
    }
    // The sealed request, if the form came from the authorization endpoint (or the
    // device page); a value sealed for another browser (checklist C2), older than 15
    // minutes or submitted before does not open (issue 12 item 10). Each submit spends
    // the form; a wrong password gets a freshly sealed one.
    let request: Option<Continues> = match form.interaction.as_deref().filter(|v| !v.is_empty()) {
        Some(sealed) => {
            let binding = csrf.binding();
            let opened = if let Some(o) = session::open::<AuthorizationRequest>(
                state,
                Purpose::Authorize,
                &binding,
                sealed,
                now,
            ) {
                Some((o.consume(state).await?, Continues::Authorize(o.value)))
            } else if let Some(o) =
                session::open::<DeviceInteraction>(state, Purpose::Device, &binding, sealed, now)
            {
                Some((o.consume(state).await?, Continues::Device(o.value)))
            } else {
                None
            };
            match opened {
                Some((true, c)) => Some(c),
                _ => return Ok(form_spent(state)),
            }
        }
        None => None,
    };
    let app = match &request {
        Some(r) => match state.catalog.client(r.client_id()).await? {
            Some(c) => Some(c),
            None => return Ok(form_spent(state)),
        },
        None => None,
    };
    // Nobody is signed in on the strength of a request the registration no longer allows.
    if let (Some(app), Some(Continues::Authorize(req))) = (&app, &request) {
        if let Some(r) = recheck(state, &app.app, req) {
            return Ok(r);
        }
    }
    let again = |error: &str| -> Result<Response, ApiError> {
        match (&app, &request) {
            (Some(app), Some(Continues::Authorize(req))) => login_page_for(
                state,
                headers,
                &app.app,
                req,
                Some(error),
                Some(&form.username),
                now,
            ),
            (Some(app), Some(Continues::Device(d))) => super::device::login_page(
                state,
                headers,
                &app.app,
                d,
                Some(error),
                Some(&form.username),
                now,
            ),
            _ => standalone(state, headers, Some(error), Some(&form.username)),
        }
    };
    let user = if form.username.is_empty() || form.password.is_empty() {
        None
    } else {
        match check_password(state, &form.username, &form.password, ip, now).await {
            Ok(user) => user,
            // The form again (freshly sealed, so the person can simply retry), saying why,
            // with the status and Retry-After: a directory outage, too many attempts, or
            // too many password checks at once on this node.
            Err(e @ (ApiError::Unavailable(_) | ApiError::Throttled(..) | ApiError::Busy(_))) => {
                let (status, secs, message) = match &e {
                    ApiError::Unavailable(secs) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        *secs,
                        DIRECTORY_DOWN.to_owned(),
                    ),
                    ApiError::Throttled(secs, _) => (
                        StatusCode::TOO_MANY_REQUESTS,
                        *secs,
                        format!(
                            "There were too many sign-in attempts. Try again in {}.",
                            crate::error::wait(*secs)
                        ),
                    ),
                    _ => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        1,
                        "Valet is handling many sign-ins at this moment. Try again in a second."
                            .to_owned(),
                    ),
                };
                let mut r = again(&message)?;
                *r.status_mut() = status;
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return Ok(r);
            }
            Err(e) => return Err(e),
        }
    };
    let Some(user) = user else {
        return again(WRONG);
    };
    let (session, cookie) = session::sign_in(state, headers, &user, now).await?;
    tracing::info!(target: "valet::audit", sub = %user.id, %ip, "signed in");
    match (app, request) {
        (Some(app), Some(Continues::Authorize(req))) => {
            let browser = Browser { session, user };
            proceed(
                state,
                headers,
                &app.app,
                req,
                Some(browser),
                true,
                vec![cookie],
                now,
            )
            .await
        }
        (Some(app), Some(Continues::Device(d))) => {
            let browser = Browser { session, user };
            let r = super::device::confirm(state, &app.app, &d, &browser, now).await?;
            Ok(with_cookies(r, vec![cookie]))
        }
        _ => Ok(with_cookies(see_other("/account"), vec![cookie])),
    }
}

/// What a login form continues once the password is right.
enum Continues {
    /// An authorization request (the authorization endpoint's login page).
    Authorize(AuthorizationRequest),
    /// A device code entered on `/device`.
    Device(DeviceInteraction),
}

impl Continues {
    fn client_id(&self) -> &str {
        match self {
            Self::Authorize(r) => &r.client_id,
            Self::Device(d) => &d.client_id,
        }
    }
}

/// A 303 to a path of Valet's own (never a caller-supplied URL).
pub fn see_other(path: &'static str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(path));
    r
}
