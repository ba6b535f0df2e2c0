//! The changes to one application: every field of `ClientChanges` (with the version the
//! form was shown at as `If-Match`, so two admins cannot overwrite each other), redirect
//! URIs added and removed, a new secret, its grants revoked, and its deletion.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use valet_protocol::application::{AuthMethod, GrantType};
use valet_protocol::opaque_token::AccessTokenFormat;

use super::clients::{client_page, secret_page, values};
use super::{Console, Fields, form_errors, see_other, seg};
use crate::admin::{AdminError, ClientChanges};
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/admin/applications/{id}/redirect-uris", post(redirects))
        .route("/admin/applications/{id}/secret", post(rotate_secret))
        .route(
            "/admin/applications/{id}/revoke-grants",
            post(revoke_grants),
        )
        .route("/admin/applications/{id}/registration", post(registration))
        .route(
            "/admin/applications/{id}/delete",
            get(confirm_delete).post(delete),
        )
}

fn page_of(id: &str, done: &str) -> String {
    format!("/admin/applications/{}?done={done}", seg(id))
}

/// The edit form as `ClientChanges`: every field it shows is set (a checkbox left off
/// is `false`, an empty text clears an optional field).
fn changes(f: &Fields) -> Result<ClientChanges, AdminError> {
    let grant_types = f
        .all("grant_types")
        .iter()
        .map(|g| g.parse::<GrantType>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| AdminError::field("grant_types", m))?;
    let format = f
        .text("access_token_format")
        .parse::<AccessTokenFormat>()
        .map_err(|m| AdminError::field("access_token_format", m))?;
    let method = f
        .text("token_endpoint_auth_method")
        .parse::<AuthMethod>()
        .map_err(|m| AdminError::field("token_endpoint_auth_method", m))?;
    Ok(ClientChanges {
        name: Some(f.text("name")),
        scopes: Some(f.words("scopes")),
        grant_types: Some(grant_types),
        trusted: Some(f.on("trusted")),
        description: Some(f.text("description")),
        website: Some(f.text("website")),
        logo_uri: Some(f.text("logo_uri")),
        policy_uri: Some(f.text("policy_uri")),
        service_subject: Some(f.text("service_subject")),
        post_logout_redirect_uris: Some(f.lines("post_logout_redirect_uris")),
        allow_plain_pkce: Some(f.on("allow_plain_pkce")),
        require_pkce: Some(f.on("require_pkce")),
        cors_origins: Some(f.lines("cors_origins")),
        access_token_format: Some(format),
        token_endpoint_auth_method: Some(method),
        ..Default::default()
    })
}

/// The form's values as entered, shaped as `values` shapes a registration's.
fn entered(f: &Fields) -> Value {
    let mut v = f.entered();
    if let Value::Object(m) = &mut v {
        m.insert("grant_types".into(), json!(f.all("grant_types")));
        for b in ["trusted", "allow_plain_pkce", "require_pkce"] {
            m.insert(b.into(), json!(f.on(b)));
        }
    }
    v
}

/// `POST /admin/applications/{id}`: the edit form.
pub async fn update(c: Console, Path(id): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let tag = f.opt("etag");
    let result = match changes(&f) {
        Ok(ch) => admin.update_client(&id, ch, tag.as_deref(), c.now).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => see_other(&page_of(&id, "client.updated")),
        Err(e) => again(&c, &id, &f, e).await,
    }
}

/// The application's page again with the form as entered and what was wrong.
async fn again(c: &Console, id: &str, f: &Fields, e: AdminError) -> Response {
    let errors = match form_errors(e) {
        Ok(errors) => errors,
        Err(e) => return c.fail(e),
    };
    match c.admin().get(id).await {
        Ok(rec) => {
            let mut v = entered(f);
            // A stale form is shown at the current version, so a second save can win.
            if let Value::Object(m) = &mut v {
                m.insert("etag".into(), json!(crate::admin::etag(&rec.app)));
            }
            // Another form than the settings (a redirect URI, the secret): the settings
            // as stored, and what that form entered.
            if f.get("name").is_none() {
                v = values(&rec.app);
                v["add"] = json!(f.text("add"));
            }
            client_page(c, &rec.app, v, errors, None, StatusCode::BAD_REQUEST)
        }
        Err(e) => c.fail(e),
    }
}

