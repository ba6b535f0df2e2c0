//! `POST /admin/api/explain`: what `valet explain` says, for a token or a refused
//! request's id (issue 21). A POST, so a token never travels in a URL (RFC 6750 §5.3);
//! viewers may ask.

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::openapi::ErrorBody;
use super::{AdminCaller, body};
use crate::error::{ApiError, no_store};
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new().route("/explain", post(explain))
}

/// One of the two.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// A token: a JWT, an opaque access token or a refresh token.
    pub token: Option<String>,
    /// The `X-Request-Id` of a refused request.
    pub request_id: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/api/explain",
    tag = "explain",
    summary = "Explain a token or a refused request",
    request_body = ExplainRequest,
    responses((status = 200, description = "`state` (active, expired, revoked, …) and `reason`, with what the token or request was"), (status = 400, description = "Neither or both of token and request_id", body = ErrorBody), (status = 404, description = "No refused request is kept under that id", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn explain(
    caller: AdminCaller,
    b: Result<Json<ExplainRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let admin = caller.admin();
    let explained = match (b.token.as_deref(), b.request_id.as_deref()) {
        (Some(t), None) if !t.is_empty() && t.len() <= 16 * 1024 => {
            admin
                .explain_token(t, &caller.settings().issuer, caller.now)
                .await?
        }
        (None, Some(id)) if !id.is_empty() && id.len() <= 64 => admin.explain_request(id).await?,
        _ => {
            return Err(ApiError::BadInput(
                "send either token (at most 16 KiB) or request_id, not both".into(),
            ));
        }
    };
    Ok(no_store(Json(explained.0).into_response()))
}
