//! `GET|POST /device`: the verification page of the device authorization grant (RFC
//! 8628 §3.3, §5). One text field for the user code, prefilled from `?user_code=` but
//! never approved from it (§5.4: a link can be sent by anyone); then sign-in if the
//! browser has no session (the login page, with the entered code sealed into it); then
//! the application, the scopes, the code to compare with the device's, and Allow / Deny;
//! then a page that says to go back to the device.
//!
//! Entering codes is throttled per browser (its CSRF cookie) and per address, in the store
//! (a user code has ~34 bits, §5.1); a wrong, expired, answered or unknown code all get
//! the same message, so nothing tells whether a code exists for another application.
//! The entered code travels sealed (`Interaction::Device`, bound to the browser), once.

use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use valet_protocol::UnixTime;
use valet_protocol::application::Application;
use valet_protocol::device::{self, DeviceDetails};
use valet_protocol::scope::Scope;
use valet_store::{
    ConsentRecord, DeviceDecision, GrantRecord, ThrottleDecision, ThrottleRule, TokenHash,
};

use super::authorize::{ClientView, ScopeView, client_view, describe};
use super::device_authorization::user_code_hash;
use crate::crypto::{b64, random_token, unb64};
use crate::error::{ApiError, FormKind, Page};
use crate::fault::Fault;
use crate::interaction::{self, Interaction, Kind, form_spent};
use crate::issue;
use crate::routes::second_factor;
use crate::session::{Browser, LoginCsrf, with_cookies};
use crate::state::{AppState, Shared};
use crate::throttle::address_key;

/// Codes one browser may enter per window.
pub const PER_BROWSER: u32 = 10;
/// Codes one address may enter per window, over every browser (an office behind one NAT).
pub const PER_ADDRESS: u32 = 50;
/// The window of both, seconds.
pub const WINDOW: i64 = 300;

const WRONG: &str = "That code is not right, or it has expired. Check the code your device \
                     shows and type it again.";

/// What the forms after the code step carry, sealed (`Interaction::Device`): the entered
/// code (its stored hash, and as shown, to compare with the device) and the application
/// it belongs to.
#[derive(Serialize, Deserialize, Clone)]
pub struct DeviceInteraction {
    /// base64url of the user code's HMAC (the store's key for it).
    pub user_code_hash: String,
    /// `XXXX-XXXX`.
    pub user_code: String,
    pub client_id: String,
}

#[derive(Deserialize)]
pub struct Entered {
    user_code: Option<String>,
}

/// `GET /device[?user_code=…]`: the code step, prefilled, never auto-approved.
pub async fn show(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Entered>,
) -> Response {
    let prefill = q.user_code.as_deref().map(|typed| {
        device::normalize(typed)
            .map_or_else(|| typed.chars().take(16).collect(), |c| device::display(&c))
    });
    code_step(&state, &headers, prefill.as_deref(), None, StatusCode::OK)
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

fn code_step(
    state: &AppState,
    headers: &HeaderMap,
    prefill: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let csrf = LoginCsrf::from_headers(state, headers)?;
    #[derive(Serialize)]
    struct View<'a> {
        step: &'static str,
        csrf: &'a str,
        user_code: Option<&'a str>,
        error: Option<&'a str>,
    }
    let r = state.pages.render(
        status,
        "device.html",
        View {
            step: "code",
            csrf: &csrf.value,
            user_code: prefill.filter(|c| !c.is_empty()),
            error,
        },
    );
    Ok(with_cookies(r, csrf.cookie(state)))
}

#[derive(Deserialize)]
pub struct DeviceForm {
    csrf: Option<String>,
    user_code: Option<String>,
    interaction: Option<String>,
    decision: Option<String>,
}

/// `POST /device`: a code entered, or Allow / Deny.
pub async fn submit(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<DeviceForm>,
) -> Response {
    let result = if form.decision.is_some() {
        answer(&state, &headers, form).await
    } else {
        enter(&state, &headers, peer.ip(), form).await
    };
    result.unwrap_or_else(|e| e.into_page(&state.pages))
}

fn expired_form(state: &AppState) -> Response {
    Page::FormUnverified(FormKind::Device).into_page(&state.pages)
}

