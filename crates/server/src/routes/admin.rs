//! `/admin/api/…`: the admin REST API, guarded by Valet's own access tokens. A caller needs
//! a live token whose `aud` is `{issuer}/admin/api` and whose scope holds `valet:admin`
//! (RFC 6750 §3.1 errors otherwise).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use valet_protocol::{ErrorCode, OAuthError};

use crate::admin::{AdminError, ClientChanges, NewClient};
use crate::catalog::ADMIN_SCOPE;
use crate::error::ApiError;
use crate::state::Shared;
use crate::tokens::{live_access_token, users_token_is_live};

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
            axum::routing::delete(revoke_grants),
        )
        .route("/apis", get(list_apis).post(create_api))
}

/// Proof that the request carries an admin token. Holds who made the call, for the log,
/// and the request's `now` (the clock is read once, here).
pub struct AdminCaller {
    pub client_id: String,
    pub now: i64,
}

impl FromRequestParts<Shared> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let invalid =
            |d: &'static str| ApiError::Bearer(OAuthError::new(ErrorCode::InvalidToken, d), None);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                invalid("a Bearer access token with the valet:admin scope is required")
            })?;
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .ok_or_else(|| invalid("use the Bearer scheme"))?;
        let now = state.clock.now();
        let claims = live_access_token(state, token, now)
            .await?
            .ok_or_else(|| invalid("the access token is not valid"))?;
        let admin_aud = state.settings.admin_audience();
        if !claims.aud.contains(&admin_aud) || !claims.has_scope(ADMIN_SCOPE) {
            return Err(ApiError::Bearer(
                OAuthError::new(
                    ErrorCode::InsufficientScope,
                    "the token lacks the valet:admin scope",
                ),
                Some(ADMIN_SCOPE),
            ));
        }
        // A user's token dies with the user (issue 12 item 9).
        if !users_token_is_live(state, &claims).await? {
            return Err(invalid("the access token is not valid"));
        }
        Ok(Self {
            client_id: claims.client_id,
            now,
        })
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(m) => ApiError::BadInput(m),
            AdminError::NotFound(m) => ApiError::NotFound(m),
            AdminError::Conflict(m) => ApiError::Conflict(m),
            AdminError::Store(e) => ApiError::Store(e),
            AdminError::Internal(f) => ApiError::Internal(f),
        }
    }
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::BadInput(e.body_text()))
}

/// `GET /admin/api/clients[?origin=admin|dynamic|cimd]` (issue 14).
async fn list(
    State(s): State<Shared>,
    _: AdminCaller,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let params = valet_protocol::params::Params::parse_lenient(q.unwrap_or_default().as_bytes())
        .map_err(|e| ApiError::BadInput(e.description().to_owned()))?;
    let origin = match params.get("origin") {
        None => None,
        Some(o) => Some(
            valet_protocol::application::Origin::parse(o).ok_or_else(|| {
                ApiError::BadInput("origin must be admin, dynamic or cimd".into())
            })?,
        ),
    };
    Ok(Json(s.admin().list_by_origin(origin).await?).into_response())
}

async fn create(
    State(s): State<Shared>,
    caller: AdminCaller,
    b: Result<Json<NewClient>, JsonRejection>,
) -> Result<Response, ApiError> {
    let created = s.admin().create_client(body(b)?, caller.now).await?;
    tracing::info!(target: "valet::audit", by = %caller.client_id, client_id = %created.app.client_id, "admin API: application created");
    Ok(crate::error::no_store(
        (StatusCode::CREATED, Json(created)).into_response(),
    ))
}

async fn show(
    State(s): State<Shared>,
    _: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.admin().get(&id).await?.app).into_response())
}

async fn update(
    State(s): State<Shared>,
    caller: AdminCaller,
    Path(id): Path<String>,
    b: Result<Json<ClientChanges>, JsonRejection>,
) -> Result<Response, ApiError> {
    let app = s.admin().update_client(&id, body(b)?, caller.now).await?;
    s.catalog.forget_client(&id);
    tracing::info!(target: "valet::audit", by = %caller.client_id, client_id = %id, "admin API: application updated");
    Ok(Json(app).into_response())
}

