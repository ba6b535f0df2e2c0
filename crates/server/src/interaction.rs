//! What a browser is in the middle of, carried through Valet's forms: an `Interaction`.
//! The authorization endpoint's login and consent pages carry the validated request, the
//! device page's login and Allow / Deny forms the entered code, the logout confirmation
//! where to go afterwards, the second-factor form the correct password and where it
//! leads.
//!
//! An interaction travels sealed (checklist C1, C2, C6; issue 12 item 10): AES-256-GCM with
//! its kind and the browser's binding (the login CSRF cookie before sign-in, the session
//! after) as associated data, so it cannot be altered, opened in another browser, or opened
//! as another kind; it expires `TTL` after sealing, and carries a random id that the first
//! submit records (`Opened::consume`), so a form counts once (the logout form needs no
//! record: signing out ends the session its value is bound to). Nothing is written when
//! a form is shown.
//!
//! The login form continues every kind in `Kind::SIGN_IN`: `login_page` renders it for an
//! interaction, and after a correct password `resume` takes the interaction on. A new kind
//! is a variant of `Interaction` and `Kind` (its name below), and its arms in
//! `client_id` / `recheck`, `resume` and `login_page`; the compiler lists them.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use valet_protocol::UnixTime;
use valet_protocol::application::Application;
use valet_protocol::authorize::AuthorizationRequest;
use webauthn_rs::prelude::{DiscoverableAuthentication, PasskeyRegistration};

use crate::crypto::{Sealer, b64, random_token, unb64};
use crate::error::{ApiError, Page};
use crate::fault::Fault;
use crate::routes::account_mfa::TotpEnrol;
use crate::routes::authorize::{self, ClientView, client_view};
use crate::routes::device::{self, DeviceInteraction};
use crate::routes::login::see_other;
use crate::routes::logout::AfterLogout;
use crate::routes::second_factor::{SecondFactorStep, Then};
use crate::routes::upstream::UpstreamStep;
use crate::session::{Browser, LoginCsrf, with_cookies};
use crate::state::AppState;

/// How long a sealed interaction opens after it was sealed: a login or consent form left
/// open longer has to be started again from the application.
pub const TTL: i64 = 15 * 60;

/// What a browser is in the middle of. Serialized as its payload alone (`untagged`): the
/// kind travels in the associated data, so a value of one kind never opens as another.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Interaction {
    /// The validated authorization request: the login and consent forms.
    Authorize(AuthorizationRequest),
    /// The device code a person entered on `/device`: its login and Allow / Deny forms.
    Device(DeviceInteraction),
    /// Where to go after signing out: the logout confirmation form.
    Logout(AfterLogout),
    /// A correct password, waiting for the second factor (or the enrolment of one):
    /// the second-factor form (`routes/second_factor/`).
    SecondFactor(SecondFactorStep),
    /// Where a sign-in goes once the new recovery codes were shown: their page's
    /// Continue form.
    Continue(Then),
    /// A TOTP secret being enrolled from the account page (`routes/account_mfa.rs`).
    TotpEnrol(TotpEnrol),
    /// A passkey being registered from the account page (`routes/account/passkeys.rs`):
    /// the ceremony's state (its challenge).
    PasskeyRegister(PasskeyRegistration),
    /// A sign-in with a passkey offered on the login page (`routes/passkey.rs`): the
    /// ceremony's state. Sealed beside the login form's own interaction.
    PasskeySignIn(DiscoverableAuthentication),
    /// A sign-in at an upstream identity provider (`routes/upstream.rs`): the round trip's
    /// nonce and PKCE verifier and where the sign-in goes. Sealed as the `state` sent to
    /// the provider, bound to the login CSRF cookie.
    UpstreamSignIn(UpstreamStep),
    /// Linking an upstream account from the account page: as above, bound to the session.
    UpstreamLink(UpstreamStep),
}

/// The kind of an `Interaction`, part of its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Authorize,
    Device,
    Logout,
    SecondFactor,
    Continue,
    TotpEnrol,
    PasskeyRegister,
    PasskeySignIn,
    UpstreamSignIn,
    UpstreamLink,
}

impl Kind {
    /// The kinds the login form continues (a sign-out is confirmed by a signed-in browser
    /// and never waits on a sign-in).
    pub const SIGN_IN: &'static [Kind] = &[Kind::Authorize, Kind::Device];

