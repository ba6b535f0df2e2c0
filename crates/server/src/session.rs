//! The browser's side of sign-in: the session cookie (single sign-on), the CSRF cookie of
//! the login form, CSRF tokens bound to a session, and the bindings that tie a sealed
//! interaction (`interaction.rs`) to the browser it was given to (checklist C1, C2, C6).
//!
//! Cookies: `__Host-` prefixed, `Secure`, `HttpOnly`, `SameSite=Lax`, `Path=/` when the
//! issuer is https; without the prefix and `Secure` on a plain-http issuer (a laptop).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use std::net::IpAddr;
use valet_protocol::UnixTime;
use valet_store::SessionRecord;

use crate::crypto::{b64, random_token, sha256};
use crate::error::ApiError;
use crate::state::AppState;
use crate::users::User;

const SESSION: &str = "valet-session";
const CSRF: &str = "valet-csrf";

/// A session's `last_used_at` is written at most this often (seconds): reading a page
/// must not cost a write each time.
pub const LAST_USED_EVERY: i64 = 300;
/// How much of a `User-Agent` a session keeps (characters).
pub const USER_AGENT_KEPT: usize = 200;

/// The `sid` of a session (OIDC Back-Channel Logout §2.1) in ID and logout tokens: a
/// digest of the stored hash of its cookie, so it names the session to applications
/// without saying anything that could open it, and can be computed again when the
/// session ends.
pub fn sid(id_hash: &valet_store::TokenHash) -> String {
    let mut input = b"valet sid\0".to_vec();
    input.extend_from_slice(id_hash.as_bytes());
    b64(&sha256(&input).as_bytes()[..16])
}

fn cookie_name(state: &AppState, base: &str) -> String {
    if state.settings.https() {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// The value of cookie `name`, if the request carries it once.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for h in headers.get_all(header::COOKIE) {
        let Ok(text) = h.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k == name {
                    if found.is_some() {
                        // Two cookies of one name: someone planted one; trust neither.
                        return None;
                    }
                    found = Some(v);
                }
            }
        }
    }
    found.filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A `Set-Cookie` line. Cookie values here are base64url, so the header is always valid.
fn set_cookie(state: &AppState, base: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.settings.https() {
        "; Secure"
    } else {
        ""
    };
    let line = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        cookie_name(state, base)
    );
    HeaderValue::from_str(&line).unwrap_or_else(|_| HeaderValue::from_static("x=; Max-Age=0"))
}

