//! Self-service sign-up (issue 16), off unless `self_registration` is on (then `/signup`
//! answers; otherwise 404). `GET|POST /signup` takes a username, an email address, a name
//! (optional) and a password (the same rule as everywhere, `password_policy`, and not the
//! username or address: NIST SP 800-63B §5.1.1.2), then creates the user *pending*: no
//! sign-in until they follow a single-use link emailed to the address (256 random bits,
//! stored as its SHA-256, `SIGNUP_TTL`, the newest only; `confirm.rs`). A pending user's
//! right password shows `pending_page` (a wrong one the usual message); the housekeeping
//! purge deletes a user still pending after the link's lifetime.
//!
//! The page never tells whether an address is registered (OWASP ASVS v4 2.1.x / 3.x
//! account enumeration; the same "check your email" page either way, after the same
//! password hashing): an address that has an account is sent a note saying so instead of
//! a link (or, if that account is itself pending, a fresh link for it). A taken username is
//! said: it is the login name, public on the login page anyway. Asking is throttled per
//! client address and per email address before any hashing, and every field is bounded.

mod confirm;
mod resend;

use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use valet_protocol::user::{Role, UserClaims, validate_email, validate_username};
use valet_store::{LinkRecord, StoreError, ThrottleDecision, ThrottleRule, UserRecord};

use crate::crypto::{b64, random_token, sha256};
use crate::error::ApiError;
use crate::mail::Mail;
use crate::session::{LoginCsrf, with_cookies};
use crate::state::{AppState, Shared};
use crate::throttle::address_key;

/// A sign-up link, and a pending account, last this long.
pub const SIGNUP_TTL: i64 = 24 * 3600;
/// The link's purpose in the Links store: it opens nothing else.
pub const SIGNUP: &str = "signup";
/// Sign-ups (and resends) per client address, and per email address or account, per hour.
const PER_ADDRESS: u32 = 10;
const PER_EMAIL: u32 = 3;
const WINDOW: i64 = 3600;
/// Longest display name taken.
const MAX_NAME: usize = 200;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/signup", get(form).post(submit))
        .route("/signup/verify", get(confirm::form).post(confirm::submit))
        .route("/signup/resend", get(resend::form).post(resend::submit))
}

#[derive(Serialize, Default)]
struct View<'a> {
    csrf: &'a str,
    /// `form`, `sent`, `pending`, `resend`, `confirm`, `ready`, `invalid`.
    step: &'a str,
    username: Option<&'a str>,
    email: Option<&'a str>,
    name: Option<&'a str>,
    /// Field → what is wrong with it.
    errors: BTreeMap<&'static str, String>,
    token: Option<&'a str>,
    hours: i64,
    /// Whether a new link can be sent (mail configured).
    can_resend: bool,
}

fn page(state: &AppState, csrf: &LoginCsrf, status: StatusCode, view: View<'_>) -> Response {
    let view = View {
        csrf: &csrf.value,
        hours: SIGNUP_TTL / 3600,
        can_resend: state.mailer.is_some(),
        ..view
    };
    let r = state.pages.render(status, "signup.html", view);
    with_cookies(r, csrf.cookie(state))
}

fn off(state: &AppState) -> Response {
    ApiError::NotFound("There is no page at this address.".into()).into_page(&state.pages)
}

fn unverified() -> ApiError {
    ApiError::Forbidden("the form could not be verified; reload the page".into())
}

/// `GET /signup`.
async fn form(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if !state.settings.self_registration {
        return off(&state);
    }
    match LoginCsrf::from_headers(&state, &headers) {
        Ok(csrf) => {
            let view = View {
                step: "form",
                ..Default::default()
            };
            page(&state, &csrf, StatusCode::OK, view)
        }
        Err(e) => e.into_page(&state.pages),
    }
}

#[derive(Deserialize)]
struct SignupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    csrf: Option<String>,
}

/// The form's values as the rules see them, or what is wrong with each field.
struct Entered {
    username: String,
    email: String,
    name: Option<String>,
}

