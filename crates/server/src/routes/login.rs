//! `GET|POST /login`: the sign-in form (checklist C1, C6, C7, C10). It is shown for an
//! interaction (`interaction::login_page`: the authorization endpoint's request, or the
//! device page's entered code, sealed into it), or on its own (then it leads to
//! `/account`). A correct password starts a new session (a new id, always) and the
//! interaction continues in the same response (`interaction::resume`); a wrong one
//! re-renders the form with one message for an unknown user and a wrong password alike,
//! after the same work (`users::check_password`). When a second factor is needed
//! (`mfa::after_password`), a correct password leads to the second-factor form instead
//! (`routes/second_factor/`), and no session is made yet.

use crate::error::{ApiError, FormKind, Page, directory_down};
use crate::interaction::{self, Interaction, Kind, form_spent};
use crate::mfa::enrolled as mfa_enrolled;
use crate::routes::second_factor::{self, Then};
use crate::session::{self, Browser, LoginCsrf, with_cookies};
use crate::state::{AppState, Shared};
use crate::users::check_password;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use valet_protocol::mfa;

const WRONG: &str = "The username or password is not right.";

/// Where a sign-in without an application leads: `/account`, or the console
/// (`/login?to=admin`, where `/admin` sends a person who is not signed in). Only these
/// two: the destination is never a caller-supplied URL.
#[derive(Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Destination {
    #[default]
    Account,
    Admin,
}

impl Destination {
    fn path(self) -> &'static str {
        match self {
            Self::Account => "/account",
            Self::Admin => "/admin",
        }
    }

    /// The value of the login form's `to` field (none for the account page).
    fn field(self) -> Option<&'static str> {
        match self {
            Self::Account => None,
            Self::Admin => Some("admin"),
        }
    }
}

/// `GET /login[?to=admin]`: signing in without an application, on the way to `/account`
/// (or the console).
pub async fn show(
    State(state): State<Shared>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let admin = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "to" && v == "admin");
    let to = if admin {
        Destination::Admin
    } else {
        Destination::Account
    };
    match Browser::from_headers(&state, &headers, state.clock.now()).await {
        Ok(Some(_)) => see_other(to.path()),
        Ok(None) => match standalone(&state, &headers, None, None, to, state.clock.now()) {
            Ok(r) => r,
            Err(e) => e.into_page(&state.pages),
        },
        Err(e) => e.into_page(&state.pages),
    }
}

/// `username`: what the person typed, shown again (autoescaped) after a failed attempt.
pub fn standalone(
    state: &AppState,
    headers: &HeaderMap,
    error: Option<&str>,
    username: Option<&str>,
    to: Destination,
    now: valet_protocol::UnixTime,
) -> Result<Response, ApiError> {
    let csrf = LoginCsrf::from_headers(state, headers)?;
    #[derive(Serialize)]
    struct View<'a> {
        csrf: &'a str,
        error: Option<&'a str>,
        username: Option<&'a str>,
        to: Option<&'a str>,
        passkey: Option<crate::routes::passkey::Offer>,
        upstreams: Vec<crate::routes::upstream::Button>,
        realms: bool,
        /// The error is about what was typed (not a passkey or a provider's answer).
        field_error: bool,
    }
    let r = state.pages.render(
        StatusCode::OK,
        "login.html",
        View {
            csrf: &csrf.value,
            error,
            username: username.filter(|u| !u.is_empty()),
            to: to.field(),
            passkey: crate::routes::passkey::offer(state, &csrf.binding(), now)?,
            upstreams: crate::routes::upstream::buttons(state),
            realms: crate::routes::upstream::has_realms(state),
            field_error: error.is_some() && username.is_some(),
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
    /// Where a sign-in without an interaction leads (`Destination`).
    #[serde(default)]
    to: Destination,
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
        return Ok(Page::FormUnverified(FormKind::SignIn).into_page(&state.pages));
    }
    let pending = match pending(state, &csrf, form.interaction.as_deref(), now).await? {
        Ok(p) => p,
        Err(spent) => return Ok(spent),
    };
    let again = async |error: &str| -> Result<Response, ApiError> {
        match &pending {
            Some((client, continues)) => {
                interaction::login_page(
                    state,
                    headers,
                    &client.app,
                    continues,
                    Some(error),
                    Some(&form.username),
                    now,
                )
                .await
            }
            None => standalone(
                state,
                headers,
                Some(error),
                Some(&form.username),
                form.to,
                now,
            ),
        }
    };
    // Home-realm discovery: an address alone, of a domain a provider is offered for,
    // continues there.
    if form.password.is_empty() {
        if let Some(provider) = state.upstreams.for_login(form.username.trim()) {
            let typed = form.username.trim().to_owned();
            return crate::routes::upstream::sign_in_at(
                state,
                headers,
                &csrf,
                &provider,
                pending,
                form.to,
                Some(&typed),
                now,
            )
            .await;
        }
    }
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
                        directory_down(state.pages.brand_name()),
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
                        format!(
                            "{} is handling many sign-ins at this moment. Try again in a second.",
                            state.pages.brand_name()
                        ),
                    ),
                };
                let mut r = again(&message).await?;
                *r.status_mut() = status;
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return Ok(r);
            }
            // Signed up, address not confirmed (only after the right password).
            Err(ApiError::PendingVerification) => {
                return super::signup::pending_page(state, headers, &form.username);
            }
            Err(e) => return Err(e),
        }
    };
    let Some(user) = user else {
        return again(WRONG).await;
    };
    // The first factor alone never makes a session when a second is needed (issue 16).
    let demanded = second_factor::demanded(
        state,
        pending.as_ref().map(|(c, _)| &c.app),
        pending.as_ref().map(|(_, i)| i),
    );
    let enrolled = state.settings.mfa != mfa::Policy::Off && mfa_enrolled(state, &user.id).await?;
    let next = mfa::after_password(state.settings.mfa, enrolled, demanded);
    if next != mfa::AfterPassword::SignIn {
        let then = match (pending, form.to) {
            (None, Destination::Admin) => Then::Admin,
            (p, _) => Then::from_interaction(p.map(|(_, i)| i)),
        };
        let enrol = next == mfa::AfterPassword::Enrol;
        return second_factor::start(state, headers, &user, now, then, enrol, now).await;
    }
    let (session, cookie) = session::sign_in(state, headers, ip, &user, now).await?;
    signed_in(
        state, headers, ip, session, user, pending, form.to, cookie, "password", now,
    )
    .await
}

