//! `/admin/users`: users of the built-in store: the list (search `q`), creating one with a
//! password, and a user's page: claims and role, disable / enable, a new password, ending
//! every session and grant, deletion, and the user's sessions and grants.

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use valet_protocol::user::{Role, UserClaims};

use super::{
    Console, Fields, form_errors, next_url, paged, param, query, see_other, seg, with_times,
};
use crate::admin::{AdminError, NewUser, UserChanges, UserView, etag};
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/admin/users", get(list).post(create))
        .route("/admin/users/{name}", get(show).post(update))
        .route("/admin/users/{name}/disable", post(disable))
        .route("/admin/users/{name}/enable", post(enable))
        .route("/admin/users/{name}/password", post(password))
        .route("/admin/users/{name}/revoke", post(revoke))
        .route(
            "/admin/users/{name}/delete",
            get(confirm_delete).post(delete),
        )
}

pub fn href(username: &str) -> String {
    format!("/admin/users/{}", seg(username))
}

async fn list(c: Console, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.as_deref());
    list_page(&c, &q, json!({}), json!({}), StatusCode::OK).await
}

async fn list_page(
    c: &Console,
    q: &[(String, String)],
    v: Value,
    errors: Value,
    status: StatusCode,
) -> Response {
    let mut users = match c.admin().users().await {
        Ok(u) => u,
        Err(e) => return c.fail(e),
    };
    let text = param(q, "q").unwrap_or("");
    if !text.is_empty() {
        let t = text.to_lowercase();
        users.retain(|u| {
            u.username.to_lowercase().contains(&t)
                || [&u.claims.name, &u.claims.email]
                    .iter()
                    .any(|c| c.as_deref().is_some_and(|c| c.to_lowercase().contains(&t)))
        });
    }
    users.sort_by_key(|u| (u.username.to_lowercase(), u.username.clone()));
    let (users, after) = paged(users, |u| u.username.clone(), q);
    let rows: Vec<Value> = users
        .iter()
        .map(|u| {
            let mut v = with_times(UserView::from(u));
            v["href"] = json!(href(&u.username));
            v
        })
        .collect();
    c.render_status(
        status,
        "admin/users.html",
        "users",
        param(q, "done"),
        json!({
            "users": rows, "q": text, "v": v, "errors": errors,
            "next": next_url("/admin/users", q, after),
        }),
    )
}

async fn create(c: Console, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let new = NewUser {
        username: f.text("username"),
        password: f.get("password").unwrap_or("").to_owned(),
        claims: UserClaims {
            name: f.opt("name"),
            email: f.opt("email"),
            email_verified: f.on("email_verified"),
            ..Default::default()
        },
    };
    match admin.create_user(new, c.now).await {
        Ok(u) => see_other(&format!("{}?done=user.created", href(&u.username))),
        Err(e) => match form_errors(e) {
            Ok(errors) => list_page(&c, &[], f.entered(), errors, StatusCode::BAD_REQUEST).await,
            Err(e) => c.fail(e),
        },
    }
}

async fn show(c: Console, Path(name): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.as_deref());
    user_page(
        &c,
        &name,
        param(&q, "done"),
        None,
        json!({}),
        StatusCode::OK,
    )
    .await
}