/// `pattern`: the database user store's `login_pattern`, which a new username must match
/// to ever be offered to that store.
fn validate(
    f: &SignupForm,
    pattern: Option<&regex::Regex>,
) -> Result<Entered, BTreeMap<&'static str, String>> {
    let mut errors = BTreeMap::new();
    // Bounded before anything else looks at them (the body itself is bounded too).
    let username: String = f.username.trim().chars().take(129).collect();
    let email: String = f.email.trim().chars().take(255).collect();
    let name: String = f.name.trim().chars().take(MAX_NAME + 1).collect();
    if username.is_empty() {
        errors.insert("username", "Choose a username.".into());
    } else if let Err(e) = validate_username(&username) {
        errors.insert("username", sentence(&e));
    } else if username.contains('@') && !username.eq_ignore_ascii_case(&email) {
        // A username that looks like someone's address would catch their password-reset
        // requests (`/password/forgot` tries usernames first).
        errors.insert(
            "username",
            "A username with an @ must be the email address you sign up with.".into(),
        );
    }
    if !errors.contains_key("username") && pattern.is_some_and(|p| !p.is_match(&username)) {
        errors.insert(
            "username",
            "That username is not one this service takes; choose another.".into(),
        );
    }
    if email.is_empty() {
        errors.insert("email", "Enter your email address.".into());
    } else if validate_email(&email).is_err() {
        errors.insert("email", "That is not an email address.".into());
    }
    if name.chars().count() > MAX_NAME {
        errors.insert("name", format!("A name has at most {MAX_NAME} characters."));
    } else if let Err(e) = valet_protocol::text::check_printable("name", &name) {
        errors.insert("name", sentence(&e));
    }
    let context = [username.as_str(), email.as_str(), name.as_str()];
    if let Err(e) = crate::password_policy::check_with(&f.password, &context) {
        errors.insert("password", sentence(&e));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Entered {
        username,
        email,
        name: (!name.is_empty()).then_some(name),
    })
}

/// "a password has at least 8 characters" → "A password has at least 8 characters."
fn sentence(rule: &str) -> String {
    let mut c = rule.chars();
    match c.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}

/// `POST /signup`.
async fn submit(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<SignupForm>,
) -> Response {
    if !state.settings.self_registration {
        return off(&state);
    }
    submit_inner(&state, peer.ip(), &headers, f)
        .await
        .unwrap_or_else(|e| e.into_page(&state.pages))
}

async fn submit_inner(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    f: SignupForm,
) -> Result<Response, ApiError> {
    let csrf = LoginCsrf::from_headers(state, headers)?;
    if !csrf.check(f.csrf.as_deref()) {
        return Err(unverified());
    }
    let Some(mailer) = &state.mailer else {
        return Err(ApiError::invariant("self_registration without mail"));
    };
    let again = |errors: BTreeMap<&'static str, String>| {
        let view = View {
            step: "form",
            username: Some(f.username.trim()),
            email: Some(f.email.trim()),
            name: Some(f.name.trim()),
            errors,
            ..Default::default()
        };
        page(state, &csrf, StatusCode::BAD_REQUEST, view)
    };
    let pattern = state
        .settings
        .user_stores
        .iter()
        .find(|s| matches!(s.kind, crate::users::config::StoreKind::Database))
        .and_then(|s| s.login_pattern.as_ref());
    let entered = match validate(&f, pattern) {
        Ok(e) => e,
        Err(errors) => return Ok(again(errors)),
    };
    let now = state.clock.now();
    throttle(state, "signup", ip, &entered.email, now).await?;
    let taken = || {
        let mut errors = BTreeMap::new();
        errors.insert(
            "username",
            "That username is taken; choose another.".to_owned(),
        );
        again(errors)
    };
    if state
        .store
        .user_by_username(&entered.username)
        .await?
        .is_some()
    {
        return Ok(taken());
    }
    // Hashed whether or not the address has an account, so the answer takes as long.
    let password_hash = state.users.hash_password(&f.password).await?;
    let holders = state.store.users_by_email(&entered.email).await?;
    if !holders.is_empty() {
        already_registered(state, mailer, ip, &entered.email, &holders, now).await?;
    } else {
        let user = UserRecord {
            id: random_token(16)?,
            username: entered.username,
            claims: UserClaims {
                name: entered.name,
                email: Some(entered.email.clone()),
                email_verified: false,
                ..Default::default()
            },
            password_hash: Some(password_hash),
            disabled: false,
            role: Role::None,
            pending_until: Some(now + SIGNUP_TTL),
            created_at: now,
            updated_at: now,
        };
        match state.store.create_user(&user).await {
            Ok(()) => {}
            // Someone took the name between the check and now.
            Err(StoreError::Conflict(_)) => return Ok(taken()),
            Err(e) => return Err(e.into()),
        }
        send_link(state, mailer, &user, now).await?;
        state.audit.event(
            now,
            "signup.requested",
            "anonymous".into(),
            Some(ip),
            format!("user:{}", user.username),
            serde_json::json!({ "email": user.claims.email }),
        );
    }
    let view = View {
        step: "sent",
        email: Some(f.email.trim()),
        ..Default::default()
    };
    Ok(page(state, &csrf, StatusCode::OK, view))
}

