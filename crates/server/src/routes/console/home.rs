//! `GET /admin`: the overview: how many applications, users and live sessions, failed
//! sign-ins in the last hour (from the audit trail), and the latest audit events.

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;
use valet_store::AuditQuery;

use super::Console;
use super::audit::event_view;
use crate::admin::MAX_PAGE;
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/admin", get(show))
        .route("/admin/", get(show))
}

async fn show(c: Console) -> Response {
    inner(&c).await.unwrap_or_else(|e| c.fail(e))
}

async fn inner(c: &Console) -> Result<Response, crate::admin::AdminError> {
    let admin = c.admin();
    let applications = admin.list().await?.len();
    let users = admin.users().await?.len();
    let sessions = c.state.store.count_sessions(c.now).await?;
    let failed = admin
        .audit(AuditQuery {
            since: Some(c.now - 3600),
            action: Some("signin.failed".into()),
            limit: MAX_PAGE,
            ..Default::default()
        })
        .await?
        .len();
    let recent: Vec<_> = admin
        .audit(AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await?
        .iter()
        .map(event_view)
        .collect();
    Ok(c.render(
        "admin/home.html",
        "home",
        None,
        json!({
            "counts": {
                "applications": applications,
                "users": users,
                "sessions": sessions,
                "failed_signins": if failed >= MAX_PAGE as usize {
                    format!("{MAX_PAGE}+")
                } else {
                    failed.to_string()
                },
            },
            "recent": recent,
        }),
    ))
}
