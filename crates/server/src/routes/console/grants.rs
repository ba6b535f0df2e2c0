//! `/admin/grants`: live grants (what a user allowed an application, with every token
//! issued from it), by user or application, newest first, a page at a time; revoking one
//! ends its refresh tokens and makes its access tokens read inactive.

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Console, Fields, param, query, see_other, seg, with_times};
use crate::admin::GrantView;
use crate::state::Shared;

const PAGE: u32 = 50;

/// A grant for `grant_rows.html`: its times as text and its links.
pub fn grant_view(g: &GrantView) -> Value {
    let mut v = with_times(g);
    v["client_href"] = json!(format!("/admin/grants?client={}", seg(&g.client_id)));
    v["revoke_action"] = json!(format!("/admin/grants/{}/revoke", seg(&g.grant_id)));
    v
}

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/admin/grants", get(list))
        .route("/admin/grants/{id}/revoke", post(revoke))
}

async fn list(c: Console, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.as_deref());
    let (user, client) = (param(&q, "user"), param(&q, "client"));
    let grants = match c
        .admin()
        .grants(user, client, param(&q, "cursor"), PAGE, c.now)
        .await
    {
        Ok(g) => g,
        Err(e) => return c.fail(e),
    };
    let next = (grants.len() as u32 >= PAGE)
        .then(|| grants.last().map(|g| g.grant_id.clone()))
        .flatten()
        .map(|last| {
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in [("user", user), ("client", client)] {
                if let Some(v) = v {
                    s.append_pair(k, v);
                }
            }
            s.append_pair("cursor", &last);
            format!("/admin/grants?{}", s.finish())
        });
    c.render(
        "admin/grants.html",
        "grants",
        param(&q, "done"),
        json!({
            "grants": grants.iter().map(grant_view).collect::<Vec<_>>(),
            "f": { "user": user.unwrap_or(""), "client": client.unwrap_or("") },
            "back_user": user,
            "back_client": client,
            "next": next,
        }),
    )
}

/// `POST /admin/grants/{id}/revoke`; back to the list it was on (`user`, `client`).
async fn revoke(c: Console, Path(id): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    if let Err(e) = admin.revoke_grant(&id, c.now).await {
        return c.fail(e);
    }
    match (f.opt("user"), f.opt("client")) {
        (Some(u), None) => see_other(&format!("{}?done=grant.revoked", super::users::href(&u))),
        (u, cl) => {
            let mut s = form_urlencoded::Serializer::new(String::new());
            if let Some(u) = u {
                s.append_pair("user", &u);
            }
            if let Some(cl) = cl {
                s.append_pair("client", &cl);
            }
            s.append_pair("done", "grant.revoked");
            see_other(&format!("/admin/grants?{}", s.finish()))
        }
    }
}