/// The address has an account already: its owner hears of the attempt (and, if that
/// account is itself waiting for confirmation, gets a fresh link for it); the person
/// signing up sees the same page as for a new account.
async fn already_registered(
    state: &AppState,
    mailer: &crate::mail::Mailer,
    ip: IpAddr,
    email: &str,
    holders: &[UserRecord],
    now: i64,
) -> Result<(), ApiError> {
    if let Some(pending) = holders.iter().find(|u| u.pending_until.is_some()) {
        let mut u = pending.clone();
        u.pending_until = Some(now + SIGNUP_TTL);
        u.updated_at = now;
        state.store.update_user(&u).await?;
        return send_link(state, mailer, &u, now).await;
    }
    let usernames: Vec<&str> = holders.iter().map(|u| u.username.as_str()).collect();
    let (text, html) = state.pages.mail(
        "signup_exists",
        serde_json::json!({ "email": email, "usernames": usernames.join(", ") }),
    )?;
    mailer.send(Mail {
        to: email.to_owned(),
        subject: format!(
            "Someone tried to create a {} account with your address",
            state.pages.brand_name()
        ),
        text,
        html,
        kind: "signup_exists",
    });
    state.audit.event(
        now,
        "signup.address_taken",
        "anonymous".into(),
        Some(ip),
        format!("user:{}", holders[0].username),
        serde_json::json!({}),
    );
    Ok(())
}

/// A fresh single-use link for a pending `user` (the earlier ones stop working), emailed
/// to their address. The user's `pending_until` should reach as far as the link.
async fn send_link(
    state: &AppState,
    mailer: &crate::mail::Mailer,
    user: &UserRecord,
    now: i64,
) -> Result<(), ApiError> {
    let Some(to) = user.claims.email.clone() else {
        return Ok(());
    };
    let secret = random_token(32)?;
    state
        .store
        .create_link(&LinkRecord {
            hash: sha256(secret.as_bytes()),
            purpose: SIGNUP.into(),
            user_id: user.id.clone(),
            data: to.clone(),
            created_at: now,
            expires_at: now + SIGNUP_TTL,
        })
        .await?;
    let link = format!("{}/signup/verify?token={secret}", state.settings.issuer);
    let (text, html) = state.pages.mail(
        "signup",
        serde_json::json!({ "link": link, "username": user.username, "hours": SIGNUP_TTL / 3600 }),
    )?;
    mailer.send(Mail {
        to,
        subject: format!("Confirm your new {} account", state.pages.brand_name()),
        text,
        html,
        kind: "signup",
    });
    Ok(())
}

/// Counts an attempt per client address and per email address (or account), before any
/// hashing or mail; `Throttled` when either is over its limit. Keys are HMACs: no address
/// is stored in the clear.
async fn throttle(
    state: &AppState,
    kind: &str,
    ip: IpAddr,
    who: &str,
    now: i64,
) -> Result<(), ApiError> {
    let key = |what: &str| b64(&state.user_codes.hash(&format!("{kind}\u{0}{what}")).0);
    let rule = |key: String, limit: u32| ThrottleRule {
        key,
        window: WINDOW,
        limit,
        free: u32::MAX,
        max_spacing: 0,
    };
    let rules = [
        rule(key(&address_key(ip)), PER_ADDRESS),
        rule(key(&format!("who\u{0}{}", who.to_lowercase())), PER_EMAIL),
    ];
    if let ThrottleDecision::Refused { retry_after } =
        state.store.throttle_attempt(&rules, now).await?
    {
        tracing::info!(target: "valet::audit", %ip, retry_after, kind, "sign-up requests throttled");
        return Err(ApiError::Throttled(
            u64::try_from(retry_after).unwrap_or(1),
            "too many sign-up requests; retry later",
        ));
    }
    Ok(())
}

/// What the login page shows for a right password of an account not confirmed yet (a
/// wrong password gets the usual message): confirm first, or have a new link sent.
pub fn pending_page(
    state: &AppState,
    headers: &HeaderMap,
    username: &str,
) -> Result<Response, ApiError> {
    let csrf = LoginCsrf::from_headers(state, headers)?;
    let shown: String = username.chars().take(128).collect();
    let view = View {
        step: "pending",
        username: Some(&shown),
        ..Default::default()
    };
    Ok(page(state, &csrf, StatusCode::FORBIDDEN, view))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(username: &str, email: &str, password: &str) -> SignupForm {
        SignupForm {
            username: username.into(),
            email: email.into(),
            name: String::new(),
            password: password.into(),
            csrf: None,
        }
    }

    #[test]
    fn a_username_must_be_one_the_database_store_is_offered() {
        let customers = regex::Regex::new("^.+@.+$").unwrap();
        let e = validate(
            &form("ada", "ada@example.com", "plum orchard lantern"),
            Some(&customers),
        )
        .err()
        .unwrap();
        assert!(
            e["username"].contains("not one this service takes"),
            "{e:?}"
        );
        let ok = validate(
            &form("ada@example.com", "ADA@example.com", "plum orchard lantern"),
            Some(&customers),
        )
        .ok()
        .unwrap();
        assert_eq!((ok.username.as_str(), ok.name), ("ada@example.com", None));
    }

    #[test]
    fn rules_read_as_sentences() {
        assert_eq!(
            sentence("a password has at least 8 characters"),
            "A password has at least 8 characters."
        );
        assert_eq!(sentence(""), "");
    }
}
