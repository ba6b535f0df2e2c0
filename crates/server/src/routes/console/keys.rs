//! `/admin/keys`: signing keys with their timeline drawn (published before signing,
//! signing, published for verification only, retired), a scheduled rotation, and the
//! emergency revocation of a key that may have leaked (see `admin/keys.rs`).

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use valet_jose::Algorithm;
use valet_protocol::keys::KeyTimes;

use super::{Console, Fields, param, query, see_other, seg, when};
use crate::admin::AdminError;
use crate::routes::admin::keys::key_views;
use crate::state::Shared;

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/admin/keys", get(list))
        .route("/admin/keys/rotate", post(rotate))
        .route("/admin/keys/{kid}/revoke", get(confirm_revoke).post(revoke))
}

/// One key's bar: `(class, x, width)` in percent of `[start, end]`, and `now`'s mark.
fn bar(all: &[KeyTimes], k: &KeyTimes, start: i64, end: i64, now: i64) -> Value {
    let span = (end - start).max(1) as f64;
    let pct =
        |t: i64| ((t.clamp(start, end) - start) as f64 / span * 100.0 * 100.0).round() / 100.0;
    let retire = k.publish_until.unwrap_or(end).min(end);
    // It signs from its activation until a newer key of its algorithm activates.
    let superseded = all
        .iter()
        .filter(|o| o.alg == k.alg && o.kid != k.kid && o.activates_at > k.activates_at)
        .filter(|o| o.publish_until.is_none_or(|u| u > o.activates_at))
        .map(|o| o.activates_at)
        .min()
        .unwrap_or(end);
    let sign_from = k.activates_at.min(retire);
    let sign_to = superseded.clamp(sign_from, retire);
    let mut parts = Vec::new();
    for (class, from, to) in [
        ("t-pending", k.created_at, sign_from),
        ("t-signing", sign_from, sign_to),
        ("t-verify", sign_to, retire),
    ] {
        if to > from {
            parts.push(json!({ "class": class, "x": pct(from), "w": pct(to) - pct(from) }));
        }
    }
    json!({ "parts": parts, "now": pct(now) })
}

async fn list(c: Console, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.as_deref());
    let all = match c.admin().keys().await {
        Ok(k) => k,
        Err(e) => return c.fail(e),
    };
    let start = all.iter().map(|k| k.created_at).min().unwrap_or(c.now);
    let latest = all
        .iter()
        .flat_map(|k| [Some(k.activates_at), k.publish_until])
        .flatten()
        .chain([c.now])
        .max()
        .unwrap_or(c.now);
    // A little room after the last event, so open-ended keys visibly go on.
    let end = latest + ((latest - start) / 10).max(60);
    let mut views: Vec<_> = key_views(&all, c.now).into_iter().zip(all.iter()).collect();
    // Live keys first, newest first.
    views.sort_by_key(|(v, _)| (v.state == "retired", std::cmp::Reverse(v.created_at)));
    let keys: Vec<Value> = views
        .into_iter()
        .map(|(v, t)| {
            json!({
                "kid": v.kid,
                "alg": v.alg,
                "state": v.state,
                "created": when(v.created_at),
                "activates": when(v.activates_at),
                "until": v.publish_until.map(when),
                "bar": bar(&all, t, start, end, c.now),
                "revoke_href": format!("/admin/keys/{}/revoke", seg(&v.kid)),
                "revocable": v.state != "retired",
            })
        })
        .collect();
    c.render(
        "admin/keys.html",
        "keys",
        param(&q, "done"),
        json!({
            "keys": keys,
            "start": when(start),
            "end": when(end),
            "delay": c.state.settings.key_activation_delay,
        }),
    )
}

async fn rotate(c: Console, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let Some(alg) = Algorithm::parse(&f.text("alg")) else {
        return c.fail(AdminError::field(
            "alg",
            "choose ES256, RS256, PS256 or EdDSA",
        ));
    };
    let s = &c.state.settings;
    match admin
        .rotate_key(
            &c.state.sealer,
            alg,
            c.now,
            s.key_activation_delay,
            s.key_retention(),
        )
        .await
    {
        Ok(_) => see_other("/admin/keys?done=key.rotated"),
        Err(e) => c.fail(e),
    }
}

async fn confirm_revoke(c: Console, Path(kid): Path<String>) -> Response {
    c.render(
        "admin/confirm.html",
        "keys",
        None,
        json!({
            "title": format!("Revoke the key {kid} now?"),
            "message": "For a key that may have leaked. It stops signing and leaves the JWKS at \
                        once (other nodes at their next key reload), and every token it signed \
                        stops verifying: people signed in with those tokens must sign in again. \
                        If it is the key signing its algorithm, a new key signs from now on.",
            "action": format!("/admin/keys/{}/revoke", seg(&kid)),
            "button": "Revoke the key",
            "cancel": "/admin/keys",
        }),
    )
}

async fn revoke(c: Console, Path(kid): Path<String>, f: Fields) -> Response {
    let admin = match c.change(&f) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    match admin.revoke_key(&c.state.sealer, &kid, c.now).await {
        Ok(_) => see_other("/admin/keys?done=key.revoked"),
        Err(e) => c.fail(e),
    }
}
