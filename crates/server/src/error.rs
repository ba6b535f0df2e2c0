//! The one place where errors become HTTP responses.
//!
//! OAuth errors are JSON `{"error","error_description"}` with the status their code
//! carries (RFC 6749 §5.2), `Cache-Control: no-store` (§5.1), `WWW-Authenticate: Basic`
//! for `invalid_client` and `WWW-Authenticate: Bearer …` at bearer-protected endpoints
//! (RFC 6750 §3). A store that cannot answer is 503 with `Retry-After`, never 500 and
//! never a success (checklist L8).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use valet_protocol::{ErrorCode, OAuthError};
use valet_store::StoreError;

/// What a person is told when a directory does not answer.
pub const DIRECTORY_DOWN: &str = "The directory that holds your account is not answering right now, so Valet cannot check your password.";

#[derive(Debug)]
pub enum ApiError {
    /// An error at an endpoint where clients authenticate (token, introspect, revoke).
    OAuth(OAuthError),
    /// An error at a bearer-protected endpoint (RFC 6750 §3.1).
    Bearer(OAuthError, Option<&'static str>),
    Store(StoreError),
    PayloadTooLarge,
    /// The request body did not arrive within `client_timeout` (issue 12.3).
    BodyTimeout,
    /// Too many failed authentications from this caller; retry after so many seconds.
    Throttled(u64, &'static str),
    /// A user store (a directory) is not answering; retry after so many seconds.
    Unavailable(u64),
    /// This node is checking as many passwords as it may at once; retry after so many
    /// seconds (issue 12.2).
    Busy(u64),
    NotFound(String),
    Conflict(String),
    BadInput(String),
    Internal(String),
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

pub fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn json(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({ "error": error, "error_description": description });
    no_store((status, axum::Json(body)).into_response())
}

impl ApiError {
    /// The same error for a person in a browser: a page, never JSON (the authorization
    /// endpoint, login, consent, account and logout pages).
    pub fn into_page(self, pages: &crate::pages::Pages) -> Response {
        let (status, title, message, hint) = match &self {
            Self::Store(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Valet cannot reach its database right now.".to_owned(),
                Some("Wait a moment and try again."),
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                DIRECTORY_DOWN.to_owned(),
                Some("Wait a moment and try again."),
            ),
            Self::Busy(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Busy",
                "Valet is handling many sign-ins at this moment.".to_owned(),
                Some("Wait a moment and try again."),
            ),
            Self::Throttled(secs, _) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!(
                    "There were too many sign-in attempts. Try again in {}.",
                    wait(*secs)
                ),
                Some("Wait, then sign in again."),
            ),
            Self::OAuth(e) | Self::Bearer(e, _) => (
                StatusCode::BAD_REQUEST,
                "The request cannot be completed",
                e.description().to_owned(),
                Some("Go back to the application and start again."),
            ),
            Self::BadInput(m) => (
                StatusCode::BAD_REQUEST,
                "The request cannot be completed",
                m.clone(),
                Some("Go back to the application and start again."),
            ),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m.clone(), None),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
                "The request is too large.".to_owned(),
                None,
            ),
            Self::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "Request timed out",
                "The request did not arrive in time.".to_owned(),
                Some("Try again."),
            ),
            Self::Conflict(m) => (StatusCode::CONFLICT, "Conflict", m.clone(), None),
            Self::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Valet could not complete the request.".to_owned(),
                    Some("Try again; if it keeps happening, tell the site's operators."),
                )
            }
        };
        if let Self::Store(e) = &self {
            tracing::error!(error = %e, "store failure");
        }
        let mut r = pages.error(status, title, &message, hint);
        match self {
            Self::Store(_) => {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Throttled(secs, _) | Self::Unavailable(secs) | Self::Busy(secs) => {
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            _ => {}
        }
        r
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth(e) => {
                let status =
                    StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
                let mut r = json(status, e.code.as_str(), e.description());
                if e.code == ErrorCode::InvalidClient {
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"valet\", charset=\"UTF-8\""),
                    );
                }
                r
            }
            Self::Bearer(e, scope) => {
                let status =
                    StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
                let mut challenge = format!(
                    "Bearer realm=\"valet\", error=\"{}\", error_description=\"{}\"",
                    e.code.as_str(),
                    e.description()
                );
                if let Some(s) = scope {
                    challenge.push_str(&format!(", scope=\"{s}\""));
                }
                let mut r = json(status, e.code.as_str(), e.description());
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                r
            }
            Self::Store(StoreError::Conflict(_)) => json(
                StatusCode::CONFLICT,
                "conflict",
                "the record already exists",
            ),
            Self::Store(e) => {
                tracing::error!(error = %e, "store failure");
                let mut r = json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::TemporarilyUnavailable.as_str(),
                    "the database is not answering; retry shortly",
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
            Self::Throttled(secs, what) => {
                let mut r = json(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::TemporarilyUnavailable.as_str(),
                    what,
                );
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            Self::Unavailable(secs) => {
                let mut r = json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::TemporarilyUnavailable.as_str(),
                    "the directory that holds this user is not answering; retry shortly",
                );
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            Self::Busy(secs) => {
                let mut r = json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::TemporarilyUnavailable.as_str(),
                    "too many sign-ins at once; retry shortly",
                );
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            Self::PayloadTooLarge => json(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::InvalidRequest.as_str(),
                "the request body is too large",
            ),
            Self::BodyTimeout => json(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::InvalidRequest.as_str(),
                "the request body did not arrive in time",
            ),
            Self::NotFound(what) => json(StatusCode::NOT_FOUND, "not_found", &what),
            Self::Conflict(what) => json(StatusCode::CONFLICT, "conflict", &what),
            Self::BadInput(what) => json(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest.as_str(),
                &what,
            ),
            Self::Internal(what) => {
                tracing::error!(error = %what, "internal error");
                json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error",
                )
            }
        }
    }
}

/// "5 seconds", "a minute", "2 minutes": how long a person is asked to wait.
pub fn wait(secs: u64) -> String {
    match secs {
        0 | 1 => "a second".into(),
        2..=59 => format!("{secs} seconds"),
        60 => "a minute".into(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}