/// A user's page; `v` the edit form's values when shown again after a broken rule.
async fn user_page(
    c: &Console,
    name: &str,
    done: Option<&str>,
    v: Option<Value>,
    errors: Value,
    status: StatusCode,
) -> Response {
    let admin = c.admin();
    let u = match admin.user(name).await {
        Ok(u) => u,
        Err(e) => return c.fail(e),
    };
    let view = UserView::from(&u);
    let (sessions, grants) = match (
        admin.sessions(name, c.now).await,
        admin.grants(Some(name), None, None, 100, c.now).await,
    ) {
        (Ok(s), Ok(g)) => (s, g),
        (Err(e), _) | (_, Err(e)) => return c.fail(e),
    };
    let v = v.unwrap_or_else(|| {
        json!({
            "username": u.username,
            "name": u.claims.name,
            "given_name": u.claims.given_name,
            "family_name": u.claims.family_name,
            "email": u.claims.email,
            "email_verified": u.claims.email_verified,
            "role": u.role.as_str(),
            "etag": etag(&view),
        })
    });
    c.render_status(
        status,
        "admin/user.html",
        "users",
        done,
        json!({
            "user": with_times(&view),
            "href": href(name),
            "v": v,
            "errors": errors,
            "roles": ["none", "viewer", "admin"],
            "sessions": sessions.iter().map(with_times).collect::<Vec<_>>(),
            "grants": grants.iter().map(super::grants::grant_view).collect::<Vec<_>>(),
            "myself": name == c.browser.user.username,
        }),
    )
}

async fn update(c: Console, Path(name): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let result = match Role::parse(&f.text("role")) {
        None => Err(AdminError::field("role", "choose none, viewer or admin")),
        Some(role) => {
            let ch = UserChanges {
                username: Some(f.text("username")),
                name: Some(f.text("name")),
                given_name: Some(f.text("given_name")),
                family_name: Some(f.text("family_name")),
                email: Some(f.text("email")),
                email_verified: Some(f.on("email_verified")),
                role: Some(role),
                disabled: None,
            };
            admin
                .update_user(&name, ch, f.opt("etag").as_deref(), c.now)
                .await
        }
    };
    match result {
        Ok(u) => see_other(&format!("{}?done=user.updated", href(&u.username))),
        Err(e) => match form_errors(e) {
            Ok(errors) => {
                let mut v = f.entered();
                v["email_verified"] = json!(f.on("email_verified"));
                user_page(&c, &name, None, Some(v), errors, StatusCode::BAD_REQUEST).await
            }
            Err(e) => c.fail(e),
        },
    }
}

/// The end of a simple action: its page with `done`, or the error on it.
async fn finish(c: &Console, name: &str, result: Result<(), AdminError>, done: &str) -> Response {
    match result {
        Ok(()) => see_other(&format!("{}?done={done}", href(name))),
        Err(e) => match form_errors(e) {
            Ok(errors) => user_page(c, name, None, None, errors, StatusCode::BAD_REQUEST).await,
            Err(e) => c.fail(e),
        },
    }
}

async fn disable(c: Console, Path(name): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let r = admin.set_disabled(&name, true, c.now).await.map(|_| ());
    finish(&c, &name, r, "user.disabled").await
}

async fn enable(c: Console, Path(name): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let r = admin.set_disabled(&name, false, c.now).await.map(|_| ());
    finish(&c, &name, r, "user.enabled").await
}

async fn password(c: Console, Path(name): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let r = admin
        .set_password(&name, f.get("password").unwrap_or(""), c.now)
        .await
        .map(|_| ());
    finish(&c, &name, r, "user.password").await
}

async fn revoke(c: Console, Path(name): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let r = admin.revoke_user(&name, c.now).await.map(|_| ());
    finish(&c, &name, r, "user.revoked").await
}

async fn confirm_delete(c: Console, Path(name): Path<String>) -> Response {
    if let Err(e) = c.admin().user(&name).await {
        return c.fail(e);
    }
    c.render(
        "admin/confirm.html",
        "users",
        None,
        json!({
            "title": format!("Delete the user {name}?"),
            "message": "Every session, grant and refresh token of the user ends at once, and \
                        their access tokens read inactive. This cannot be undone.",
            "action": format!("{}/delete", href(&name)),
            "button": "Delete the user",
            "cancel": href(&name),
        }),
    )
}

async fn delete(c: Console, Path(name): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    match admin.delete_user(&name, c.now).await {
        Ok(()) => see_other("/admin/users?done=user.deleted"),
        Err(e) => c.fail(e),
    }
}
