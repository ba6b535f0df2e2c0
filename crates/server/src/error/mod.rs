//! The one place where errors become HTTP responses.
//!
//! OAuth errors are JSON `{"error","error_description"}` with the status their code
//! carries (RFC 6749 §5.2), `Cache-Control: no-store` (§5.1), `WWW-Authenticate: Basic`
//! for `invalid_client` and `WWW-Authenticate: Bearer …` at bearer-protected endpoints
//! (RFC 6750 §3). A store that cannot answer is 503 with `Retry-After`, never 500 and
//! never a success (checklist L8).

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use valet_protocol::{ErrorCode, OAuthError};
use valet_store::StoreError;

use crate::fault::{Fault, chain};
use crate::request_id::Refusal;

mod page;
pub use page::{FormKind, Page};

/// What a person is told when a directory does not answer; `name` is the brand's.
pub fn directory_down(name: &str) -> String {
    format!(
        "The directory that holds your account is not answering right now, so {name} cannot check your password."
    )
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An error at an endpoint where clients authenticate (token, introspect, revoke).
    #[error("{0}")]
    OAuth(#[from] OAuthError),
    /// An error at a bearer-protected endpoint (RFC 6750 §3.1).
    #[error("{0}")]
    Bearer(OAuthError, Option<&'static str>),
    /// An error at a resource for a request under the `DPoP` scheme (RFC 9449 §7.1):
    /// 401 with a `DPoP` challenge naming the accepted algorithms (403 for a scope).
    #[error("{0}")]
    Dpop(OAuthError, Option<&'static str>),
    #[error("the store failed")]
    Store(#[from] StoreError),
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The request body did not arrive within `client_timeout` (issue 12.3).
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// Too many failed authentications from this caller; retry after so many seconds.
    #[error("throttled for {0} s: {1}")]
    Throttled(u64, &'static str),
    /// A user store (a directory) is not answering; retry after so many seconds.
    #[error("a user store is not answering")]
    Unavailable(u64),
    /// This node is checking as many passwords as it may at once; retry after so many
    /// seconds (issue 12.2).
    #[error("too many password checks at once")]
    Busy(u64),
    /// A right password of a signed-up account whose email address is not confirmed yet
    /// (`users::UsersError::Pending`): the login page answers it with its own page.
    #[error("the account's email address is not confirmed yet")]
    PendingVerification,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("bad input: {0}")]
    BadInput(String),
    /// A value of one field breaks a rule (the admin API: 400 naming the field).
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    /// Authenticated, but not allowed (a viewer asking to change something): 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// `If-Match` named a version that is no longer stored: 412 (RFC 9110 §13.1.1).
    #[error("precondition failed: {0}")]
    Stale(String),
    /// A page a person's browser gets when a form cannot go on (`Page`).
    #[error("{0:?}")]
    Page(Page),
    #[error("internal error")]
    Internal(#[from] Fault),
    /// Another error, with response headers of its own (a `DPoP-Nonce`, a challenge):
    /// `ApiError::with_header`. Set after the error's own headers, so they win.
    #[error("{error}")]
    WithHeaders {
        #[source]
        error: Box<ApiError>,
        headers: HeaderMap,
    },
}

impl From<Page> for ApiError {
    fn from(p: Page) -> Self {
        Self::Page(p)
    }
}

impl ApiError {
    /// A rule of Valet's own that did not hold.
    pub fn invariant(what: &'static str) -> Self {
        Self::Internal(Fault::Invariant(what))
    }

    /// This error with one more response header.
    pub fn with_header(self, name: HeaderName, value: HeaderValue) -> Self {
        match self {
            Self::WithHeaders { error, mut headers } => {
                headers.append(name, value);
                Self::WithHeaders { error, headers }
            }
            error => {
                let mut headers = HeaderMap::new();
                headers.append(name, value);
                Self::WithHeaders {
                    error: Box::new(error),
                    headers,
                }
            }
        }
    }
}

/// `headers` over the response's own: a name they carry replaces the response's.
fn add_headers(mut r: Response, headers: HeaderMap) -> Response {
    for name in headers.keys() {
        r.headers_mut().remove(name);
    }
    for (name, value) in &headers {
        r.headers_mut().append(name, value.clone());
    }
    r
}

pub fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn json(status: StatusCode, error: &str, description: &str) -> Response {
    json_body(
        status,
        serde_json::json!({ "error": error, "error_description": description }),
    )
}

/// An error body with the request's id (`request_id`, issue 21; RFC 6749 §5.2 lets a
/// response carry more members, and clients ignore those they do not know), marked as a
/// refusal for the request's log line and trail.
fn json_body(status: StatusCode, mut body: serde_json::Value) -> Response {
    crate::request_id::stamp(&mut body);
    let refusal = Refusal {
        error: body["error"].as_str().unwrap_or_default().to_owned(),
        description: body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    let mut r = no_store((status, axum::Json(body)).into_response());
    r.extensions_mut().insert(refusal);
    r
}

impl ApiError {
    /// The same error for a person in a browser: a page, never JSON (the authorization
    /// endpoint, login, consent, account and logout pages).
    pub fn into_page(self, pages: &crate::pages::Pages) -> Response {
        if let Self::WithHeaders { error, headers } = self {
            return add_headers(error.into_page(pages), headers);
        }
        let name = pages.brand_name();
        let (status, title, message, hint) = match &self {
            Self::Page(p) => p.parts(),
            // Unwrapped above; never reached.
            Self::WithHeaders { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                format!("{name} could not complete the request."),
                None,
            ),
            Self::Store(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                format!("{name} cannot reach its database right now."),
                Some("Wait a moment and try again."),
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                directory_down(name),
                Some("Wait a moment and try again."),
            ),
            Self::Busy(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Busy",
                format!("{name} is handling many sign-ins at this moment."),
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
            Self::OAuth(e) | Self::Bearer(e, _) | Self::Dpop(e, _) => (
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
            Self::PendingVerification => (
                StatusCode::FORBIDDEN,
                "Confirm your email address first",
                "This account is waiting for its email address to be confirmed.".to_owned(),
                Some("Open the link in the message we sent when you signed up."),
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
            Self::Field { field, message } => (
                StatusCode::BAD_REQUEST,
                "The request cannot be completed",
                format!("{field}: {message}"),
                None,
            ),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m.clone(), None),
            Self::Stale(m) => (
                StatusCode::PRECONDITION_FAILED,
                "Changed meanwhile",
                m.clone(),
                Some("Reload the page and make the change again."),
            ),
            Self::Internal(fault) => {
                tracing::error!(error = %chain(fault), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    format!("{name} could not complete the request."),
                    Some("Try again; if it keeps happening, tell the site's operators."),
                )
            }
        };
        if let Self::Store(e) = &self {
            tracing::error!(error = %chain(e), "store failure");
        }
        let mut r = pages.error(status, title, &message, hint);
        r.extensions_mut().insert(Refusal {
            error: title.to_owned(),
            description: message.clone(),
        });
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
            Self::Dpop(e, scope) => {
                let status = match e.code {
                    ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
                    ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
                    _ => StatusCode::UNAUTHORIZED,
                };
                let mut challenge = format!(
                    "DPoP error=\"{}\", error_description=\"{}\", algs=\"{}\"",
                    e.code.as_str(),
                    e.description(),
                    crate::dpop::ALGS.join(" ")
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
                tracing::error!(error = %chain(&e), "store failure");
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
            // The password grant (RFC 6749 §5.2): the grant is refused, saying why.
            Self::PendingVerification => json(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidGrant.as_str(),
                "the account's email address is not confirmed yet: follow the link \
                 emailed at sign-up",
            ),
            Self::NotFound(what) => json(StatusCode::NOT_FOUND, "not_found", &what),
            Self::Conflict(what) => json(StatusCode::CONFLICT, "conflict", &what),
            Self::Field { field, message } => {
                let body = serde_json::json!({
                    "error": ErrorCode::InvalidRequest.as_str(),
                    "error_description": format!("{field}: {message}"),
                    "fields": { field: message },
                });
                json_body(StatusCode::BAD_REQUEST, body)
            }
            Self::Forbidden(what) => json(StatusCode::FORBIDDEN, "forbidden", &what),
            Self::Stale(what) => json(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                &what,
            ),
            Self::BadInput(what) => json(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest.as_str(),
                &what,
            ),
            Self::Page(p) => {
                // A page error reached an API: answer it as JSON all the same.
                let (status, _, message, _) = p.parts();
                json(status, ErrorCode::InvalidRequest.as_str(), &message)
            }
            Self::WithHeaders { error, headers } => add_headers(error.into_response(), headers),
            Self::Internal(fault) => {
                tracing::error!(error = %chain(&fault), "internal error");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_carries_its_own_headers_over_its_own() {
        let e = ApiError::from(OAuthError::invalid_client("who are you"))
            .with_header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("DPoP algs=\"ES256\""),
            )
            .with_header(
                HeaderName::from_static("dpop-nonce"),
                HeaderValue::from_static("n-1"),
            );
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenges: Vec<_> = r
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .collect();
        assert_eq!(
            challenges,
            ["DPoP algs=\"ES256\""],
            "replaces the Basic challenge"
        );
        assert_eq!(r.headers()["dpop-nonce"], "n-1");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn internal_errors_say_nothing_of_their_cause() {
        let e = ApiError::from(Fault::Invariant("a secret detail"));
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = futures_body(r);
        assert!(!body.contains("secret detail"), "{body}");
    }

    fn futures_body(r: Response) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt
            .block_on(axum::body::to_bytes(r.into_body(), 1 << 16))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
