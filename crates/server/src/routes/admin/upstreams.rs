//! `/admin/api/upstreams…`: upstream identity providers (issue 18). The configuration
//! file's are listed (`"source": "file"`) and changed only there; the database's are
//! added, changed and removed here. A client secret goes in and never comes out.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::openapi::ErrorBody;
use super::{AdminCaller, ListQuery, body, page, tagged, window};
use crate::admin::{NewUpstream, UpstreamChanges, UpstreamView};
use crate::error::ApiError;
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/upstreams", get(list).post(create))
        .route("/upstreams/{id}", get(show).patch(update).delete(remove))
}

#[utoipa::path(
    get,
    path = "/admin/api/upstreams",
    tag = "upstreams",
    summary = "List upstream identity providers",
    params(("limit" = Option<u32>, Query, description = "At most this many (1–1000, default 100)"), ("cursor" = Option<String>, Query, description = "From the `Link: rel=next` of the previous page")),
    responses((status = 200, description = "Providers, the file's first", body = Vec<UpstreamView>), (status = 401, description = "No valid admin token or session", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list(caller: AdminCaller, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = ListQuery::parse(raw.as_deref())?;
    let all = caller.admin().upstreams().await?;
    let (items, next) = window(all, |u| u.id.clone(), &q);
    Ok(page("/upstreams", &q, items, next))
}

/// `POST /admin/api/upstreams`: the same as `valet upstream create`.
#[utoipa::path(
    post,
    path = "/admin/api/upstreams",
    tag = "upstreams",
    summary = "Add an upstream identity provider",
    request_body = NewUpstream,
    responses((status = 201, description = "Added", body = UpstreamView), (status = 409, description = "The id is taken (here, in the file, or by a user store)", body = ErrorBody), (status = 400, description = "A value breaks a rule", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn create(
    caller: AdminCaller,
    b: Result<Json<NewUpstream>, JsonRejection>,
) -> Result<Response, ApiError> {
    let created = caller
        .change()?
        .create_upstream(body(b)?, caller.now)
        .await?;
    Ok((StatusCode::CREATED, tagged(&created)).into_response())
}

#[utoipa::path(
    get,
    path = "/admin/api/upstreams/{id}",
    tag = "upstreams",
    summary = "Show an upstream identity provider",
    params(("id" = String, Path)),
    responses((status = 200, description = "The provider", body = UpstreamView), (status = 404, description = "No such provider", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn show(caller: AdminCaller, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(tagged(&caller.admin().upstream(&id).await?))
}

#[utoipa::path(
    patch,
    path = "/admin/api/upstreams/{id}",
    tag = "upstreams",
    summary = "Change an upstream identity provider added here",
    params(("id" = String, Path)),
    request_body = UpstreamChanges,
    responses((status = 200, description = "The provider as changed", body = UpstreamView), (status = 404, description = "No such provider", body = ErrorBody), (status = 400, description = "A value breaks a rule, or the provider is the file's", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn update(
    caller: AdminCaller,
    Path(id): Path<String>,
    b: Result<Json<UpstreamChanges>, JsonRejection>,
) -> Result<Response, ApiError> {
    let changed = caller
        .change()?
        .update_upstream(&id, body(b)?, caller.now)
        .await?;
    Ok(tagged(&changed))
}

#[utoipa::path(
    delete,
    path = "/admin/api/upstreams/{id}",
    tag = "upstreams",
    summary = "Remove an upstream identity provider added here",
    params(("id" = String, Path)),
    responses((status = 204, description = "Removed (its users stay)"), (status = 404, description = "No such provider", body = ErrorBody), (status = 400, description = "The provider is the file's", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn remove(caller: AdminCaller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.change()?.delete_upstream(&id, caller.now).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
