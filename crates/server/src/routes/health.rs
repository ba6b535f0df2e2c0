//! `/health/live` (the process answers) and `/health/ready` (the store answers and takes
//! writes: a node whose database is read-only, full or locked elsewhere is not ready,
//! issue 12, item 14).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::Shared;

pub async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "live" }))
}

pub async fn ready(State(state): State<Shared>) -> Response {
    match state.store.check_writable(state.clock.now()).await {
        Ok(()) => {
            Json(json!({ "status": "ready", "store": state.store.backend() })).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not take writes");
            let mut r = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "store": state.store.backend() })),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}
