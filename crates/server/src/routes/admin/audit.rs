//! `/admin/api/audit`: the audit trail, newest first, filtered; `format=jsonl` exports
//! JSON lines (`application/jsonl`), one event per line.

use axum::Router;
use axum::extract::RawQuery;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use valet_store::AuditQuery;

use super::openapi::{AuditEvent, ErrorBody};
use super::{AdminCaller, ListQuery, next_link, page};
use crate::admin::audit_json;
use crate::error::ApiError;
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new().route("/audit", get(list))
}

/// `GET /admin/api/audit[?since=UNIX][&until=UNIX][&actor=A][&action=PREFIX][&target=T]
/// [&request_id=ID][&limit=N][&cursor=ID][&format=json|jsonl]`.
#[utoipa::path(
    get,
    path = "/admin/api/audit",
    tag = "audit",
    summary = "Read the audit trail",
    params(("limit" = Option<u32>, Query, description = "At most this many (1–1000, default 100)"), ("cursor" = Option<String>, Query, description = "From the `Link: rel=next` of the previous page"), ("since" = Option<i64>, Query, description = "Unix time"), ("until" = Option<i64>, Query), ("actor" = Option<String>, Query), ("action" = Option<String>, Query, description = "A prefix: `user.` matches every user event"), ("target" = Option<String>, Query), ("request_id" = Option<String>, Query, description = "Every event of one request (its `X-Request-Id`)"), ("format" = Option<String>, Query, description = "json (default) or jsonl")),
    responses((status = 200, description = "Events, newest first (JSON lines with format=jsonl)", body = Vec<AuditEvent>), (status = 400, description = "A value breaks a rule (`fields` names it)", body = ErrorBody), (status = 401, description = "No valid admin token or session", body = ErrorBody), (status = 403, description = "A viewer asked to change something", body = ErrorBody)),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list(caller: AdminCaller, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = ListQuery::parse(raw.as_deref())?;
    let int = |name: &str| -> Result<Option<i64>, ApiError> {
        q.get(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| ApiError::Field {
                    field: name.into(),
                    message: format!("{name} must be a whole number"),
                })
            })
            .transpose()
    };
    let query = AuditQuery {
        since: int("since")?,
        until: int("until")?,
        actor: q.get("actor").map(str::to_owned),
        action: q.get("action").map(str::to_owned),
        target: q.get("target").map(str::to_owned),
        request_id: q.get("request_id").map(str::to_owned),
        before: int("cursor")?,
        limit: q.limit,
    };
    let events = caller.admin().audit(query).await?;
    let next = events.last().map(|e| e.id.to_string());
    let items: Vec<_> = events.iter().map(audit_json).collect();
    match q.get("format") {
        None | Some("json") => Ok(page("/audit", &q, items, next)),
        Some("jsonl") => {
            let link = next_link("/audit", &q, items.len(), next);
            let mut out = String::new();
            for i in &items {
                out.push_str(&i.to_string());
                out.push('\n');
            }
            let mut r = out.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jsonl"),
            );
            if let Some(l) = link {
                r.headers_mut().insert(header::LINK, l);
            }
            Ok(r)
        }
        Some(_) => Err(ApiError::Field {
            field: "format".into(),
            message: "format is json or jsonl".into(),
        }),
    }
}
