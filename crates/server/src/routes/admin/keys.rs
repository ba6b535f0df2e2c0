//! `/admin/api/keys…`: signing keys.

use axum::extract::Path;
use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use valet_jose::Algorithm;
use valet_protocol::keys::{self, KeyTimes};

use super::openapi::ErrorBody;
use super::{AdminCaller, body};
use crate::error::ApiError;
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/keys", get(list))
        .route("/keys/rotate", post(rotate))
        .route("/keys/{kid}/revoke", post(revoke))
}

/// A key and where it stands at `now`: `signing`, `published` (verify only, or signing
/// later) or `retired`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub state: &'static str,
    pub created_at: i64,
    pub activates_at: i64,
    pub publish_until: Option<i64>,
}

pub fn key_views(all: &[KeyTimes], now: i64) -> Vec<KeyView> {
    all.iter()
        .map(|t| KeyView {
            kid: t.kid.clone(),
            alg: t.alg.clone(),
            state: if !t.is_published(now) {
                "retired"
            } else if keys::signing_key(all, &t.alg, now).is_some_and(|s| s.kid == t.kid) {
                "signing"
            } else if t.activates_at > now {
                "pending"
            } else {
                "published"
            },
            created_at: t.created_at,
            activates_at: t.activates_at,
            publish_until: t.publish_until,
        })
        .collect()
}

#[utoipa::path(
    get,
    path = "/admin/api/keys",
    tag = "keys",
    summary = "List signing keys",
    responses((status = 200, description = "Signing keys and their state", body = Vec<KeyView>), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list(caller: AdminCaller) -> Result<Response, ApiError> {
    let all = caller.admin().keys().await?;
    Ok(Json(key_views(&all, caller.now)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct RotateBody {
    /// `ES256` or `RS256`.
    alg: String,
}

/// `POST /admin/api/keys/rotate` `{"alg": "ES256"}`: a new key, published now, signing
/// after the activation delay.
#[utoipa::path(
    post,
    path = "/admin/api/keys/rotate",
    tag = "keys",
    summary = "Rotate a signing key",
    request_body = RotateBody,
    responses((status = 200, description = "The new key", body = Vec<KeyView>), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn rotate(
    caller: AdminCaller,
    b: Result<Json<RotateBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let alg = Algorithm::parse(&b.alg).ok_or_else(|| ApiError::Field {
        field: "alg".into(),
        message: format!("alg must be ES256, RS256, PS256 or EdDSA, not {}", b.alg),
    })?;
    let s = caller.settings();
    let t = caller
        .change()?
        .rotate_key(
            caller.sealer(),
            alg,
            caller.now,
            s.key_activation_delay,
            s.key_retention(),
        )
        .await?;
    Ok(Json(key_views(std::slice::from_ref(&t), caller.now)).into_response())
}

/// `POST /admin/api/keys/{kid}/revoke`: emergency revocation (see `admin/keys.rs`).
/// Answers the keys as they now stand.
#[utoipa::path(
    post,
    path = "/admin/api/keys/{kid}/revoke",
    tag = "keys",
    summary = "Revoke a signing key at once (emergency)",
    params(("kid" = String, Path)),
    responses((status = 200, description = "The keys as they now stand", body = Vec<KeyView>), (status = 404, description = "No such record", body = ErrorBody), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn revoke(caller: AdminCaller, Path(kid): Path<String>) -> Result<Response, ApiError> {
    let admin = caller.change()?;
    admin.revoke_key(caller.sealer(), &kid, caller.now).await?;
    let all = admin.keys().await?;
    Ok(Json(key_views(&all, caller.now)).into_response())
}
