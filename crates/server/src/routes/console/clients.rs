//! `/admin/applications`: the list (search `q` in the client_id and name), registering
//! one (the profile chosen, its defaults explained), and an application's page (every
//! field, shown by `clients_edit.rs`'s forms).

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use valet_protocol::application::{Application, GrantType, Origin, Profile};
use valet_protocol::opaque_token::AccessTokenFormat;

use super::{
    Console, Fields, form_errors, next_url, paged, param, query, see_other, seg, with_times,
};
use crate::admin::{AdminError, NewClient, OIDC_SCOPES, WithSecret, etag};
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/admin/applications", get(list).post(create))
        .route("/admin/applications/new", get(new))
        .route("/admin/registration-tokens", post(registration_token))
        .route(
            "/admin/applications/{id}",
            get(show).post(super::clients_edit::update),
        )
}

const PROFILES: &[(Profile, &str)] = &[
    (
        Profile::Web,
        "A server-side web application: it keeps a secret (shown once, after creation).",
    ),
    (
        Profile::Spa,
        "A single-page application in the browser: public (no secret), PKCE required.",
    ),
    (
        Profile::Native,
        "A mobile or desktop application: public, PKCE required, loopback or custom-scheme redirects (RFC 8252).",
    ),
    (
        Profile::Service,
        "A backend calling APIs as itself (client_credentials): a secret, no users, no redirect URI.",
    ),
    (
        Profile::Device,
        "A TV, a CLI or another device without a browser (RFC 8628): public, no redirect URI.",
    ),
];

/// Every profile with what it sets by default, for the create form.
fn profiles() -> Vec<Value> {
    PROFILES
        .iter()
        .map(|(p, what)| {
            let scopes = if *p == Profile::Service {
                "none (name the API scopes it may ask for)".to_owned()
            } else {
                OIDC_SCOPES.join(" ")
            };
            json!({
                "name": p.as_str(),
                "what": what,
                "grants": p.default_grant_types().iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", "),
                "auth": p.default_auth_method().as_str(),
                "scopes": scopes,
                "redirect": p.needs_redirect_uri(),
            })
        })
        .collect()
}

pub const GRANT_TYPES: &[GrantType] = &[
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::ClientCredentials,
    GrantType::DeviceCode,
    GrantType::Password,
    GrantType::Implicit,
];

async fn list(c: Console, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.as_deref());
    let origin = param(&q, "origin").and_then(Origin::parse);
    let mut apps = match c.admin().list_by_origin(origin).await {
        Ok(a) => a,
        Err(e) => return c.fail(e),
    };
    let text = param(&q, "q").unwrap_or("");
    if !text.is_empty() {
        let t = text.to_lowercase();
        apps.retain(|a| {
            a.client_id.to_lowercase().contains(&t) || a.name.to_lowercase().contains(&t)
        });
    }
    apps.sort_by_key(|a| (a.name.to_lowercase(), a.client_id.clone()));
    let (apps, after) = paged(apps, |a| a.client_id.clone(), &q);
    let rows: Vec<Value> = apps
        .iter()
        .map(|a| {
            json!({
                "href": format!("/admin/applications/{}", seg(&a.client_id)),
                "client_id": a.client_id,
                "name": a.name,
                "profile": a.profile.as_str(),
                "origin": a.registration.origin.as_str(),
                "redirects": a.redirect_uris.len(),
                "trusted": a.trusted,
            })
        })
        .collect();
    c.render(
        "admin/clients.html",
        "clients",
        param(&q, "done"),
        json!({
            "apps": rows, "q": text, "origin": origin.map(Origin::as_str),
            "next": next_url("/admin/applications", &q, after),
        }),
    )
}

async fn new(c: Console) -> Response {
    new_form(&c, json!({ "profile": "web" }), json!({}), StatusCode::OK)
}

fn new_form(c: &Console, v: Value, errors: Value, status: StatusCode) -> Response {
    c.render_status(
        status,
        "admin/client_new.html",
        "clients",
        None,
        json!({ "v": v, "errors": errors, "profiles": profiles() }),
    )
}

