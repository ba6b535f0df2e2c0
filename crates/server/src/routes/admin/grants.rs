//! `/admin/api/grants…`: every live grant, by user or application.

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};

use super::openapi::ErrorBody;
use super::{AdminCaller, ListQuery, page};
use crate::admin::GrantView;
use crate::error::ApiError;
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/grants", get(list))
        .route("/grants/{grant_id}", delete(revoke))
}

/// `GET /admin/api/grants[?username=U][&client_id=C][&limit=N][&cursor=GRANT_ID]`.
#[utoipa::path(
    get,
    path = "/admin/api/grants",
    tag = "grants",
    summary = "List live grants",
    params(("limit" = Option<u32>, Query, description = "At most this many (1–1000, default 100)"), ("cursor" = Option<String>, Query, description = "From the `Link: rel=next` of the previous page"), ("username" = Option<String>, Query), ("client_id" = Option<String>, Query)),
    responses((status = 200, description = "Live grants, newest first", body = Vec<GrantView>), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list(caller: AdminCaller, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = ListQuery::parse(raw.as_deref())?;
    let items = caller
        .admin()
        .grants(
            q.get("username"),
            q.get("client_id"),
            q.get("cursor"),
            q.limit,
            caller.now,
        )
        .await?;
    let next = items.last().map(|g| g.grant_id.clone());
    Ok(page("/grants", &q, items, next))
}

/// `DELETE /admin/api/grants/{grant_id}`: the grant and every token issued from it end.
#[utoipa::path(
    delete,
    path = "/admin/api/grants/{grant_id}",
    tag = "grants",
    summary = "Revoke a grant",
    params(("grant_id" = String, Path)),
    responses((status = 204, description = "Revoked with every token issued from it"), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn revoke(caller: AdminCaller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.change()?.revoke_grant(&id, caller.now).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
