//! The browser's side of sign-in: the session cookie (single sign-on), the CSRF cookie of
//! the login form, CSRF tokens bound to a session, and authorization requests sealed into
//! forms so they come back unaltered and only from the browser they were given to
//! (checklist C1, C2, C6), within 15 minutes, and once (issue 12 item 10).
//!
//! Cookies: `__Host-` prefixed, `Secure`, `HttpOnly`, `SameSite=Lax`, `Path=/` when the
//! issuer is https; without the prefix and `Secure` on a plain-http issuer (a laptop).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use valet_protocol::UnixTime;
use valet_store::SessionRecord;

use crate::crypto::{b64, random_token, sha256, unb64};
use crate::error::ApiError;
use crate::state::AppState;
use crate::users::User;

const SESSION: &str = "valet-session";
const CSRF: &str = "valet-csrf";

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
        let Some(session) = state.store.session(&sha256(id.as_bytes()), now).await? else {
            return Ok(None);
        };
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

    /// The associated data that binds a sealed form value to this session.
    pub fn binding(&self) -> String {
        format!("session:{}", b64(self.session.id_hash.as_bytes()))
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
/// Returns the session and its cookie.
pub async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    now: UnixTime,
) -> Result<(SessionRecord, HeaderValue), ApiError> {
    let id = random_token(32).map_err(ApiError::Internal)?;
    let old = cookie(headers, &cookie_name(state, SESSION)).map(|v| sha256(v.as_bytes()));
    let session = SessionRecord {
        id_hash: sha256(id.as_bytes()),
        user_id: user.id.clone(),
        auth_time: now,
        created_at: now,
        expires_at: now + state.settings.session_ttl,
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
                value: random_token(32).map_err(ApiError::Internal)?,
                fresh: true,
            }),
        }
    }

    /// Only an existing cookie can vouch for a form post.
    pub fn check(&self, presented: Option<&str>) -> bool {
        !self.fresh && presented.is_some_and(|p| constant_eq(p.as_bytes(), self.value.as_bytes()))
    }

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

/// How long a sealed form value opens after it was sealed (issue 12 item 10): a login or
/// consent form left open longer has to be started again from the application.
pub const SEALED_FORM_TTL: i64 = 15 * 60;

/// What a sealed form value is for. It is part of the associated data, so a value sealed
/// for one form never opens in another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The validated authorization request, in the login and consent forms.
    Authorize,
    /// Where to go after signing out, in the logout confirmation form.
    Logout,
    /// The device code a person entered on `/device`, in its login and Allow/Deny forms.
    Device,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Logout => "logout",
            Self::Device => "device",
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

/// A sealed form value that opened: bound to this browser, of this purpose, not expired.
pub struct Opened<T> {
    pub value: T,
    id: String,
    expires_at: UnixTime,
}

impl<T> Opened<T> {
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

/// Seals `value` for a hidden form field, bound to `binding` and `purpose` (AES-256-GCM,
/// both as associated data): tampering, replay from another browser or in another form
/// fails to open. The value carries a fresh random id and expires `SEALED_FORM_TTL` from
/// `now`.
pub fn seal<T: Serialize>(
    state: &AppState,
    purpose: Purpose,
    binding: &str,
    value: &T,
    now: UnixTime,
) -> Result<String, ApiError> {
    let envelope = Envelope {
        id: random_token(16).map_err(ApiError::Internal)?,
        expires_at: now + SEALED_FORM_TTL,
        value,
    };
    let json = serde_json::to_vec(&envelope).map_err(|e| ApiError::Internal(e.to_string()))?;
    let sealed = state
        .interactions
        .seal(&associated_data(purpose, binding), &json)
        .map_err(ApiError::Internal)?;
    Ok(b64(&sealed))
}

/// The value sealed in `text`, if it was sealed for this purpose and binding and has not
/// expired at `now` (`expires_at <= now` is expired). Whether it was submitted before is
/// `Opened::consume`'s to say.
pub fn open<T: DeserializeOwned>(
    state: &AppState,
    purpose: Purpose,
    binding: &str,
    text: &str,
    now: UnixTime,
) -> Option<Opened<T>> {
    let sealed = unb64(text)?;
    let json = state
        .interactions
        .open(&associated_data(purpose, binding), &sealed)
        .ok()?;
    let e: Envelope<T> = serde_json::from_slice(&json).ok()?;
    (now < e.expires_at).then_some(Opened {
        value: e.value,
        id: e.id,
        expires_at: e.expires_at,
    })
}

fn associated_data(purpose: Purpose, binding: &str) -> String {
    format!("{}|{binding}", purpose.as_str())
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