/// The code step's POST: CSRF, the throttle, then the lookup.
async fn enter(
    state: &AppState,
    headers: &HeaderMap,
    ip: IpAddr,
    form: DeviceForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let csrf = LoginCsrf::from_headers(state, headers)?;
    if !csrf.check(form.csrf.as_deref()) {
        return Ok(expired_form(state));
    }
    let typed = form.user_code.unwrap_or_default();
    let shown: String = typed.chars().take(16).collect();
    // Every entry counts, before the lookup, right or wrong (RFC 8628 §5.1).
    let key = |parts: &[&str]| b64(&state.user_codes.hash(&parts.join("\u{0}")).0);
    let rules = [
        ThrottleRule {
            key: key(&["device-code-entry", "browser", &csrf.value]),
            window: WINDOW,
            limit: PER_BROWSER,
            free: u32::MAX,
            max_spacing: 0,
        },
        ThrottleRule {
            key: key(&["device-code-entry", "address", &address_key(ip)]),
            window: WINDOW,
            limit: PER_ADDRESS,
            free: u32::MAX,
            max_spacing: 0,
        },
    ];
    if let ThrottleDecision::Refused { retry_after } =
        state.store.throttle_attempt(&rules, now).await?
    {
        tracing::info!(target: "valet::audit", %ip, retry_after, "device code entry throttled");
        let message = format!(
            "Too many codes were entered from here. Try again in {} seconds.",
            retry_after.max(1)
        );
        let mut r = code_step(
            state,
            headers,
            Some(&shown),
            Some(&message),
            StatusCode::TOO_MANY_REQUESTS,
        )?;
        if let Ok(v) = HeaderValue::from_str(&retry_after.max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(r);
    }
    let found = match device::normalize(&typed) {
        Some(code) => {
            let hash = user_code_hash(state, &code);
            state
                .store
                .pending_device_code(&hash, now)
                .await?
                .map(|r| (code, r))
        }
        None => None,
    };
    let app = match &found {
        Some((_, r)) => state.catalog.client(&r.client_id).await?,
        None => None,
    };
    let (Some((code, record)), Some(client)) = (found, app) else {
        tracing::info!(target: "valet::audit", %ip, "wrong device code entered");
        return code_step(state, headers, Some(&shown), Some(WRONG), StatusCode::OK);
    };
    if client.app.require_mfa && state.settings.mfa == valet_protocol::mfa::Policy::Off {
        const OFF: &str = "This device's application requires a second factor, and second \
                           factors are turned off here. Ask your administrator.";
        return code_step(
            state,
            headers,
            Some(&shown),
            Some(OFF),
            StatusCode::FORBIDDEN,
        );
    }
    let entered = DeviceInteraction {
        user_code_hash: b64(record.user_code_hash.as_bytes()),
        user_code: device::display(&code),
        client_id: record.client_id.clone(),
    };
    match Browser::from_headers(state, headers, now).await? {
        // A password session steps up first where a second factor is required (issue 16).
        Some(b) if second_factor::needs_step_up(state, &client.app, &b) => {
            let enrol = !crate::mfa::enrolled(state, &b.user.id).await?;
            let then = second_factor::Then::Device(entered);
            second_factor::start(
                state,
                headers,
                &b.user,
                b.session.auth_time,
                then,
                enrol,
                now,
            )
            .await
        }
        Some(browser) => confirm(state, &client.app, &entered, &browser, now).await,
        // The login page, the code sealed into it; `POST /login` continues at `confirm`
        // after a correct password (`interaction::resume`).
        None => {
            let login = Interaction::Device(entered);
            interaction::login_page(state, headers, &client.app, &login, None, None, now).await
        }
    }
}

/// The confirmation step for a signed-in user: the application, the scopes, the code to
/// compare with the device's, Allow / Deny (CSRF bound to the session, the code sealed to
/// it). A code no longer pending gets the wrong-code answer.
pub async fn confirm(
    state: &AppState,
    app: &Application,
    entered: &DeviceInteraction,
    b: &Browser,
    now: UnixTime,
) -> Result<Response, ApiError> {
    let record = match unb64(&entered.user_code_hash).map(TokenHash::new) {
        Some(h) => state.store.pending_device_code(&h, now).await?,
        None => None,
    };
    let Some(record) = record.filter(|r| r.client_id == app.client_id) else {
        return Ok(no_longer_pending(state));
    };
    let details: DeviceDetails =
        serde_json::from_str(&record.details).map_err(Fault::corrupt("device code"))?;
    #[derive(Serialize)]
    struct UserView<'a> {
        display: &'a str,
    }
    #[derive(Serialize)]
    struct View<'a> {
        step: &'static str,
        client: ClientView<'a>,
        user: UserView<'a>,
        scopes: Vec<ScopeView>,
        user_code: &'a str,
        csrf: String,
        interaction: String,
    }
    let view = View {
        step: "confirm",
        client: client_view(state, app).await,
        user: UserView {
            display: b.user.claims.name.as_deref().unwrap_or(&b.user.username),
        },
        scopes: describe(state, &details.scope).await?,
        user_code: &entered.user_code,
        csrf: b.csrf(state),
        interaction: interaction::seal(
            state,
            &b.binding(),
            &Interaction::Device(entered.clone()),
            now,
        )?,
    };
    Ok(state.pages.render(StatusCode::OK, "device.html", view))
}