/// `POST …/redirect-uris`: `add` (a new URI) or `remove` (one of them).
async fn redirects(c: Console, Path(id): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let (ch, done) = match (f.opt("add"), f.opt("remove")) {
        (Some(u), None) => (
            ClientChanges {
                add_redirect_uris: Some(vec![u]),
                ..Default::default()
            },
            "client.redirect_added",
        ),
        (None, Some(u)) => (
            ClientChanges {
                remove_redirect_uris: Some(vec![u]),
                ..Default::default()
            },
            "client.redirect_removed",
        ),
        _ => {
            let e = AdminError::field("add_redirect_uris", "enter the redirect URI to add");
            return again(&c, &id, &f, e).await;
        }
    };
    match admin.update_client(&id, ch, None, c.now).await {
        Ok(_) => see_other(&page_of(&id, done)),
        Err(AdminError::Field { field, message }) => {
            // A rule about the list shows beside the add field.
            let field = if field == "redirect_uris" {
                "add_redirect_uris".into()
            } else {
                field
            };
            again(&c, &id, &f, AdminError::Field { field, message }).await
        }
        Err(e) => again(&c, &id, &f, e).await,
    }
}

/// `POST …/secret`: a new secret, shown once on this answer; the old one keeps working
/// for `grace` seconds when given.
async fn rotate_secret(c: Console, Path(id): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let grace = f.text("grace").parse::<i64>().ok().filter(|g| *g > 0);
    match admin.rotate_secret(&id, grace, c.now).await {
        Ok(rotated) => secret_page(&c, &rotated, false),
        Err(e) => again(&c, &id, &f, e).await,
    }
}

/// `POST …/registration`: an admin's word on a self-registered application: `verify`
/// (vouch for it), `quarantine` (unusable), `approve` (usable again).
async fn registration(c: Console, Path(id): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let result = match f.text("decision").as_str() {
        "verify" => admin.verify_client(&id, c.now).await,
        "quarantine" => admin.quarantine_client(&id, c.now).await,
        "approve" => {
            let keep = c.state.settings.registration.unused_ttl;
            admin.approve_client(&id, keep, c.now).await
        }
        _ => Err(AdminError::Invalid(
            "choose verify, quarantine or approve".into(),
        )),
    };
    match result {
        Ok(_) => see_other(&page_of(&id, "client.registration")),
        Err(e) => again(&c, &id, &f, e).await,
    }
}

async fn revoke_grants(c: Console, Path(id): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    match admin.revoke_grants(&id, c.now).await {
        Ok(_) => see_other(&page_of(&id, "client.grants_revoked")),
        Err(e) => c.fail(e),
    }
}

/// `GET …/delete`: what deleting means, and the button.
async fn confirm_delete(c: Console, Path(id): Path<String>) -> Response {
    let app = match c.admin().get(&id).await {
        Ok(r) => r.app,
        Err(e) => return c.fail(e),
    };
    c.render(
        "admin/confirm.html",
        "clients",
        None,
        json!({
            "title": format!("Delete {}?", app.name),
            "message": "The application can no longer sign anyone in or get tokens. This cannot be undone.",
            "action": format!("/admin/applications/{}/delete", seg(&id)),
            "button": "Delete the application",
            "cancel": format!("/admin/applications/{}", seg(&id)),
        }),
    )
}

async fn delete(c: Console, Path(id): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    match admin.delete_client(&id, c.now).await {
        Ok(()) => see_other("/admin/applications?done=client.deleted"),
        Err(e) => c.fail(e),
    }
}
