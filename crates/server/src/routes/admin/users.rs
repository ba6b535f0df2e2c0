//! `/admin/api/users…`: users of the built-in user store.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use valet_protocol::user::UserClaims;

use super::openapi::{ErrorBody, MfaReset, Revoked};
use super::{AdminCaller, ListQuery, body, if_match, page, tagged, window};
use crate::admin::{GrantView, SessionView};
use crate::admin::{NewUser, UserChanges, UserView};
use crate::error::ApiError;
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/{username}", get(show).patch(update).delete(remove))
        .route("/users/{username}/password", post(set_password))
        .route("/users/{username}/disable", post(disable))
        .route("/users/{username}/enable", post(enable))
        .route("/users/{username}/sessions", get(sessions))
        .route("/users/{username}/grants", get(grants).delete(revoke))
        .route("/users/{username}/mfa/reset", post(mfa_reset))
}

/// `GET /admin/api/users[?q=TEXT]`: `q` matches the username, name or email.
#[utoipa::path(
    get,
    path = "/admin/api/users",
    tag = "users",
    summary = "List users",
    params(("limit" = Option<u32>, Query, description = "At most this many (1–1000, default 100)"), ("cursor" = Option<String>, Query, description = "From the `Link: rel=next` of the previous page"), ("q" = Option<String>, Query, description = "Part of the username, name or email")),
    responses((status = 200, description = "Users", body = Vec<UserView>), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list(caller: AdminCaller, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = ListQuery::parse(raw.as_deref())?;
    let mut users: Vec<UserView> = caller
        .admin()
        .users()
        .await?
        .iter()
        .map(UserView::from)
        .collect();
    if let Some(text) = q.get("q").map(str::to_lowercase) {
        users.retain(|u| {
            [
                Some(&u.username),
                u.claims.name.as_ref(),
                u.claims.email.as_ref(),
            ]
            .into_iter()
            .flatten()
            .any(|f| f.to_lowercase().contains(&text))
        });
    }
    let (items, next) = window(users, |u| u.username.clone(), &q);
    Ok(page("/users", &q, items, next))
}

/// `POST /admin/api/users`: a password, never echoed; the policy of `valet user create`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewUserBody {
    username: String,
    /// Never echoed, never logged.
    password: String,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    phone_number: Option<String>,
    locale: Option<String>,
}

impl std::fmt::Debug for NewUserBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewUserBody({}, [redacted])", self.username)
    }
}

