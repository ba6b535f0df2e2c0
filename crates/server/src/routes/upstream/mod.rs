//! Signing in with an upstream identity provider (issue 18): `POST /login/upstream/{id}`
//! (the login page's "Continue with <name>"), `POST /account/upstreams/{id}/link` (the
//! account page), and the provider's answer at `GET /login/upstream/{id}/callback`.
//!
//! The round trip is one more interaction (`Interaction::UpstreamSignIn`, bound to the
//! login CSRF cookie, or `UpstreamLink`, bound to the session): its sealed value is the
//! `state` sent to the provider (RFC 6749 §10.12: bound to this browser), carrying the
//! `nonce` and the PKCE verifier (RFC 7636) and where the sign-in goes; it opens once and
//! for 15 minutes, so a replayed or foreign `state` signs nobody in. The provider's
//! answer is checked by `upstream::Provider::finish` (RFC 9207 `iss`, the code redeemed,
//! the ID token verified) and the person it names becomes a user by
//! `valet_protocol::upstream::decide`: linked, linked by a verified address when the
//! provider may, created just in time, or refused. Then the sign-in goes on as after a
//! password: a second factor when one is needed, a new session, where it was going.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use valet_protocol::UnixTime;
use valet_protocol::upstream as rules;

use crate::crypto::{random_token, s256};
use crate::error::{ApiError, FormKind, Page};
use crate::interaction::{self, Interaction, Kind};
use crate::routes::login::{self, Destination, Pending};
use crate::routes::second_factor::Then;
use crate::session::{LoginCsrf, with_cookies};
use crate::state::{AppState, Shared};
use crate::upstream::{Provider, UpstreamError};

mod account;
mod callback;
mod outcome;
pub use account::{LinkView, link, linked_notice, section, unlink};
pub use callback::callback;
use outcome::*;

