//! `/admin/api/clients…`: applications.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use valet_protocol::application::Origin;

use super::openapi::{ErrorBody, Revoked};
use super::{AdminCaller, ListQuery, body, if_match, page, tagged, window};
use crate::admin::{ClientChanges, NewClient};
use crate::admin::{GrantView, WithSecret};
use crate::error::ApiError;
use crate::state::Shared;
use valet_protocol::application::Application;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/clients", get(list).post(create))
        .route(
            "/clients/{client_id}",
            get(show).patch(update).delete(delete),
        )
        .route("/clients/{client_id}/secret", post(rotate_secret))
        .route("/clients/{client_id}/verify", post(verify))
        .route("/clients/{client_id}/approve", post(approve))
        .route("/clients/{client_id}/quarantine", post(quarantine))
        .route(
            "/clients/{client_id}/grants",
            get(grants).delete(revoke_grants),
        )
}

/// `GET /admin/api/clients[?origin=admin|dynamic|cimd][&q=TEXT][&limit=N][&cursor=ID]`:
/// `q` matches the client_id or the name (case-insensitive).
#[utoipa::path(
    get,
    path = "/admin/api/clients",
    tag = "clients",
    summary = "List applications",
    params(("limit" = Option<u32>, Query, description = "At most this many (1–1000, default 100)"), ("cursor" = Option<String>, Query, description = "From the `Link: rel=next` of the previous page"), ("origin" = Option<String>, Query, description = "admin, dynamic or cimd"), ("q" = Option<String>, Query, description = "Part of the client_id or name")),
    responses((status = 200, description = "Applications; `Link: rel=next` when more follow", body = Vec<Application>), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list(caller: AdminCaller, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = ListQuery::parse(raw.as_deref())?;
    let origin = match q.get("origin") {
        None => None,
        Some(o) => Some(Origin::parse(o).ok_or_else(|| ApiError::Field {
            field: "origin".into(),
            message: "origin must be admin, dynamic or cimd".into(),
        })?),
    };
    let mut apps = caller.admin().list_by_origin(origin).await?;
    if let Some(text) = q.get("q").map(str::to_lowercase) {
        apps.retain(|a| {
            a.client_id.to_lowercase().contains(&text) || a.name.to_lowercase().contains(&text)
        });
    }
    let (items, next) = window(apps, |a| a.client_id.clone(), &q);
    Ok(page("/clients", &q, items, next))
}

#[utoipa::path(
    post,
    path = "/admin/api/clients",
    tag = "clients",
    summary = "Register an application",
    request_body = NewClient,
    responses((status = 201, description = "Registered; the secret is shown once", body = WithSecret), (status = 409, description = "Conflict", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn create(
    caller: AdminCaller,
    b: Result<Json<NewClient>, JsonRejection>,
) -> Result<Response, ApiError> {
    let created = caller.change()?.create_client(body(b)?, caller.now).await?;
    Ok(crate::error::no_store(
        (StatusCode::CREATED, Json(created)).into_response(),
    ))
}

#[utoipa::path(
    get,
    path = "/admin/api/clients/{client_id}",
    tag = "clients",
    summary = "Show an application",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "The application, with its `ETag`", body = Application), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn show(caller: AdminCaller, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(tagged(&caller.admin().get(&id).await?.app))
}

/// `PATCH`: the fields given change (`add_redirect_uris` / `remove_redirect_uris` edit the
/// list in place); with `If-Match`, only if the application is still that version.
#[utoipa::path(
    patch,
    path = "/admin/api/clients/{client_id}",
    tag = "clients",
    summary = "Change an application",
    params(("client_id" = String, Path), ("If-Match" = Option<String>, Header, description = "The `ETag` the change was made against")),
    request_body = ClientChanges,
    responses((status = 200, description = "The application as changed", body = Application), (status = 404, description = "No such record", body = ErrorBody), (status = 412, description = "Changed since the `If-Match` version", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn update(
    caller: AdminCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    b: Result<Json<ClientChanges>, JsonRejection>,
) -> Result<Response, ApiError> {
    let tag = if_match(&headers)?;
    let app = caller
        .change()?
        .update_client(&id, body(b)?, tag.as_deref(), caller.now)
        .await?;
    Ok(tagged(&app))
}

#[utoipa::path(
    delete,
    path = "/admin/api/clients/{client_id}",
    tag = "clients",
    summary = "Delete an application",
    params(("client_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn delete(caller: AdminCaller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.change()?.delete_client(&id, caller.now).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct Rotate {
    /// Seconds the previous secret keeps working.
    grace_seconds: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/admin/api/clients/{client_id}/secret",
    tag = "clients",
    summary = "Rotate the client secret",
    params(("client_id" = String, Path)),
    request_body = Rotate,
    responses((status = 200, description = "The new secret, shown once", body = WithSecret), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn rotate_secret(
    caller: AdminCaller,
    Path(id): Path<String>,
    b: Option<Json<Rotate>>,
) -> Result<Response, ApiError> {
    let grace = b.map(|Json(r)| r).unwrap_or_default().grace_seconds;
    let rotated = caller
        .change()?
        .rotate_secret(&id, grace, caller.now)
        .await?;
    Ok(crate::error::no_store(Json(rotated).into_response()))
}

/// `POST /admin/api/clients/{id}/verify`: the same as `valet client verify` (issue 14): a
/// self-registered application's consent page stops saying it is not verified. A metadata
/// document client (an https client_id, percent-encoded in the path) gets a stored
/// override. Answers the stored application; 404 for an unknown client_id.
#[utoipa::path(
    post,
    path = "/admin/api/clients/{client_id}/verify",
    tag = "clients",
    summary = "Vouch for a self-registered application",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "Verified", body = Application), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn verify(caller: AdminCaller, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(caller.change()?.verify_client(&id, caller.now).await?).into_response())
}

/// `POST /admin/api/clients/{id}/approve`: the same as `valet client approve`: a
/// quarantined self-registered application may be used.
#[utoipa::path(
    post,
    path = "/admin/api/clients/{client_id}/approve",
    tag = "clients",
    summary = "Approve a quarantined application",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "Out of quarantine", body = Application), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn approve(caller: AdminCaller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let keep = caller.settings().registration.unused_ttl;
    let app = caller
        .change()?
        .approve_client(&id, keep, caller.now)
        .await?;
    Ok(Json(app).into_response())
}

/// `POST /admin/api/clients/{id}/quarantine`: the same as `valet client quarantine`.
#[utoipa::path(
    post,
    path = "/admin/api/clients/{client_id}/quarantine",
    tag = "clients",
    summary = "Quarantine a self-registered application",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "Quarantined", body = Application), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn quarantine(caller: AdminCaller, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(caller.change()?.quarantine_client(&id, caller.now).await?).into_response())
}

/// `GET /admin/api/clients/{id}/grants`: the application's live grants, newest first.
#[utoipa::path(
    get,
    path = "/admin/api/clients/{client_id}/grants",
    tag = "clients",
    summary = "List an application's grants",
    params(("client_id" = String, Path), ("limit" = Option<u32>, Query, description = "At most this many (1–1000, default 100)"), ("cursor" = Option<String>, Query, description = "From the `Link: rel=next` of the previous page")),
    responses((status = 200, description = "Live grants, newest first", body = Vec<GrantView>), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn grants(
    caller: AdminCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = ListQuery::parse(raw.as_deref())?;
    let admin = caller.admin();
    admin.get(&id).await?;
    let items = admin
        .grants(None, Some(&id), q.get("cursor"), q.limit, caller.now)
        .await?;
    let next = items.last().map(|g| g.grant_id.clone());
    Ok(page(&format!("/clients/{id}/grants"), &q, items, next))
}

/// `DELETE /admin/api/clients/{id}/grants`: every user's grant of the application is
/// revoked and every consent forgotten. Answers `{"revoked": N}`.
#[utoipa::path(
    delete,
    path = "/admin/api/clients/{client_id}/grants",
    tag = "clients",
    summary = "Revoke every grant of an application",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "`{\"revoked\": N}`", body = Revoked), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn revoke_grants(
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let n = caller.change()?.revoke_grants(&id, caller.now).await?;
    Ok(Json(serde_json::json!({ "revoked": n })).into_response())
}
