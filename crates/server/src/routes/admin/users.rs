//! `/admin/api/users…`: users of the built-in user store.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use valet_protocol::user::UserClaims;

use super::{AdminCaller, ListQuery, body, if_match, page, tagged, window};
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
}

/// `GET /admin/api/users[?q=TEXT]`: `q` matches the username, name or email.
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
pub struct NewUserBody {
    username: String,
    password: String,
    #[serde(flatten)]
    claims: UserClaims,
}

pub async fn create(
    caller: AdminCaller,
    b: Result<Json<NewUserBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let new = NewUser {
        username: b.username,
        password: b.password,
        claims: b.claims,
    };
    let u = caller.change()?.create_user(new, caller.now).await?;
    Ok((StatusCode::CREATED, tagged(&UserView::from(&u))).into_response())
}

pub async fn show(caller: AdminCaller, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(tagged(&UserView::from(&caller.admin().user(&name).await?)))
}

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
pub async fn remove(caller: AdminCaller, Path(name): Path<String>) -> Result<Response, ApiError> {
    caller.change()?.delete_user(&name, caller.now).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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

pub async fn disable(caller: AdminCaller, Path(name): Path<String>) -> Result<Response, ApiError> {
    let u = caller
        .change()?
        .set_disabled(&name, true, caller.now)
        .await?;
    Ok(tagged(&UserView::from(&u)))
}

pub async fn enable(caller: AdminCaller, Path(name): Path<String>) -> Result<Response, ApiError> {
    let u = caller
        .change()?
        .set_disabled(&name, false, caller.now)
        .await?;
    Ok(tagged(&UserView::from(&u)))
}

pub async fn sessions(caller: AdminCaller, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(caller.admin().sessions(&name, caller.now).await?).into_response())
}

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
pub async fn revoke(caller: AdminCaller, Path(name): Path<String>) -> Result<Response, ApiError> {
    let n = caller.change()?.revoke_user(&name, caller.now).await?;
    Ok(Json(serde_json::json!({ "revoked": n })).into_response())
}
