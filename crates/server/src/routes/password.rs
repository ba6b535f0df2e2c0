//! Forgotten passwords (issue 16; checklist G11): `GET|POST /password/forgot` asks for a
//! username or an email address and, when a user of the built-in store matches and has an
//! address, emails a single-use link (256 random bits, 30 minutes, stored as its SHA-256);
//! the answer is the same whether anything matched (a page never tells whether an account
//! or an address exists), and asking is throttled per address and per account.
//! `GET|POST /password/reset?token=…` sets a new password (the same policy as everywhere)
//! and then ends every session and every refresh token of the user (Back-Channel Logout
//! tells their applications). Directory users' passwords are the directory's.

use axum::Form;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use valet_store::{LinkRecord, ThrottleDecision, ThrottleRule, UserRecord};

use crate::crypto::{b64, random_token, sha256};
use crate::error::ApiError;
use crate::mail::Mail;
use crate::session::{LoginCsrf, with_cookies};
use crate::state::{AppState, Shared};
use crate::throttle::address_key;

/// A reset link lasts this long.
pub const RESET_TTL: i64 = 30 * 60;
pub const RESET: &str = "reset_password";
/// Requests per address, and per account, per window.
const PER_ADDRESS: u32 = 10;
const PER_ACCOUNT: u32 = 3;
const WINDOW: i64 = 3600;

#[derive(Serialize, Default)]
struct View<'a> {
    csrf: &'a str,
    /// `forgot`, `sent`, `reset`, `done`, `invalid`, `unavailable`.
    step: &'a str,
    token: Option<&'a str>,
    error: Option<&'a str>,
}

fn page(state: &AppState, csrf: &LoginCsrf, status: StatusCode, view: View<'_>) -> Response {
    let r = state.pages.render(status, "password.html", view);
    with_cookies(r, csrf.cookie(state))
}

/// `GET /password/forgot`.
pub async fn forgot_form(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let csrf = match LoginCsrf::from_headers(&state, &headers) {
        Ok(c) => c,
        Err(e) => return e.into_page(&state.pages),
    };
    let step = if state.mailer.is_some() {
        "forgot"
    } else {
        "unavailable"
    };
    let view = View {
        csrf: &csrf.value,
        step,
        ..Default::default()
    };
    page(&state, &csrf, StatusCode::OK, view)
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    who: String,
    csrf: Option<String>,
}

