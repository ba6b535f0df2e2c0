//! `GET /admin/audit`: the audit trail, newest first, filtered by actor, target, action
//! (a prefix: `user.` is every user event) and time, a page at a time (`before`: the id
//! of the last event of the previous page).

use axum::Router;
use axum::extract::RawQuery;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use valet_store::{AuditQuery, AuditRecord};

use super::{Console, param, query, when};
use crate::state::Shared;

const PAGE: u32 = 50;

pub fn router() -> Router<Shared> {
    Router::new().route("/admin/audit", get(show))
}

/// An event for a template: its time as text, its changes as a list of fields.
pub fn event_view(r: &AuditRecord) -> Value {
    let changes: Vec<Value> = match serde_json::from_str::<Value>(&r.changes) {
        Ok(Value::Object(m)) => m
            .into_iter()
            .map(|(field, v)| match v {
                Value::Object(ft) if ft.contains_key("from") || ft.contains_key("to") => json!({
                    "field": field,
                    "from": short(ft.get("from")),
                    "to": short(ft.get("to")),
                }),
                other => json!({ "field": field, "value": short(Some(&other)) }),
            })
            .collect(),
        _ => vec![],
    };
    json!({
        "id": r.id,
        "at_text": when(r.at),
        "actor": r.actor,
        "address": r.address,
        "action": r.action,
        "target": r.target,
        "changes": changes,
    })
}

/// A value as compact text, at most 200 characters.
fn short(v: Option<&Value>) -> String {
    let text = match v {
        None | Some(Value::Null) => "—".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (UTC, as an `<input type="datetime-local">` sends
/// it) as a Unix time.
pub fn parse_time(s: &str) -> Option<i64> {
    let (date, time) = s.split_once(['T', ' ']).unwrap_or((s, "00:00"));
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, dd) = (d.next()??, d.next()??, d.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&dd) {
        return None;
    }
    let mut t = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, mi) = (t.next()??, t.next().flatten().unwrap_or(0));
    if !(0..24).contains(&h) || !(0..60).contains(&mi) {
        return None;
    }
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60)
}

async fn show(c: Console, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw.as_deref());
    let mut problems = Vec::new();
    let mut time = |name: &str| match param(&q, name) {
        None => None,
        Some(v) => {
            let t = parse_time(v);
            if t.is_none() {
                problems.push(format!("{name}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)"));
            }
            t
        }
    };
    let (since, until) = (time("since"), time("until"));
    let filter = AuditQuery {
        since,
        until,
        actor: param(&q, "actor").map(str::to_owned),
        action: param(&q, "action").map(str::to_owned),
        target: param(&q, "target").map(str::to_owned),
        request_id: param(&q, "request_id").map(str::to_owned),
        before: param(&q, "before").and_then(|b| b.parse().ok()),
        limit: PAGE,
    };
    let events = match c.admin().audit(filter).await {
        Ok(e) => e,
        Err(e) => return c.fail(e),
    };
    // The next page: the same filters, before the last id shown.
    let next = (events.len() as u32 >= PAGE)
        .then(|| events.last().map(|e| e.id))
        .flatten()
        .map(|id| {
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &q {
                if k != "before" && !v.is_empty() {
                    s.append_pair(k, v);
                }
            }
            s.append_pair("before", &id.to_string());
            format!("/admin/audit?{}", s.finish())
        });
    let f = |n: &str| param(&q, n).unwrap_or("").to_owned();
    c.render(
        "admin/audit.html",
        "audit",
        None,
        json!({
            "recent": events.iter().map(event_view).collect::<Vec<_>>(),
            "f": { "actor": f("actor"), "action": f("action"), "target": f("target"),
                   "since": f("since"), "until": f("until") },
            "problems": problems,
            "next": next,
            "paged": param(&q, "before").is_some(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-01"), Some(0));
        assert_eq!(parse_time("2023-11-14T22:13"), Some(1_700_000_000 - 20));
        assert_eq!(parse_time("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2000-13-01"), None);
    }
}
