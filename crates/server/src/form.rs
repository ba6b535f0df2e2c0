//! The body of an OAuth POST: `application/x-www-form-urlencoded` only (RFC 6749 §3.2),
//! size-capped, parsed by `valet_protocol::params` (duplicates refused), and never a
//! client secret in the query string (RFC 6749 §2.3.1).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use valet_protocol::OAuthError;
use valet_protocol::params::{self, Params};

use crate::error::ApiError;

/// Largest form body accepted (checklist N6).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Parameters that may repeat (RFC 8707 §2: `resource`; RFC 8693 §2.1: `audience`).
const REPEATABLE: &[&str] = &["resource", "audience"];

pub struct OAuthForm {
    pub params: Params,
    pub authorization: Option<Vec<u8>>,
    /// The `DPoP` header values (RFC 9449 §4.1), each as sent.
    pub dpop: Vec<Vec<u8>>,
    /// The request's path: the endpoint a client assertion may name as its `aud`.
    pub path: String,
}

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(q) = req.uri().query() {
            let names = q.split('&').filter_map(|kv| kv.split('=').next());
            let mut names = names.filter_map(|n| params::decode(n.as_bytes()).ok());
            if names.any(|n| n == "client_secret") {
                return Err(OAuthError::invalid_request(
                    "credentials must not be sent in the URL; send them in the body or with HTTP Basic",
                )
                .into());
            }
        }
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            )
            .into());
        }
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        let dpop = crate::dpop::headers(req.headers());
        let path = req.uri().path().to_owned();
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::OAuth(OAuthError::invalid_request(
                    "the request body could not be read",
                ))
            }
        })?;
        let params = Params::parse(&body, REPEATABLE)?;
        Ok(Self {
            params,
            authorization,
            dpop,
            path,
        })
    }
}