    fn name(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Device => "device",
            Self::Logout => "logout",
            Self::SecondFactor => "second_factor",
            Self::Continue => "continue",
            Self::TotpEnrol => "totp_enrol",
            Self::PasskeyRegister => "passkey_register",
            Self::PasskeySignIn => "passkey_sign_in",
            Self::UpstreamSignIn => "upstream_sign_in",
            Self::UpstreamLink => "upstream_link",
        }
    }

    /// The payload of this kind, in an envelope that opened under this kind's associated
    /// data.
    fn read(self, json: &[u8]) -> Option<Envelope<Interaction>> {
        fn as_<T: DeserializeOwned>(
            json: &[u8],
            wrap: fn(T) -> Interaction,
        ) -> Option<Envelope<Interaction>> {
            let e: Envelope<T> = serde_json::from_slice(json).ok()?;
            Some(Envelope {
                id: e.id,
                expires_at: e.expires_at,
                value: wrap(e.value),
            })
        }
        match self {
            Self::Authorize => as_(json, Interaction::Authorize),
            Self::Device => as_(json, Interaction::Device),
            Self::Logout => as_(json, Interaction::Logout),
            Self::SecondFactor => as_(json, Interaction::SecondFactor),
            Self::Continue => as_(json, Interaction::Continue),
            Self::TotpEnrol => as_(json, Interaction::TotpEnrol),
            Self::PasskeyRegister => as_(json, Interaction::PasskeyRegister),
            Self::PasskeySignIn => as_(json, Interaction::PasskeySignIn),
            Self::UpstreamSignIn => as_(json, Interaction::UpstreamSignIn),
            Self::UpstreamLink => as_(json, Interaction::UpstreamLink),
        }
    }
}

impl Interaction {
    pub fn kind(&self) -> Kind {
        match self {
            Self::Authorize(_) => Kind::Authorize,
            Self::Device(_) => Kind::Device,
            Self::Logout(_) => Kind::Logout,
            Self::SecondFactor(_) => Kind::SecondFactor,
            Self::Continue(_) => Kind::Continue,
            Self::TotpEnrol(_) => Kind::TotpEnrol,
            Self::PasskeyRegister(_) => Kind::PasskeyRegister,
            Self::PasskeySignIn(_) => Kind::PasskeySignIn,
            Self::UpstreamSignIn(_) => Kind::UpstreamSignIn,
            Self::UpstreamLink(_) => Kind::UpstreamLink,
        }
    }

    /// The application this interaction is for; a sign-out may name none.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Authorize(r) => Some(&r.client_id),
            Self::Device(d) => Some(&d.client_id),
            Self::Logout(_)
            | Self::TotpEnrol(_)
            | Self::PasskeyRegister(_)
            | Self::PasskeySignIn(_)
            | Self::UpstreamLink(_) => None,
            Self::UpstreamSignIn(u) => u.then.client_id(),
            Self::SecondFactor(s) => s.then.client_id(),
            Self::Continue(t) => t.client_id(),
        }
    }
}

/// What a form carries sealed: the value, a random id (recorded when the form is
/// submitted, so it counts once) and when it stops opening.
#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    id: String,
    expires_at: UnixTime,
    value: T,
}

/// A sealed interaction that opened: bound to this browser, of a kind the form takes, not
/// expired. Whether it was submitted before is `consume`'s to say.
pub struct Opened {
    pub interaction: Interaction,
    id: String,
    expires_at: UnixTime,
}

impl Opened {
    /// Records the submit of this form in the store (one atomic insert-if-absent): `true`
    /// the first time, `false` for every later submit of the same form, on any node. A
    /// GET writes nothing; only a submit records its id, kept until the value expires.
    pub async fn consume(&self, state: &AppState) -> Result<bool, ApiError> {
        Ok(state
            .store
            .consume_sealed_form(&self.id, self.expires_at)
            .await?)
    }
}

/// Seals `interaction` for a hidden form field, bound to `binding` and its kind: tampering,
/// replay from another browser or in a form of another kind fails to open. The value
/// carries a fresh random id and expires `TTL` from `now`.
pub fn seal(
    state: &AppState,
    binding: &str,
    interaction: &Interaction,
    now: UnixTime,
) -> Result<String, ApiError> {
    seal_with(&state.interactions, binding, interaction, now)
}

/// The interaction sealed in `text`, if it was sealed for `binding` as one of `kinds` and
/// has not expired at `now` (`expires_at <= now` is expired).
pub fn open(
    state: &AppState,
    kinds: &[Kind],
    binding: &str,
    text: &str,
    now: UnixTime,
) -> Option<Opened> {
    open_with(&state.interactions, kinds, binding, text, now)
}

fn seal_with(
    sealer: &Sealer,
    binding: &str,
    interaction: &Interaction,
    now: UnixTime,
) -> Result<String, ApiError> {
    let envelope = Envelope {
        id: random_token(16)?,
        expires_at: now + TTL,
        value: interaction,
    };
    let json = serde_json::to_vec(&envelope).map_err(Fault::encode("sealed form"))?;
    let sealed = sealer.seal(&associated_data(interaction.kind(), binding), &json)?;
    Ok(b64(&sealed))
}