/// `POST /password/forgot`.
pub async fn forgot(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ForgotForm>,
) -> Response {
    forgot_inner(&state, peer.ip(), &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn forgot_inner(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    form: ForgotForm,
) -> Result<Response, ApiError> {
    let csrf = LoginCsrf::from_headers(state, headers)?;
    if !csrf.check(form.csrf.as_deref()) {
        return Err(ApiError::Forbidden(
            "the form could not be verified; reload the page".into(),
        ));
    }
    let Some(mailer) = &state.mailer else {
        let view = View {
            csrf: &csrf.value,
            step: "unavailable",
            ..Default::default()
        };
        return Ok(page(state, &csrf, StatusCode::OK, view));
    };
    let now = state.clock.now();
    let who: String = form.who.trim().chars().take(320).collect();
    throttle(state, ip, &who, now).await?;
    // From here on the answer is the same, whatever matched.
    if let Some(user) = find(state, &who).await? {
        if let Some(to) = user.claims.email.clone() {
            let secret = random_token(32)?;
            state
                .store
                .create_link(&LinkRecord {
                    hash: sha256(secret.as_bytes()),
                    purpose: RESET.into(),
                    user_id: user.id.clone(),
                    data: String::new(),
                    created_at: now,
                    expires_at: now + RESET_TTL,
                })
                .await?;
            let link = format!("{}/password/reset?token={secret}", state.settings.issuer);
            let (text, html) = state.pages.mail(
                "reset_password",
                serde_json::json!({ "link": link, "username": user.username, "minutes": RESET_TTL / 60 }),
            )?;
            mailer.send(Mail {
                to,
                subject: format!("Reset your {} password", state.pages.brand_name()),
                text,
                html,
                kind: "reset_password",
            });
            state.audit.event(
                now,
                "password.reset_requested",
                "anonymous".into(),
                Some(ip),
                format!("user:{}", user.username),
                serde_json::json!({}),
            );
        }
    }
    let view = View {
        csrf: &csrf.value,
        step: "sent",
        ..Default::default()
    };
    Ok(page(state, &csrf, StatusCode::OK, view))
}

/// A user of the built-in store by login name, or else the one user with this address
/// (several users sharing an address: none, rather than a guess).
async fn find(state: &AppState, who: &str) -> Result<Option<UserRecord>, ApiError> {
    if who.is_empty() {
        return Ok(None);
    }
    // A signed-up account not confirmed yet gets no reset: its link confirms it first.
    let usable = |u: &UserRecord| !u.disabled && u.pending_until.is_none();
    if let Some(u) = state.store.user_by_username(who).await? {
        return Ok(usable(&u).then_some(u));
    }
    if !who.contains('@') {
        return Ok(None);
    }
    let mut matching = state.store.users_by_email(who).await?;
    Ok(match matching.len() {
        1 => matching.pop().filter(usable),
        _ => None,
    })
}

async fn throttle(state: &AppState, ip: IpAddr, who: &str, now: i64) -> Result<(), ApiError> {
    let key = |what: &str| b64(&state.user_codes.hash(&format!("forgot\u{0}{what}")).0);
    let rule = |key: String, limit: u32| ThrottleRule {
        key,
        window: WINDOW,
        limit,
        free: u32::MAX,
        max_spacing: 0,
    };
    let rules = [
        rule(key(&address_key(ip)), PER_ADDRESS),
        rule(key(&format!("who\u{0}{}", who.to_lowercase())), PER_ACCOUNT),
    ];
    if let ThrottleDecision::Refused { retry_after } =
        state.store.throttle_attempt(&rules, now).await?
    {
        tracing::info!(target: "valet::audit", %ip, retry_after, "password reset requests throttled");
        return Err(ApiError::Throttled(
            u64::try_from(retry_after).unwrap_or(1),
            "too many password reset requests; retry later",
        ));
    }
    Ok(())
}

/// The `token` of an emailed link's query (a reset or a verification link).
pub(super) fn token_of(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .filter(|t| !t.is_empty() && t.len() <= 100)
}

/// `GET /password/reset?token=…`: the form, if the link is still good (it is not used
/// up by being opened: mail scanners open links).
pub async fn reset_form(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let run = async {
        let csrf = LoginCsrf::from_headers(&state, &headers)?;
        let token = token_of(query.as_deref());
        let live = match &token {
            Some(t) => state
                .store
                .link(&sha256(t.as_bytes()), RESET, state.clock.now())
                .await?
                .is_some(),
            None => false,
        };
        let view = View {
            csrf: &csrf.value,
            step: if live { "reset" } else { "invalid" },
            token: token.as_deref().filter(|_| live),
            ..Default::default()
        };
        let status = if live {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        Ok::<_, ApiError>(page(&state, &csrf, status, view))
    };
    run.await.unwrap_or_else(|e| e.into_page(&state.pages))
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    csrf: Option<String>,
}

/// `POST /password/reset`.
pub async fn reset(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<ResetForm>,
) -> Response {
    reset_inner(&state, peer.ip(), &headers, form)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn reset_inner(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    form: ResetForm,
) -> Result<Response, ApiError> {
    let csrf = LoginCsrf::from_headers(state, headers)?;
    if !csrf.check(form.csrf.as_deref()) {
        return Err(ApiError::Forbidden(
            "the form could not be verified; reload the page".into(),
        ));
    }
    let again = |error: &str| {
        let view = View {
            csrf: &csrf.value,
            step: "reset",
            token: Some(&form.token),
            error: Some(error),
        };
        page(state, &csrf, StatusCode::BAD_REQUEST, view)
    };
    if form.password != form.confirm {
        return Ok(again("The two passwords are not the same."));
    }
    if let Err(why) = crate::passwords::Passwords::check_policy(&form.password) {
        return Ok(again(&why));
    }
    let now = state.clock.now();
    // Checked first (the link stays usable while the form is corrected), used last.
    let hash = sha256(form.token.as_bytes());
    let invalid = || {
        let view = View {
            csrf: &csrf.value,
            step: "invalid",
            ..Default::default()
        };
        Ok(page(state, &csrf, StatusCode::BAD_REQUEST, view))
    };
    if state.store.link(&hash, RESET, now).await?.is_none() {
        return invalid();
    }
    let password_hash = state.users.hash_password(&form.password).await?;
    let Some(link) = state.store.consume_link(&hash, RESET, now).await? else {
        return invalid();
    };
    let Some(mut user) = state.store.user(&link.user_id).await? else {
        return invalid();
    };
    user.password_hash = Some(password_hash);
    user.updated_at = now;
    state.store.update_user(&user).await?;
    // Checklist G11: every session and refresh token of the user ends.
    let grants = state.store.end_user_access(&user.id, now).await?;
    state.audit.event(
        now,
        "password.reset",
        format!("user:{}", user.username),
        Some(ip),
        format!("user:{}", user.username),
        serde_json::json!({ "password": { "from": "[hidden]", "to": "[hidden]" }, "grants_revoked": grants }),
    );
    let view = View {
        csrf: &csrf.value,
        step: "done",
        ..Default::default()
    };
    Ok(page(state, &csrf, StatusCode::OK, view))
}