/// Adds `cookies` to a response.
pub fn with_cookies(mut r: Response, cookies: Vec<HeaderValue>) -> Response {
    for c in cookies {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// The signed-in user of this browser, if any: a live session of an existing, enabled
/// user.
pub struct Browser {
    pub session: SessionRecord,
    pub user: User,
}

impl Browser {
    pub async fn from_headers(
        state: &AppState,
        headers: &HeaderMap,
        now: UnixTime,
    ) -> Result<Option<Self>, ApiError> {
        let Some(id) = cookie(headers, &cookie_name(state, SESSION)) else {
            return Ok(None);
        };
        let Some(mut session) = state.store.session(&sha256(id.as_bytes()), now).await? else {
            return Ok(None);
        };
        touch(state, &mut session, now).await;
        // Every store is asked each time: a user disabled or deleted in a directory
        // loses the session at once.
        match state.users.by_sub(&session.user_id).await? {
            Some(user) => Ok(Some(Self { session, user })),
            None => Ok(None),
        }
    }

    /// The CSRF token of forms shown to this session: an HMAC of the session id's hash,
    /// so it cannot be forged without the master key and dies with the session.
    pub fn csrf(&self, state: &AppState) -> String {
        csrf_for(state, self.session.id_hash.as_bytes())
    }

    pub fn check_csrf(&self, state: &AppState, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| constant_eq(p.as_bytes(), self.csrf(state).as_bytes()))
    }

    /// What binds a sealed interaction to this session (part of its associated data).
    pub fn binding(&self) -> String {
        format!("session:{}", b64(self.session.id_hash.as_bytes()))
    }
}

/// Records the session's use, at most every `LAST_USED_EVERY` (one conditional write that
/// racing requests make once). Only shown to the user, so a failure costs the request
/// nothing.
async fn touch(state: &AppState, session: &mut SessionRecord, now: UnixTime) {
    if session.last_used_at > now - LAST_USED_EVERY {
        return;
    }
    match state
        .store
        .touch_session(&session.id_hash, now, LAST_USED_EVERY)
        .await
    {
        Ok(_) => session.last_used_at = now,
        Err(e) => tracing::warn!(error = %e, "could not record a session's last use"),
    }
}

fn csrf_for(state: &AppState, id_hash: &[u8]) -> String {
    b64(&state.csrf.hash(&b64(id_hash)).0)
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// Starts a session for `user` (after a correct password), replacing the browser's
/// previous one: the id always changes at login (session fixation, checklist C6).
/// Returns the session and its cookie. The session remembers `ip` and the browser's
/// `User-Agent` (cut to `USER_AGENT_KEPT` characters) for the user's account page.
pub async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    ip: IpAddr,
    user: &User,
    now: UnixTime,
) -> Result<(SessionRecord, HeaderValue), ApiError> {
    sign_in_with(
        state,
        headers,
        ip,
        user,
        now,
        valet_protocol::mfa::password_amr(),
        now,
    )
    .await
}

/// Starts a session as `sign_in`, recording the factors it was made with (`amr`, RFC
/// 8176) and when the password was entered (`auth_time`): after a second factor, or a
/// step-up of an existing session (whose id changes too).
pub async fn sign_in_with(
    state: &AppState,
    headers: &HeaderMap,
    ip: IpAddr,
    user: &User,
    auth_time: UnixTime,
    amr: Vec<String>,
    now: UnixTime,
) -> Result<(SessionRecord, HeaderValue), ApiError> {
    let id = random_token(32)?;
    let old = cookie(headers, &cookie_name(state, SESSION)).map(|v| sha256(v.as_bytes()));
    let session = SessionRecord {
        id_hash: sha256(id.as_bytes()),
        user_id: user.id.clone(),
        auth_time,
        amr,
        created_at: now,
        expires_at: now + state.settings.session_ttl,
        address: Some(ip.to_string()),
        user_agent: headers.get(header::USER_AGENT).map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .chars()
                .take(USER_AGENT_KEPT)
                .collect()
        }),
        last_used_at: now,
    };
    state.store.create_session(&session, old.as_ref()).await?;
    let cookie = set_cookie(state, SESSION, &id, state.settings.session_ttl);
    Ok((session, cookie))
}

/// Ends the browser's session (if any); returns the cookie that clears it.
pub async fn sign_out(
    state: &AppState,
    headers: &HeaderMap,
    now: UnixTime,
) -> Result<HeaderValue, ApiError> {
    if let Some(id) = cookie(headers, &cookie_name(state, SESSION)) {
        state.store.end_session(&sha256(id.as_bytes()), now).await?;
    }
    Ok(set_cookie(state, SESSION, "", 0))
}

/// The login form's CSRF value: the browser's `valet-csrf` cookie, created when missing
/// (double-submit: a cross-site page can neither read nor set it).
pub struct LoginCsrf {
    pub value: String,
    fresh: bool,
}

impl LoginCsrf {
    pub fn from_headers(state: &AppState, headers: &HeaderMap) -> Result<Self, ApiError> {
        match cookie(headers, &cookie_name(state, CSRF)) {
            Some(v) => Ok(Self {
                value: v.to_owned(),
                fresh: false,
            }),
            None => Ok(Self {
                value: random_token(32)?,
                fresh: true,
            }),
        }
    }

    /// Only an existing cookie can vouch for a form post.
    pub fn check(&self, presented: Option<&str>) -> bool {
        !self.fresh && presented.is_some_and(|p| constant_eq(p.as_bytes(), self.value.as_bytes()))
    }

    /// What binds a sealed interaction to this browser before sign-in (part of its
    /// associated data).
    pub fn binding(&self) -> String {
        format!("login:{}", self.value)
    }

    /// The cookie to set, if it was just created.
    pub fn cookie(&self, state: &AppState) -> Vec<HeaderValue> {
        if self.fresh {
            vec![set_cookie(
                state,
                CSRF,
                &self.value,
                state.settings.session_ttl,
            )]
        } else {
            vec![]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_once_and_only_once() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; valet-session=abc; b=2"),
        );
        assert_eq!(cookie(&h, "valet-session"), Some("abc"));
        assert_eq!(cookie(&h, "valet"), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("valet-session=evil"),
        );
        assert_eq!(
            cookie(&h, "valet-session"),
            None,
            "a planted duplicate voids both"
        );
    }
}