#[utoipa::path(
    post,
    path = "/admin/api/users",
    tag = "users",
    summary = "Create a user",
    request_body = NewUserBody,
    responses((status = 201, description = "Created", body = UserView), (status = 409, description = "Username taken", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn create(
    caller: AdminCaller,
    b: Result<Json<NewUserBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let new = NewUser {
        username: b.username,
        password: b.password,
        claims: UserClaims {
            name: b.name,
            given_name: b.given_name,
            family_name: b.family_name,
            email: b.email,
            email_verified: b.email_verified,
            phone_number: b.phone_number,
            locale: b.locale,
            ..Default::default()
        },
    };
    let u = caller.change()?.create_user(new, caller.now).await?;
    Ok((StatusCode::CREATED, tagged(&UserView::from(&u))).into_response())
}

#[utoipa::path(
    get,
    path = "/admin/api/users/{username}",
    tag = "users",
    summary = "Show a user",
    params(("username" = String, Path)),
    responses((status = 200, description = "The user, with its `ETag`", body = UserView), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn show(caller: AdminCaller, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(tagged(&UserView::from(&caller.admin().user(&name).await?)))
}

#[utoipa::path(
    patch,
    path = "/admin/api/users/{username}",
    tag = "users",
    summary = "Change a user (claims, role, disabled)",
    params(("username" = String, Path), ("If-Match" = Option<String>, Header)),
    request_body = UserChanges,
    responses((status = 200, description = "The user as changed", body = UserView), (status = 404, description = "No such record", body = ErrorBody), (status = 412, description = "Changed since the `If-Match` version", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn update(
    caller: AdminCaller,
    Path(name): Path<String>,
    headers: HeaderMap,
    b: Result<Json<UserChanges>, JsonRejection>,
) -> Result<Response, ApiError> {
    let tag = if_match(&headers)?;
    let u = caller
        .change()?
        .update_user(&name, body(b)?, tag.as_deref(), caller.now)
        .await?;
    Ok(tagged(&UserView::from(&u)))
}

/// Deleting a user ends everything they hold at once (sessions, grants, tokens).
#[utoipa::path(
    delete,
    path = "/admin/api/users/{username}",
    tag = "users",
    summary = "Delete a user",
    params(("username" = String, Path)),
    responses((status = 204, description = "Deleted; sessions, grants and tokens ended"), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn remove(caller: AdminCaller, Path(name): Path<String>) -> Result<Response, ApiError> {
    caller.change()?.delete_user(&name, caller.now).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct Password {
    password: String,
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// `POST /admin/api/users/{username}/password` `{"password": …}`: every session and grant
/// of the user ends.
#[utoipa::path(
    post,
    path = "/admin/api/users/{username}/password",
    tag = "users",
    summary = "Set a password",
    params(("username" = String, Path)),
    request_body = Password,
    responses((status = 200, description = "Set; sessions and grants ended", body = UserView), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn set_password(
    caller: AdminCaller,
    Path(name): Path<String>,
    b: Result<Json<Password>, JsonRejection>,
) -> Result<Response, ApiError> {
    let p = body(b)?;
    let u = caller
        .change()?
        .set_password(&name, &p.password, caller.now)
        .await?;
    Ok(tagged(&UserView::from(&u)))
}

#[utoipa::path(
    post,
    path = "/admin/api/users/{username}/disable",
    tag = "users",
    summary = "Disable a user",
    params(("username" = String, Path)),
    responses((status = 200, description = "Disabled; sessions, grants and tokens ended", body = UserView), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn disable(caller: AdminCaller, Path(name): Path<String>) -> Result<Response, ApiError> {
    let u = caller
        .change()?
        .set_disabled(&name, true, caller.now)
        .await?;
    Ok(tagged(&UserView::from(&u)))
}

#[utoipa::path(
    post,
    path = "/admin/api/users/{username}/enable",
    tag = "users",
    summary = "Enable a user",
    params(("username" = String, Path)),
    responses((status = 200, description = "Enabled", body = UserView), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn enable(caller: AdminCaller, Path(name): Path<String>) -> Result<Response, ApiError> {
    let u = caller
        .change()?
        .set_disabled(&name, false, caller.now)
        .await?;
    Ok(tagged(&UserView::from(&u)))
}

#[utoipa::path(
    get,
    path = "/admin/api/users/{username}/sessions",
    tag = "users",
    summary = "List a user's sessions",
    params(("username" = String, Path)),
    responses((status = 200, description = "Live sessions, newest first", body = Vec<SessionView>), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn sessions(caller: AdminCaller, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(caller.admin().sessions(&name, caller.now).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/admin/api/users/{username}/grants",
    tag = "users",
    summary = "List a user's grants",
    params(("username" = String, Path), ("limit" = Option<u32>, Query, description = "At most this many (1–1000, default 100)"), ("cursor" = Option<String>, Query, description = "From the `Link: rel=next` of the previous page")),
    responses((status = 200, description = "Live grants, newest first", body = Vec<GrantView>), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn grants(
    caller: AdminCaller,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = ListQuery::parse(raw.as_deref())?;
    let items = caller
        .admin()
        .grants(Some(&name), None, q.get("cursor"), q.limit, caller.now)
        .await?;
    let next = items.last().map(|g| g.grant_id.clone());
    Ok(page(&format!("/users/{name}/grants"), &q, items, next))
}

/// `DELETE /admin/api/users/{username}/grants`: signs the user out everywhere and revokes
/// every grant. Answers `{"revoked": N}`.
#[utoipa::path(
    delete,
    path = "/admin/api/users/{username}/grants",
    tag = "users",
    summary = "Revoke every session and grant of a user",
    params(("username" = String, Path)),
    responses((status = 200, description = "Signed out everywhere; `{\"revoked\": N}` grants", body = Revoked), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn revoke(caller: AdminCaller, Path(name): Path<String>) -> Result<Response, ApiError> {
    let n = caller.change()?.revoke_user(&name, caller.now).await?;
    Ok(Json(serde_json::json!({ "revoked": n })).into_response())
}

/// `POST /admin/api/users/{username}/mfa/reset`: removes the user's authenticator app and
/// recovery codes (the help desk's reset, audited). Answers `{"removed": true|false}`.
#[utoipa::path(
    post,
    path = "/admin/api/users/{username}/mfa/reset",
    tag = "users",
    summary = "Reset a user's second factors",
    params(("username" = String, Path)),
    responses((status = 200, description = "Removed; `{\"removed\": false}` if the user had none", body = MfaReset), (status = 404, description = "No such record", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn mfa_reset(
    caller: AdminCaller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let removed = caller.change()?.reset_mfa(&name, caller.now).await?;
    Ok(Json(serde_json::json!({ "removed": removed })).into_response())
}
