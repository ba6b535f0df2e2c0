//! Email address verification (issue 16): `email_verified` becomes true through a link
//! sent to the address. `GET|POST /account/email` (signed in) shows the address and sends
//! a link (256 random bits, hashed at rest, 24 hours, the newest only); `GET|POST
//! /email/verify?token=…` confirms it — by a button, so a mail scanner opening the link
//! verifies nothing — and only if the user's address is still the one the link was sent
//! to. Directory users' addresses are the directory's to vouch for.

use axum::Form;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use valet_store::{LinkRecord, ThrottleDecision, ThrottleRule};

use crate::crypto::{b64, random_token, sha256};
use crate::error::ApiError;
use crate::mail::Mail;
use crate::session::{Browser, LoginCsrf, with_cookies};
use crate::state::{AppState, Shared};

use super::login::see_other;
use super::password::token_of;

pub const VERIFY: &str = "verify_email";
/// A verification link lasts this long.
pub const VERIFY_TTL: i64 = 24 * 3600;
/// Links a user may ask for per hour.
const PER_HOUR: u32 = 3;

#[derive(Serialize, Default)]
struct View<'a> {
    csrf: &'a str,
    /// `account`, `sent`, `confirm`, `verified`, `invalid`.
    step: &'a str,
    email: Option<&'a str>,
    verified: bool,
    can_send: bool,
    token: Option<&'a str>,
}

/// `GET /account/email`.
pub async fn show(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let run = async {
        let now = state.clock.now();
        let Some(b) = Browser::from_headers(&state, &headers, now).await? else {
            return Ok(see_other("/login"));
        };
        account_page(&state, &b, "account").await
    };
    run.await.unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn account_page(state: &AppState, b: &Browser, step: &str) -> Result<Response, ApiError> {
    // Only the built-in store's users: a directory vouches for its own addresses.
    let local = state.store.user(&b.user.id).await?.is_some();
    let csrf = b.csrf(state);
    Ok(state.pages.render(
        StatusCode::OK,
        "email.html",
        View {
            csrf: &csrf,
            step,
            email: b.user.claims.email.as_deref(),
            verified: b.user.claims.email_verified,
            can_send: local && state.mailer.is_some() && b.user.claims.email.is_some(),
            token: None,
        },
    ))
}

#[derive(Deserialize)]
pub struct SendForm {
    csrf: Option<String>,
}

/// `POST /account/email`: sends a verification link to the address on file.
pub async fn send(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<SendForm>,
) -> Response {
    let run = async {
        let now = state.clock.now();
        let Some(b) = Browser::from_headers(&state, &headers, now).await? else {
            return Ok(see_other("/login"));
        };
        if !b.check_csrf(&state, form.csrf.as_deref()) {
            return Err(ApiError::Forbidden(
                "the form could not be verified; reload the page".into(),
            ));
        }
        let (Some(mailer), Some(email), Some(user)) = (
            &state.mailer,
            b.user.claims.email.clone(),
            state.store.user(&b.user.id).await?,
        ) else {
            return account_page(&state, &b, "account").await;
        };
        let rule = ThrottleRule {
            key: b64(&state.user_codes.hash(&format!("verify\u{0}{}", user.id)).0),
            window: 3600,
            limit: PER_HOUR,
            free: u32::MAX,
            max_spacing: 0,
        };
        if let ThrottleDecision::Refused { retry_after } =
            state.store.throttle_attempt(&[rule], now).await?
        {
            return Err(ApiError::Throttled(
                u64::try_from(retry_after).unwrap_or(1),
                "too many verification emails; retry later",
            ));
        }
        let secret = random_token(32)?;
        state
            .store
            .create_link(&LinkRecord {
                hash: sha256(secret.as_bytes()),
                purpose: VERIFY.into(),
                user_id: user.id.clone(),
                data: email.clone(),
                created_at: now,
                expires_at: now + VERIFY_TTL,
            })
            .await?;
        let link = format!("{}/email/verify?token={secret}", state.settings.issuer);
        let (text, html) = state.pages.mail(
            "verify_email",
            serde_json::json!({ "link": link, "username": user.username, "email": email }),
        )?;
        mailer.send(Mail {
            to: email,
            subject: format!(
                "Confirm your email address for {}",
                state.pages.brand_name()
            ),
            text,
            html,
            kind: "verify_email",
        });
        account_page(&state, &b, "sent").await
    };
    run.await.unwrap_or_else(|e| e.into_page(&state.pages))
}

/// `GET /email/verify?token=…`: a button, not yet a verification.
pub async fn confirm_form(
    State(state): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let run = async {
        let csrf = LoginCsrf::from_headers(&state, &headers)?;
        let token = token_of(query.as_deref());
        let link = match &token {
            Some(t) => {
                state
                    .store
                    .link(&sha256(t.as_bytes()), VERIFY, state.clock.now())
                    .await?
            }
            None => None,
        };
        let view = View {
            csrf: &csrf.value,
            step: if link.is_some() { "confirm" } else { "invalid" },
            email: link.as_ref().map(|l| l.data.as_str()),
            token: token.as_deref().filter(|_| link.is_some()),
            ..Default::default()
        };
        let status = if link.is_some() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        let r = state.pages.render(status, "email.html", view);
        Ok::<_, ApiError>(with_cookies(r, csrf.cookie(&state)))
    };
    run.await.unwrap_or_else(|e| e.into_page(&state.pages))
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    token: String,
    csrf: Option<String>,
}

/// `POST /email/verify`.
pub async fn confirm(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let run = async {
        let csrf = LoginCsrf::from_headers(&state, &headers)?;
        if !csrf.check(form.csrf.as_deref()) {
            return Err(ApiError::Forbidden(
                "the form could not be verified; reload the page".into(),
            ));
        }
        let now = state.clock.now();
        let page = |step: &str, status: StatusCode, email: Option<&str>| {
            let view = View {
                csrf: &csrf.value,
                step,
                email,
                ..Default::default()
            };
            state.pages.render(status, "email.html", view)
        };
        let Some(link) = state
            .store
            .consume_link(&sha256(form.token.as_bytes()), VERIFY, now)
            .await?
        else {
            return Ok(page("invalid", StatusCode::BAD_REQUEST, None));
        };
        let Some(mut user) = state.store.user(&link.user_id).await? else {
            return Ok(page("invalid", StatusCode::BAD_REQUEST, None));
        };
        // The address changed since the link was sent: it proves nothing of the new one.
        if user.claims.email.as_deref() != Some(link.data.as_str()) {
            return Ok(page("invalid", StatusCode::BAD_REQUEST, None));
        }
        if !user.claims.email_verified {
            user.claims.email_verified = true;
            user.updated_at = now;
            state.store.update_user(&user).await?;
            state.audit.event(
                now,
                "user.email_verified",
                format!("user:{}", user.username),
                None,
                format!("user:{}", user.username),
                serde_json::json!({ "email_verified": { "from": false, "to": true } }),
            );
        }
        Ok(page("verified", StatusCode::OK, Some(&link.data)))
    };
    run.await.unwrap_or_else(|e| e.into_page(&state.pages))
}
