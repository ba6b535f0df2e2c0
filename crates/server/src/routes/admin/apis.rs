//! `/admin/api/apis…`: APIs (resource servers) and their scopes. An audience is a URI:
//! percent-encode it in the path (`/admin/api/apis/https%3A%2F%2Fapi.example`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use valet_protocol::audience::ApiScope;

use super::openapi::ErrorBody;
use super::{AdminCaller, ListQuery, body, if_match, page, tagged, window};
use crate::admin::{ApiChanges, ApiView, NewApi};
use crate::error::ApiError;
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/apis", get(list).post(create))
        .route("/apis/{audience}", get(show).patch(update).delete(remove))
        .route("/apis/{audience}/scopes", post(add_scope))
        .route("/apis/{audience}/scopes/{name}", delete(remove_scope))
}

#[utoipa::path(
    get,
    path = "/admin/api/apis",
    tag = "apis",
    summary = "List APIs",
    params(("limit" = Option<u32>, Query, description = "At most this many (1–1000, default 100)"), ("cursor" = Option<String>, Query, description = "From the `Link: rel=next` of the previous page")),
    responses((status = 200, description = "APIs", body = Vec<ApiView>), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list(caller: AdminCaller, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = ListQuery::parse(raw.as_deref())?;
    let apis: Vec<ApiView> = caller
        .admin()
        .apis()
        .await?
        .into_iter()
        .map(ApiView::from)
        .collect();
    let (items, next) = window(apis, |a| a.audience.clone(), &q);
    Ok(page("/apis", &q, items, next))
}

/// `POST /admin/api/apis`: the same as `valet api create`.
#[utoipa::path(
    post,
    path = "/admin/api/apis",
    tag = "apis",
    summary = "Register an API",
    request_body = NewApi,
    responses((status = 201, description = "Registered", body = ApiView), (status = 409, description = "Audience or a scope taken", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn create(
    caller: AdminCaller,
    b: Result<Json<NewApi>, JsonRejection>,
) -> Result<Response, ApiError> {
    let created = caller.change()?.create_api(body(b)?, caller.now).await?;
    Ok((StatusCode::CREATED, tagged(&ApiView::from(created))).into_response())
}

#[utoipa::path(
    get,
    path = "/admin/api/apis/{audience}",
    tag = "apis",
    summary = "Show an API",
    params(("audience" = String, Path, description = "Percent-encoded")),
    responses((status = 200, description = "The API, with its `ETag`", body = ApiView), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn show(caller: AdminCaller, Path(aud): Path<String>) -> Result<Response, ApiError> {
    Ok(tagged(&ApiView::from(caller.admin().api(&aud).await?)))
}

#[utoipa::path(
    patch,
    path = "/admin/api/apis/{audience}",
    tag = "apis",
    summary = "Change an API",
    params(("audience" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = ApiChanges,
    responses((status = 200, description = "The API as changed", body = ApiView), (status = 404, description = "No such record", body = ErrorBody), (status = 412, description = "Changed since the `If-Match` version", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn update(
    caller: AdminCaller,
    Path(aud): Path<String>,
    headers: HeaderMap,
    b: Result<Json<ApiChanges>, JsonRejection>,
) -> Result<Response, ApiError> {
    let tag = if_match(&headers)?;
    let api = caller
        .change()?
        .update_api(&aud, body(b)?, tag.as_deref(), caller.now)
        .await?;
    Ok(tagged(&ApiView::from(api)))
}

#[utoipa::path(
    delete,
    path = "/admin/api/apis/{audience}",
    tag = "apis",
    summary = "Delete an API",
    params(("audience" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn remove(caller: AdminCaller, Path(aud): Path<String>) -> Result<Response, ApiError> {
    caller.change()?.delete_api(&aud, caller.now).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /admin/api/apis/{audience}/scopes` `{"name": …, "description": …}`.
#[utoipa::path(
    post,
    path = "/admin/api/apis/{audience}/scopes",
    tag = "apis",
    summary = "Add a scope",
    params(("audience" = String, Path)),
    request_body = ApiScope,
    responses((status = 200, description = "The API with the scope", body = ApiView), (status = 404, description = "No such record", body = ErrorBody), (status = 409, description = "Another API defines the scope", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn add_scope(
    caller: AdminCaller,
    Path(aud): Path<String>,
    b: Result<Json<ApiScope>, JsonRejection>,
) -> Result<Response, ApiError> {
    let api = caller
        .change()?
        .add_api_scope(&aud, body(b)?, caller.now)
        .await?;
    Ok(tagged(&ApiView::from(api)))
}

/// `DELETE /admin/api/apis/{audience}/scopes/{name}[?force=true]`: refused (409) while
/// applications may request the scope, unless `force` (which takes it from them too).
#[utoipa::path(
    delete,
    path = "/admin/api/apis/{audience}/scopes/{name}",
    tag = "apis",
    summary = "Remove a scope",
    params(("audience" = String, Path), ("name" = String, Path), ("force" = Option<bool>, Query, description = "Also take the scope from the applications that hold it")),
    responses((status = 200, description = "The API without the scope", body = ApiView), (status = 404, description = "No such record", body = ErrorBody), (status = 409, description = "Applications may still request it", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn remove_scope(
    caller: AdminCaller,
    Path((aud, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = ListQuery::parse(raw.as_deref())?;
    let force = match q.get("force") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::Field {
                field: "force".into(),
                message: "force is true or false".into(),
            });
        }
    };
    let api = caller
        .change()?
        .remove_api_scope(&aud, &name, force, caller.now)
        .await?;
    Ok(tagged(&ApiView::from(api)))
}