async fn delete(
    State(s): State<Shared>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.admin().delete_client(&id).await?;
    s.catalog.forget_client(&id);
    tracing::info!(target: "valet::audit", by = %caller.client_id, client_id = %id, "admin API: application deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotate {
    grace_seconds: Option<i64>,
}

async fn rotate_secret(
    State(s): State<Shared>,
    caller: AdminCaller,
    Path(id): Path<String>,
    b: Option<Json<Rotate>>,
) -> Result<Response, ApiError> {
    let grace = b.map(|Json(r)| r).unwrap_or_default().grace_seconds;
    let rotated = s.admin().rotate_secret(&id, grace, caller.now).await?;
    s.catalog.forget_client(&id);
    tracing::info!(target: "valet::audit", by = %caller.client_id, client_id = %id, "admin API: client secret rotated");
    Ok(crate::error::no_store(Json(rotated).into_response()))
}

/// `POST /admin/api/clients/{id}/verify`: the same as `valet client verify` (issue 14): a
/// self-registered application's consent page stops saying it is not verified. A metadata
/// document client (an https client_id, percent-encoded in the path) gets a stored
/// override. Answers the stored application; 404 for an unknown client_id.
async fn verify(
    State(s): State<Shared>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let app = s.admin().verify_client(&id, caller.now).await?;
    s.catalog.forget_client(&id);
    tracing::info!(target: "valet::audit", by = %caller.client_id, client_id = %id, "admin API: application verified");
    Ok(Json(app).into_response())
}

/// `POST /admin/api/clients/{id}/approve`: the same as `valet client approve`: a
/// quarantined self-registered application may be used.
async fn approve(
    State(s): State<Shared>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let keep = s.settings.registration.unused_ttl;
    let app = s.admin().approve_client(&id, keep, caller.now).await?;
    s.catalog.forget_client(&id);
    tracing::info!(target: "valet::audit", by = %caller.client_id, client_id = %id, "admin API: application approved");
    Ok(Json(app).into_response())
}

/// `POST /admin/api/clients/{id}/quarantine`: the same as `valet client quarantine`.
async fn quarantine(
    State(s): State<Shared>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let app = s.admin().quarantine_client(&id, caller.now).await?;
    s.catalog.forget_client(&id);
    tracing::info!(target: "valet::audit", by = %caller.client_id, client_id = %id, "admin API: application quarantined");
    Ok(Json(app).into_response())
}

/// `DELETE /admin/api/clients/{id}/grants`: every user's grant of the application is
/// revoked and every consent forgotten. Answers `{"revoked": N}`.
async fn revoke_grants(
    State(s): State<Shared>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let n = s.admin().revoke_grants(&id, caller.now).await?;
    tracing::info!(target: "valet::audit", by = %caller.client_id, client_id = %id, grants = n, "admin API: grants revoked");
    Ok(Json(serde_json::json!({ "revoked": n })).into_response())
}

/// An API as the admin API shows it.
#[derive(serde::Serialize)]
struct ApiView {
    name: String,
    audience: String,
    scopes: Vec<valet_protocol::audience::ApiScope>,
    access_token_format: valet_protocol::opaque_token::AccessTokenFormat,
    /// The confidential applications that may introspect tokens for this API (issue 12
    /// item 6; RFC 7662 §4).
    introspectors: Vec<String>,
    created_at: i64,
}

impl From<valet_store::ApiRecord> for ApiView {
    fn from(r: valet_store::ApiRecord) -> Self {
        Self {
            name: r.name,
            audience: r.api.audience,
            scopes: r.api.scopes,
            access_token_format: r.api.access_token_format,
            introspectors: r.api.introspectors,
            created_at: r.created_at,
        }
    }
}

/// `POST /admin/api/apis`: the same as `valet api create`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApi {
    name: Option<String>,
    audience: String,
    scopes: Vec<valet_protocol::audience::ApiScope>,
    #[serde(default)]
    access_token_format: valet_protocol::opaque_token::AccessTokenFormat,
    #[serde(default)]
    introspectors: Vec<String>,
}

async fn list_apis(State(s): State<Shared>, _: AdminCaller) -> Result<Response, ApiError> {
    let apis: Vec<ApiView> = s
        .store
        .apis()
        .await?
        .into_iter()
        .map(ApiView::from)
        .collect();
    Ok(Json(apis).into_response())
}

async fn create_api(
    State(s): State<Shared>,
    caller: AdminCaller,
    b: Result<Json<NewApi>, JsonRejection>,
) -> Result<Response, ApiError> {
    let new = body(b)?;
    let created = s
        .admin()
        .create_api(
            new.name,
            new.audience,
            new.scopes,
            new.access_token_format,
            new.introspectors,
            caller.now,
        )
        .await?;
    s.catalog.forget_apis();
    tracing::info!(target: "valet::audit", by = %caller.client_id, audience = %created.api.audience, "admin API: API created");
    Ok((StatusCode::CREATED, Json(ApiView::from(created))).into_response())
}