fn no_longer_pending(state: &AppState) -> Response {
    Page::DeviceCodeSpent.into_page(&state.pages)
}

/// Allow / Deny: the session, its CSRF token, the sealed code (once), then one atomic
/// answer in the store.
async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    form: DeviceForm,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(browser) = Browser::from_headers(state, headers, now).await? else {
        return Ok(Page::SessionEnded(FormKind::Device).into_page(&state.pages));
    };
    if !browser.check_csrf(state, form.csrf.as_deref()) {
        return Ok(expired_form(state));
    }
    let Some(opened) = form.interaction.as_deref().and_then(|sealed| {
        interaction::open(state, &[Kind::Device], &browser.binding(), sealed, now)
    }) else {
        return Ok(form_spent(state));
    };
    if !opened.consume(state).await? {
        return Ok(form_spent(state));
    }
    let Interaction::Device(entered) = opened.interaction else {
        return Ok(form_spent(state));
    };
    let allow = match form.decision.as_deref() {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Err(ApiError::BadInput("choose Allow or Deny".into())),
    };
    let Some(hash) = unb64(&entered.user_code_hash).map(TokenHash::new) else {
        return Ok(form_spent(state));
    };
    let Some(record) = state.store.pending_device_code(&hash, now).await? else {
        return Ok(no_longer_pending(state));
    };
    let Some(client) = state.catalog.client(&entered.client_id).await? else {
        return Ok(no_longer_pending(state));
    };
    let app = &client.app;
    let user = &browser.user;
    if !allow {
        if !state
            .store
            .decide_device_code(&hash, &app.client_id, &DeviceDecision::Deny, now)
            .await?
        {
            return Ok(no_longer_pending(state));
        }
        tracing::info!(target: "valet::audit", client_id = %app.client_id, sub = %user.id,
            "device authorization denied");
        state.audit.event(
            now,
            "device.deny",
            format!("user:{}", user.username),
            None,
            format!("client:{}", app.client_id),
            serde_json::json!({}),
        );
        return Ok(done(state, app, false).await);
    }
    let details: DeviceDetails =
        serde_json::from_str(&record.details).map_err(Fault::corrupt("device code"))?;
    let grant_id = random_token(16)?;
    // The grant belongs to the device, not to this browser: signing out here does not
    // sign the device out (no session recorded).
    let grant = GrantRecord {
        grant_id: grant_id.clone(),
        client_id: app.client_id.clone(),
        user_id: user.id.clone(),
        scope: details.scope.to_wire(),
        session: None,
        created_at: now,
        expires_at: issue::grant_until(state, now),
    };
    let decision = DeviceDecision::Approve {
        grant,
        auth_time: browser.session.auth_time,
        amr: browser.session.amr.clone(),
    };
    if !state
        .store
        .decide_device_code(&hash, &app.client_id, &decision, now)
        .await?
    {
        return Ok(no_longer_pending(state));
    }
    // Remembered as a consent, so the account page lists it and can withdraw it.
    let before = state.store.consent(&user.id, &app.client_id).await?;
    let scope = match &before {
        Some(c) => Scope::parse(&c.scope)
            .unwrap_or_default()
            .union(&details.scope),
        None => details.scope.clone(),
    };
    state
        .store
        .save_consent(&ConsentRecord {
            user_id: user.id.clone(),
            client_id: app.client_id.clone(),
            scope: scope.to_wire(),
            created_at: before.map_or(now, |c| c.created_at),
            updated_at: now,
        })
        .await?;
    tracing::info!(target: "valet::audit", client_id = %app.client_id, sub = %user.id,
        grant_id = %grant_id, scope = %details.scope.to_wire(), "device authorization allowed");
    state.audit.event(
        now,
        "device.allow",
        format!("user:{}", user.username),
        None,
        format!("client:{}", app.client_id),
        serde_json::json!({ "grant_id": grant_id, "scope": details.scope.to_wire() }),
    );
    Ok(done(state, app, true).await)
}

/// The last step: go back to the device.
async fn done(state: &AppState, app: &Application, allowed: bool) -> Response {
    #[derive(Serialize)]
    struct View<'a> {
        step: &'static str,
        client: ClientView<'a>,
        allowed: bool,
    }
    state.pages.render(
        StatusCode::OK,
        "device.html",
        View {
            step: "done",
            client: client_view(state, app).await,
            allowed,
        },
    )
}
