//! `/admin/apis`: APIs (RFC 8707 audiences) and their scopes: the list, registering one,
//! adding and removing a scope (refused while applications may request it, unless forced:
//! see `admin/apis.rs`), and deleting one.

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use valet_protocol::audience::{ApiScope, ExchangeRule};
use valet_protocol::opaque_token::AccessTokenFormat;

use super::{Console, Fields, form_errors, param, query, see_other, seg, with_times};
use crate::admin::{AdminError, ApiChanges, ApiView, NewApi, etag};
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/admin/apis", get(list).post(create))
        .route("/admin/apis/{aud}", get(show).post(update))
        .route("/admin/apis/{aud}/scopes", post(add_scope))
        .route("/admin/apis/{aud}/scopes/remove", post(remove_scope))
        .route("/admin/apis/{aud}/delete", get(confirm_delete).post(delete))
}

fn href(aud: &str) -> String {
    format!("/admin/apis/{}", seg(aud))
}

/// `name=description` lines as scopes.
fn scopes(f: &Fields, name: &str) -> Result<Vec<ApiScope>, AdminError> {
    f.lines(name)
        .into_iter()
        .map(|l| match l.split_once('=') {
            Some((n, d)) if !n.trim().is_empty() => Ok(ApiScope {
                name: n.trim().to_owned(),
                description: d.trim().to_owned(),
            }),
            _ => Err(AdminError::field(
                name,
                format!("`{l}`: write each scope as name=description"),
            )),
        })
        .collect()
}

async fn list(c: Console, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.as_deref());
    list_page(&c, param(&q, "done"), json!({}), json!({}), StatusCode::OK).await
}

async fn list_page(
    c: &Console,
    done: Option<&str>,
    v: Value,
    errors: Value,
    status: StatusCode,
) -> Response {
    let apis = match c.admin().apis().await {
        Ok(a) => a,
        Err(e) => return c.fail(e),
    };
    let rows: Vec<Value> = apis
        .into_iter()
        .map(|r| {
            let href = href(&r.api.audience);
            let mut v = with_times(ApiView::from(r));
            v["href"] = json!(href);
            v
        })
        .collect();
    c.render_status(
        status,
        "admin/apis.html",
        "apis",
        done,
        json!({ "apis": rows, "v": v, "errors": errors }),
    )
}

async fn create(c: Console, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let new = scopes(&f, "scopes").and_then(|scopes| {
        Ok(NewApi {
            name: f.opt("name"),
            audience: f.text("audience"),
            scopes,
            access_token_format: f
                .text("access_token_format")
                .parse::<AccessTokenFormat>()
                .map_err(|m| AdminError::field("access_token_format", m))?,
            introspectors: f.words("introspectors"),
            token_exchange: Vec::new(),
        })
    });
    let result = match new {
        Ok(new) => admin.create_api(new, c.now).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => see_other(&format!("{}?done=api.created", href(&r.api.audience))),
        Err(e) => match form_errors(e) {
            Ok(errors) => list_page(&c, None, f.entered(), errors, StatusCode::BAD_REQUEST).await,
            Err(e) => c.fail(e),
        },
    }
}

async fn show(c: Console, Path(aud): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.as_deref());
    api_page(
        &c,
        &aud,
        param(&q, "done"),
        json!({}),
        json!({}),
        StatusCode::OK,
    )
    .await
}

async fn api_page(
    c: &Console,
    aud: &str,
    done: Option<&str>,
    v: Value,
    errors: Value,
    status: StatusCode,
) -> Response {
    let api = match c.admin().api(aud).await {
        Ok(a) => a,
        Err(e) => return c.fail(e),
    };
    let view = ApiView::from(api);
    let tag = etag(&view);
    c.render_status(
        status,
        "admin/api.html",
        "apis",
        done,
        json!({
            "etag": tag,
            "api": with_times(view),
            "href": href(aud),
            "v": v,
            "errors": errors,
        }),
    )
}

/// `POST /admin/apis/{aud}`: its name, token format, introspectors and the scopes'
/// descriptions (`description.NAME`); names stay (remove a scope and add the new one).
async fn update(c: Console, Path(aud): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let descriptions = f
        .pairs()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("description.")?.to_owned(),
                v.trim().to_owned(),
            ))
        })
        .collect();
    let parsed = f
        .text("access_token_format")
        .parse::<AccessTokenFormat>()
        .map_err(|m| AdminError::field("access_token_format", m))
        .and_then(|format| {
            let rules = f.get("token_exchange").map(exchange_rules).transpose()?;
            Ok((format, rules))
        });
    let result = match parsed {
        Err(e) => Err(e),
        Ok((format, token_exchange)) => {
            let ch = ApiChanges {
                name: Some(f.text("name")),
                access_token_format: Some(format),
                introspectors: Some(f.words("introspectors")),
                token_exchange,
                scope_descriptions: Some(descriptions),
            };
            admin
                .update_api(&aud, ch, f.opt("etag").as_deref(), c.now)
                .await
                .map(|_| ())
        }
    };
    finish(&c, &aud, &f, result, "api.updated").await
}

/// The token exchange field: `CLIENT_ID` or `CLIENT_ID=SCOPE,SCOPE`, separated by spaces
/// or lines.
fn exchange_rules(text: &str) -> Result<Vec<ExchangeRule>, AdminError> {
    text.split_whitespace()
        .map(|r| ExchangeRule::parse(r).map_err(|m| AdminError::field("token_exchange", m)))
        .collect()
}

async fn add_scope(c: Console, Path(aud): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let scope = ApiScope {
        name: f.text("name"),
        description: f.text("description"),
    };
    let result = if scope.name.is_empty() {
        Err(AdminError::field("name", "enter the scope's name"))
    } else {
        admin.add_api_scope(&aud, scope, c.now).await
    };
    finish(&c, &aud, &f, result.map(|_| ()), "api.scope_added").await
}

async fn remove_scope(c: Console, Path(aud): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let result = admin
        .remove_api_scope(&aud, &f.text("name"), f.on("force"), c.now)
        .await;
    finish(&c, &aud, &f, result.map(|_| ()), "api.scope_removed").await
}

async fn finish(
    c: &Console,
    aud: &str,
    f: &Fields,
    result: Result<(), AdminError>,
    done: &str,
) -> Response {
    match result {
        Ok(()) => see_other(&format!("{}?done={done}", href(aud))),
        Err(e) => match form_errors(e) {
            Ok(errors) => {
                api_page(c, aud, None, f.entered(), errors, StatusCode::BAD_REQUEST).await
            }
            Err(e) => c.fail(e),
        },
    }
}

async fn confirm_delete(c: Console, Path(aud): Path<String>) -> Response {
    if let Err(e) = c.admin().api(&aud).await {
        return c.fail(e);
    }
    c.render(
        "admin/confirm.html",
        "apis",
        None,
        json!({
            "title": format!("Delete the API {aud}?"),
            "message": "Its scopes stop existing: applications can no longer ask for them, and \
                        tokens for this audience are no longer issued. Tokens already issued \
                        keep their scopes until they expire. This cannot be undone.",
            "action": format!("{}/delete", href(&aud)),
            "button": "Delete the API",
            "cancel": href(&aud),
        }),
    )
}

async fn delete(c: Console, Path(aud): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    match admin.delete_api(&aud, c.now).await {
        Ok(()) => see_other("/admin/apis?done=api.deleted"),
        Err(e) => c.fail(e),
    }
}
