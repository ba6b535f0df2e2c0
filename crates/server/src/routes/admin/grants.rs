//! `/admin/api/grants…`: every live grant, by user or application.

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};

use super::{AdminCaller, ListQuery, page};
use crate::error::ApiError;
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/grants", get(list))
        .route("/grants/{grant_id}", delete(revoke))
}

/// `GET /admin/api/grants[?username=U][&client_id=C][&limit=N][&cursor=GRANT_ID]`.
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
pub async fn revoke(caller: AdminCaller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.change()?.revoke_grant(&id, caller.now).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