/// `POST /admin/applications`: registers one. A confidential application's secret is
/// shown once, on this answer (never in a URL); a public one goes to its page.
async fn create(c: Console, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let profile = match f.text("profile").parse::<Profile>() {
        Ok(p) => p,
        Err(m) => {
            return new_form(
                &c,
                f.entered(),
                json!({ "profile": m }),
                StatusCode::BAD_REQUEST,
            );
        }
    };
    let scopes = f.words("scopes");
    let new = NewClient {
        name: f.text("name"),
        profile: Some(profile),
        redirect_uris: f.lines("redirect_uris"),
        scopes: (!scopes.is_empty()).then_some(scopes),
        trusted: f.on("trusted"),
        description: f.opt("description"),
        website: f.opt("website"),
        ..Default::default()
    };
    match admin.create_client(new, c.now).await {
        Ok(created) if created.client_secret.is_some() => secret_page(&c, &created, true),
        Ok(created) => see_other(&format!(
            "/admin/applications/{}?done=client.created",
            seg(&created.app.client_id)
        )),
        Err(e) => match form_errors(e) {
            Ok(errors) => new_form(&c, f.entered(), errors, StatusCode::BAD_REQUEST),
            Err(e) => c.fail(e),
        },
    }
}

/// `POST /admin/registration-tokens`: an initial access token for `POST /oauth2/register`
/// (RFC 7591 §3), as `valet registration token create`; shown once, on this answer.
async fn registration_token(c: Console, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let number = |name: &str| -> Result<Option<i64>, AdminError> {
        match f.opt(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| AdminError::field(name, "a whole number")),
        }
    };
    let result = match (number("expires_in"), number("uses")) {
        (Ok(ttl), Ok(uses)) => {
            let uses = uses.map(|u| u32::try_from(u.max(0)).unwrap_or(u32::MAX));
            admin.create_initial_access_token(ttl, uses, c.now).await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(token) => c.render(
            "admin/token.html",
            "clients",
            None,
            json!({ "token": token.expose(), "uses": f.opt("uses") }),
        ),
        Err(e) => c.fail(e),
    }
}

/// The page that shows a new secret, once (`no-store`, as every page).
pub fn secret_page(c: &Console, created: &WithSecret, new: bool) -> Response {
    c.render(
        "admin/secret.html",
        "clients",
        None,
        json!({
            "new": new,
            "client_id": created.app.client_id,
            "name": created.app.name,
            "secret": created.client_secret.as_ref().map(|s| s.expose()),
            "href": format!("/admin/applications/{}", seg(&created.app.client_id)),
        }),
    )
}

async fn show(c: Console, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.as_deref());
    match c.admin().get(&id).await {
        Ok(rec) => client_page(
            &c,
            &rec.app,
            values(&rec.app),
            json!({}),
            param(&q, "done"),
            StatusCode::OK,
        ),
        Err(e) => c.fail(e),
    }
}

/// The edit form's values from a registration.
pub fn values(app: &Application) -> Value {
    json!({
        "name": app.name,
        "scopes": app.scopes.join(" "),
        "grant_types": app.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "trusted": app.trusted,
        "description": app.description,
        "website": app.website,
        "logo_uri": app.logo_uri,
        "policy_uri": app.policy_uri,
        "service_subject": app.service_subject,
        "post_logout_redirect_uris": app.post_logout_redirect_uris.join("\n"),
        "cors_origins": app.cors_origins.join("\n"),
        "allow_plain_pkce": app.allow_plain_pkce,
        "require_pkce": app.require_pkce,
        "access_token_format": app.access_token_format.as_str(),
        "token_endpoint_auth_method": app.token_endpoint_auth_method.as_str(),
        "etag": etag(app),
    })
}

/// An application's page: its facts, the edit form (`v`, `errors`), redirect URIs, the
/// secret, its grants and the danger zone.
pub fn client_page(
    c: &Console,
    app: &Application,
    v: Value,
    errors: Value,
    done: Option<&str>,
    status: StatusCode,
) -> Response {
    let href = format!("/admin/applications/{}", seg(&app.client_id));
    let redirects: Vec<Value> = app
        .redirect_uris
        .iter()
        .map(|u| json!({ "uri": u }))
        .collect();
    c.render_status(
        status,
        "admin/client.html",
        "clients",
        done,
        json!({
            "app": with_times(app),
            "confidential": app.is_confidential(),
            "href": href,
            "grants_href": format!("/admin/grants?client={}", seg(&app.client_id)),
            "redirects": redirects,
            "self_registered": app.registration.is_self_registered(),
            "v": v,
            "errors": errors,
            "grant_types": GRANT_TYPES.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "formats": [AccessTokenFormat::Jwt.as_str(), AccessTokenFormat::Opaque.as_str()],
            "auth_methods": ["client_secret_basic", "client_secret_post", "none"],
        }),
    )
}
