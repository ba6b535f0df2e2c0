//! `/admin/upstreams`: the identity providers people sign in with (issue 18): the
//! configuration file's and those added through the CLI or the admin API, with the
//! redirect URI to register at each, and the removal of one added here (its users stay).
//! Adding or changing one is `valet upstream` or `/admin/api/upstreams`: a client secret
//! is not typed into a page.

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::{Console, Fields, param, query, see_other, seg};
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new().route("/admin/upstreams", get(list)).route(
        "/admin/upstreams/{id}/remove",
        get(confirm_remove).post(remove),
    )
}

async fn list(c: Console, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.as_deref());
    let all = match c.admin().upstreams().await {
        Ok(u) => u,
        Err(e) => return c.fail(e),
    };
    let issuer = c.state.settings.issuer.trim_end_matches('/').to_owned();
    let rows: Vec<_> = all
        .iter()
        .map(|u| {
            json!({
                "id": u.id,
                "name": u.name,
                "source": u.source,
                "at": u.issuer.clone().or_else(|| u.authorization_endpoint.clone()),
                "kind": if u.issuer.is_some() { "OpenID Connect" } else { "OAuth 2.0" },
                "client_id": u.client_id,
                "domains": u.domains,
                "users": u.users,
                "link_by_verified_email": u.link_by_verified_email,
                "callback": format!("{issuer}/login/upstream/{}/callback", u.id),
                "remove_href": (u.source == "database")
                    .then(|| format!("/admin/upstreams/{}/remove", seg(&u.id))),
            })
        })
        .collect();
    c.render(
        "admin/upstreams.html",
        "upstreams",
        param(&q, "done"),
        json!({ "upstreams": rows }),
    )
}

async fn confirm_remove(c: Console, Path(id): Path<String>) -> Response {
    c.render(
        "admin/confirm.html",
        "upstreams",
        None,
        json!({
            "title": format!("Remove the identity provider {id}?"),
            "message": "Its button leaves the login page at once (other nodes within a few \
                        seconds). The users it created stay, with their links: they can sign \
                        in another way, or through a provider added again under the same id.",
            "action": format!("/admin/upstreams/{}/remove", seg(&id)),
            "button": "Remove the provider",
            "cancel": "/admin/upstreams",
        }),
    )
}

async fn remove(c: Console, Path(id): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    match admin.delete_upstream(&id, c.now).await {
        Ok(()) => see_other("/admin/upstreams?done=upstream.removed"),
        Err(e) => c.fail(e),
    }
}