fn open_with(
    sealer: &Sealer,
    kinds: &[Kind],
    binding: &str,
    text: &str,
    now: UnixTime,
) -> Option<Opened> {
    let sealed = unb64(text)?;
    let e = kinds.iter().find_map(|&kind| {
        let json = sealer.open(&associated_data(kind, binding), &sealed).ok()?;
        kind.read(&json)
    })?;
    (now < e.expires_at).then_some(Opened {
        interaction: e.value,
        id: e.id,
        expires_at: e.expires_at,
    })
}

fn associated_data(kind: Kind, binding: &str) -> String {
    format!("{}|{binding}", kind.name())
}

/// The page for a sealed form that does not open here: sealed for another browser,
/// tampered with, older than 15 minutes, or already submitted once.
pub fn form_spent(state: &AppState) -> Response {
    ApiError::from(Page::FormSpent).into_page(&state.pages)
}

/// An interaction from a submitted form, checked again against its application's
/// registration as it is now, before anyone is signed in on its strength (issue 12
/// item 10): `Some` is what to answer instead.
pub fn recheck(state: &AppState, app: &Application, interaction: &Interaction) -> Option<Response> {
    match interaction {
        Interaction::Authorize(req) => authorize::recheck(state, app, req),
        // The code is looked up again, for this application, at every step.
        Interaction::Device(_) => None,
        Interaction::Logout(_)
        | Interaction::TotpEnrol(_)
        | Interaction::PasskeyRegister(_)
        | Interaction::PasskeySignIn(_)
        | Interaction::UpstreamLink(_) => None,
        Interaction::UpstreamSignIn(UpstreamStep {
            then: Then::Authorize(req),
            ..
        }) => authorize::recheck(state, app, req),
        Interaction::UpstreamSignIn(_) => None,
        Interaction::SecondFactor(SecondFactorStep {
            then: Then::Authorize(req),
            ..
        })
        | Interaction::Continue(Then::Authorize(req)) => authorize::recheck(state, app, req),
        Interaction::SecondFactor(_) | Interaction::Continue(_) => None,
    }
}

/// The login page for `interaction` of `app`, the interaction sealed afresh to this
/// browser's login CSRF cookie (after a wrong password the form works again). `error`
/// re-renders it after a failed attempt; `typed` is the username the person typed, shown
/// again (autoescaped), else the request's `login_hint`.
pub async fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    app: &Application,
    interaction: &Interaction,
    error: Option<&str>,
    typed: Option<&str>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let hint = match interaction {
        Interaction::Authorize(req) => req.login_hint.as_deref(),
        _ => None,
    };
    // The first showing, for a hint of a domain an upstream provider is offered for,
    // goes straight to that provider.
    if error.is_none() && typed.is_none() {
        if let Some(r) =
            crate::routes::upstream::home_realm(state, headers, interaction, now).await?
        {
            return Ok(r);
        }
    }
    let csrf = LoginCsrf::from_headers(state, headers)?;
    let sealed = seal(state, &csrf.binding(), interaction, now)?;
    #[derive(Serialize)]
    struct View<'a> {
        client: ClientView<'a>,
        csrf: &'a str,
        interaction: &'a str,
        username: Option<&'a str>,
        error: Option<&'a str>,
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
            client: client_view(state, app).await,
            csrf: &csrf.value,
            interaction: &sealed,
            username: typed.filter(|u| !u.is_empty()).or(hint),
            error,
            passkey: crate::routes::passkey::offer(state, &csrf.binding(), now)?,
            upstreams: crate::routes::upstream::buttons(state),
            realms: crate::routes::upstream::has_realms(state),
            field_error: error.is_some() && typed.is_some(),
        },
    );
    Ok(with_cookies(r, csrf.cookie(state)))
}

/// Continues `interaction` of `app` for a browser that has just signed in (`POST /login`),
/// in the same response, with `cookies` (the new session's) set on it.
pub async fn resume(
    state: &AppState,
    headers: &HeaderMap,
    app: &Application,
    interaction: Interaction,
    browser: Browser,
    cookies: Vec<HeaderValue>,
    now: UnixTime,
) -> Result<Response, ApiError> {
    match interaction {
        Interaction::Authorize(req) => {
            authorize::proceed(state, headers, app, req, Some(browser), true, cookies, now).await
        }
        Interaction::Device(d) => {
            let r = device::confirm(state, app, &d, &browser, now).await?;
            Ok(with_cookies(r, cookies))
        }
        // Not in `Kind::SIGN_IN`: the login form never opens one. Were it to, the person is
        // signed in as without an application.
        Interaction::Logout(_)
        | Interaction::SecondFactor(_)
        | Interaction::Continue(_)
        | Interaction::TotpEnrol(_)
        | Interaction::PasskeyRegister(_)
        | Interaction::PasskeySignIn(_)
        | Interaction::UpstreamSignIn(_)
        | Interaction::UpstreamLink(_) => Ok(with_cookies(see_other("/account"), cookies)),
    }
}

#[cfg(test)]
#[path = "interaction_tests.rs"]
mod tests;