/// A browser that has just signed in as `user` (a new `session`, set by `cookie`) by
/// `method`: audited, then taken on to what the login form continued (`pending`), or to
/// `to`.
#[allow(clippy::too_many_arguments)]
pub async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    ip: IpAddr,
    session: valet_store::SessionRecord,
    user: crate::users::User,
    pending: Option<Pending>,
    to: Destination,
    cookie: HeaderValue,
    method: &str,
    now: valet_protocol::UnixTime,
) -> Result<Response, ApiError> {
    tracing::info!(target: "valet::audit", sub = %user.id, %ip, method, "signed in");
    state.audit.event(
        now,
        "signin.succeeded",
        format!("user:{}", user.username),
        Some(ip),
        format!("user:{}", user.username),
        serde_json::json!({ "method": method }),
    );
    match pending {
        Some((client, continues)) => {
            let browser = Browser { session, user };
            interaction::resume(
                state,
                headers,
                &client.app,
                continues,
                browser,
                vec![cookie],
                now,
            )
            .await
        }
        None => Ok(with_cookies(see_other(to.path()), vec![cookie])),
    }
}

/// A login form's application and what it continues.
pub type Pending = (std::sync::Arc<valet_store::ClientRecord>, Interaction);

/// A login form's application and what it continues, once the form was submitted:
/// `Ok(None)` for a form without an interaction (signing in on the way to `/account`),
/// `Err` with the page to answer for a form that does not count.
///
/// The sealed interaction, if the form came from the authorization endpoint or the device
/// page; a value sealed for another browser (checklist C2), older than 15 minutes or
/// submitted before does not open (issue 12 item 10). Each submit spends the form; a
/// failed attempt gets a freshly sealed one.
pub async fn pending(
    state: &AppState,
    csrf: &LoginCsrf,
    sealed: Option<&str>,
    now: valet_protocol::UnixTime,
) -> Result<Result<Option<Pending>, Response>, ApiError> {
    let Some(sealed) = sealed.filter(|v| !v.is_empty()) else {
        return Ok(Ok(None));
    };
    let Some(opened) = interaction::open(state, Kind::SIGN_IN, &csrf.binding(), sealed, now) else {
        return Ok(Err(form_spent(state)));
    };
    if !opened.consume(state).await? {
        return Ok(Err(form_spent(state)));
    }
    let continues = opened.interaction;
    let client = match continues.client_id() {
        Some(id) => state.catalog.client(id).await?,
        None => None,
    };
    let Some(client) = client else {
        return Ok(Err(form_spent(state)));
    };
    // Nobody is signed in on the strength of a request the registration no longer allows.
    if let Some(r) = interaction::recheck(state, &client.app, &continues) {
        return Ok(Err(r));
    }
    Ok(Ok(Some((client, continues))))
}

/// A 303 to a path of Valet's own (never a caller-supplied URL).
pub fn see_other(path: &'static str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(path));
    r
}
