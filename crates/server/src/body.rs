//! Request bodies, bounded in size and time (issue 12.3; checklist N6). Every endpoint
//! takes a small form or JSON body, so the body is read here, whole, before the handler
//! runs: a declared `Content-Length` over the cap is refused at once with 413, before a
//! byte of the body is read; a body that grows past the cap is refused as it does; and a
//! body that has not fully arrived within `client_timeout` is answered with 408. Either
//! way the connection is closed (`Connection: close`): what is left of the body is not
//! worth reading.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};
use std::time::Duration;

use crate::error::ApiError;
use crate::form::MAX_FORM_BYTES;

pub async fn bounded(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BYTES as u64) {
        return closing(ApiError::PayloadTooLarge);
    }
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(timeout, Limited::new(body, MAX_FORM_BYTES).collect()).await;
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return closing(ApiError::PayloadTooLarge);
        }
        // The client went away or sent a malformed body: nobody to answer well.
        Ok(Err(_)) => {
            return closing(ApiError::BadInput(
                "the request body could not be read".into(),
            ));
        }
        Err(_) => return closing(ApiError::BodyTimeout),
    };
    if let Some(keep) = parts.extensions.get::<crate::request_id::ReadBody>() {
        keep.keep(&bytes);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn closing(e: ApiError) -> Response {
    let mut r = e.into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}