/// One round trip to a provider, sealed as its `state`.
#[derive(Serialize, Deserialize)]
pub struct UpstreamStep {
    /// The provider's id: the answer must come back to its own callback.
    pub upstream: String,
    pub nonce: String,
    /// The PKCE code verifier (RFC 7636 §4.1); the provider saw only its S256 challenge.
    pub verifier: String,
    /// Where a sign-in goes afterwards (a link goes back to `/account`).
    pub then: Then,
    /// The `max_age` sent when the application asked for a fresh sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

/// A "Continue with <name>" button of the login page.
#[derive(Serialize)]
pub struct Button {
    id: String,
    name: String,
}

/// The login page's buttons, in the configured order.
pub fn buttons(state: &AppState) -> Vec<Button> {
    state
        .upstreams
        .all()
        .iter()
        .map(|p| Button {
            id: p.id().to_owned(),
            name: p.name().to_owned(),
        })
        .collect()
}

/// Whether some provider is offered by email domain (then the login page lets a person
/// continue with an address alone).
pub fn has_realms(state: &AppState) -> bool {
    state
        .upstreams
        .get_by(|p| !p.settings.domains.is_empty())
        .is_some()
}

fn callback_uri(state: &AppState, id: &str) -> String {
    format!(
        "{}/login/upstream/{id}/callback",
        state.settings.issuer.trim_end_matches('/')
    )
}

/// Seals a round trip to `provider` for the browser of `binding` as `kind`, and sends the
/// browser there (303).
async fn go(
    state: &AppState,
    provider: &Provider,
    then: Then,
    binding: &str,
    kind: Kind,
    login_hint: Option<&str>,
    now: UnixTime,
) -> Result<Result<Response, UpstreamError>, ApiError> {
    if let Err(e) = provider.ready(now).await {
        return Ok(Err(e));
    }
    // prompt=login / max_age at Valet asks the provider for a fresh sign-in too.
    let max_age = match &then {
        Then::Authorize(r) => rules::fresh_sign_in(r.prompt.login, r.max_age),
        _ => None,
    };
    let step = UpstreamStep {
        upstream: provider.id().to_owned(),
        nonce: random_token(24)?,
        verifier: random_token(32)?,
        then,
        max_age,
    };
    let challenge = s256(&step.verifier);
    let nonce = step.nonce.clone();
    let sealed = match kind {
        Kind::UpstreamLink => Interaction::UpstreamLink(step),
        _ => Interaction::UpstreamSignIn(step),
    };
    let state_value = interaction::seal(state, binding, &sealed, now)?;
    let url = match provider
        .authorization_url(
            &callback_uri(state, provider.id()),
            &state_value,
            &nonce,
            &challenge,
            login_hint,
            max_age,
            now,
        )
        .await
    {
        Ok(u) => u,
        Err(e) => return Ok(Err(e)),
    };
    let mut r = StatusCode::SEE_OTHER.into_response();
    let location =
        HeaderValue::from_str(&url).map_err(|_| ApiError::invariant("an upstream URL"))?;
    r.headers_mut().insert(header::LOCATION, location);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(Ok(r))
}

#[derive(Deserialize)]
pub struct StartForm {
    csrf: Option<String>,
    /// The login form's own interaction (an authorization request, a device code).
    interaction: Option<String>,
    #[serde(default)]
    to: Destination,
}

/// `POST /login/upstream/{id}`: "Continue with <name>".
pub async fn start(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Response {
    start_inner(&state, &id, &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn start_inner(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    form: StartForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(provider) = state.upstreams.get(id) else {
        return Err(ApiError::NotFound(format!("no identity provider `{id}`")));
    };
    let csrf = LoginCsrf::from_headers(state, headers)?;
    if !csrf.check(form.csrf.as_deref()) {
        return Ok(Page::FormUnverified(FormKind::SignIn).into_page(&state.pages));
    }
    let pending = match login::pending(state, &csrf, form.interaction.as_deref(), now).await? {
        Ok(p) => p,
        Err(spent) => return Ok(spent),
    };
    sign_in_at(
        state, headers, &csrf, &provider, pending, form.to, None, now,
    )
    .await
}

/// Sends a signing-in browser to `provider`, for what its login form continued
/// (`pending`, already spent) or for `to`; `typed` is an address the person typed (home-
/// realm discovery), else the request's `login_hint` goes along. A provider that cannot
/// be reached answers the login page again, 503, saying so.
#[allow(clippy::too_many_arguments)]
pub async fn sign_in_at(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &LoginCsrf,
    provider: &Provider,
    pending: Option<Pending>,
    to: Destination,
    typed: Option<&str>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let hint = typed.map(str::to_owned).or_else(|| match &pending {
        Some((_, Interaction::Authorize(r))) => r.login_hint.clone(),
        _ => None,
    });
    let app = pending.as_ref().map(|(c, _)| c.clone());
    let then = match (pending, to) {
        (None, Destination::Admin) => Then::Admin,
        (p, _) => Then::from_interaction(p.map(|(_, i)| i)),
    };
    match go(
        state,
        provider,
        then.clone(),
        &csrf.binding(),
        Kind::UpstreamSignIn,
        hint.as_deref(),
        now,
    )
    .await?
    {
        Ok(r) => Ok(with_cookies(r, csrf.cookie(state))),
        Err(e) => {
            let app = app.map(|c| c.app.clone());
            failed(state, headers, provider, app, then, e, now).await
        }
    }
}

/// Home-realm discovery for a login page about to be shown for `interaction`: when its
/// `login_hint` is an address of a domain a provider is offered for, the browser goes
/// straight there (`None`: show the page).
pub async fn home_realm(
    state: &AppState,
    headers: &HeaderMap,
    interaction: &Interaction,
    now: UnixTime,
) -> Result<Option<Response>, ApiError> {
    let Interaction::Authorize(req) = interaction else {
        return Ok(None);
    };
    let Some(hint) = req.login_hint.as_deref() else {
        return Ok(None);
    };
    let Some(provider) = state.upstreams.for_login(hint) else {
        return Ok(None);
    };
    let csrf = LoginCsrf::from_headers(state, headers)?;
    let then = Then::Authorize(req.clone());
    match go(
        state,
        &provider,
        then,
        &csrf.binding(),
        Kind::UpstreamSignIn,
        Some(hint),
        now,
    )
    .await?
    {
        Ok(r) => Ok(Some(with_cookies(r, csrf.cookie(state)))),
        // The provider is down: the login page, where other ways to sign in work.
        Err(_) => Ok(None),
    }
}
