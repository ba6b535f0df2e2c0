//! `GET /admin/api/openapi.json`: the admin API as an OpenAPI 3.1 document, generated
//! from the handlers' `#[utoipa::path]` annotations and the types they take and answer,
//! so the document cannot drift from the code (a test reads every route of the router
//! back from it).

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error: an OAuth-style code and a sentence; `fields` names the field at fault.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub error_description: String,
    pub fields: Option<BTreeMap<String, String>>,
}

/// How many grants an operation revoked.
#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub revoked: u64,
}

/// Whether a reset removed second factors.
#[derive(Serialize, ToSchema)]
pub struct MfaReset {
    pub removed: bool,
}

/// One event of the audit trail.
#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    /// Unix time.
    pub at: i64,
    /// `cli:NAME`, `user:NAME`, `client:ID` or `anonymous`.
    pub actor: String,
    pub address: Option<String>,
    /// `area.verb`: `client.update`, `user.disable`, `signin.failed`, …
    pub action: String,
    /// `client:ID`, `user:NAME`, `api:AUDIENCE`, `key:KID`, `grant:ID`, `server`.
    pub target: String,
    /// Field → `{"from": …, "to": …}`; secrets only as `[hidden]`.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // The console's own calls: the session cookie, plus X-CSRF-Token for changes.
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("valet_session"))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Valet admin API",
        description = "Administration of applications, APIs, users, keys, grants and the \
            audit trail. Authorized by an access token with the `valet:admin` scope and \
            the audience `{issuer}/admin/api`, or by the browser session of a user whose \
            role is `viewer` (reads) or `admin` (changes). Lists are paginated with \
            `limit` and a `Link: <…>; rel=\"next\"` header; single records carry an \
            `ETag`, and `PATCH` with `If-Match` answers 412 when the record changed."
    ),
    paths(
        super::clients::list, super::clients::create, super::clients::show,
        super::clients::update, super::clients::delete, super::clients::rotate_secret,
        super::clients::verify, super::clients::approve, super::clients::quarantine,
        super::clients::grants, super::clients::revoke_grants,
        super::apis::list, super::apis::create, super::apis::show, super::apis::update,
        super::apis::remove, super::apis::add_scope, super::apis::remove_scope,
        super::users::list, super::users::create, super::users::show, super::users::update,
        super::users::remove, super::users::set_password, super::users::disable,
        super::users::enable, super::users::sessions, super::users::grants,
        super::users::revoke, super::users::mfa_reset,
        super::keys::list, super::keys::rotate, super::keys::revoke,
        super::grants::list, super::grants::revoke,
        super::audit::list,
        super::explain::explain,
        super::upstreams::list, super::upstreams::create, super::upstreams::show,
        super::upstreams::update, super::upstreams::remove,
    ),
    modifiers(&Security),
    tags(
        (name = "clients", description = "Applications (OAuth clients)"),
        (name = "apis", description = "APIs (resource servers) and their scopes"),
        (name = "users", description = "Users of the built-in user store"),
        (name = "keys", description = "Signing keys"),
        (name = "grants", description = "What users allowed applications"),
        (name = "audit", description = "Administrative changes and security events"),
        (name = "explain", description = "Why a token is or is not live; why a request was refused"),
        (name = "upstreams", description = "Upstream identity providers people sign in with"),
    )
)]
pub struct AdminApiDoc;

/// The document (public: it says nothing a caller could not learn by calling).
pub async fn document() -> Response {
    Json(AdminApiDoc::openapi()).into_response()
}
