//! Every request's id (issue 21): drawn here, before anything else runs, and carried for
//! the rest of the request in a task-local, so that whatever answers — a JSON error, an
//! error page, the audit trail, a log line — names the same id without threading it
//! through every handler. The response carries it as `X-Request-Id`.
//!
//! The id is Valet's own, never the caller's: an id that a caller could choose could
//! point the help desk at someone else's request. A W3C `traceparent` (Trace Context
//! §3.2) is honoured instead: its trace id goes into the request's log span, and the
//! response's `traceparent` continues that trace with a span of Valet's.
//!
//! A refused request (an error answered by `error/`, which marks the response with a
//! [`Refusal`]) is logged with its id, status and error, and kept in the audit trail as
//! `request.refused` with what was sent, secrets masked, for `valet explain --request`.
//! Those rows are what an unauthenticated caller can make, so a node keeps at most
//! `REFUSALS_PER_SECOND` of them each second (the rest are in the log only) and
//! `audit_retention` bounds how long they stay.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::state::Shared;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Refused requests a node keeps in the audit trail per second, at most.
const REFUSALS_PER_SECOND: u32 = 20;
/// Parameters of a refused request that are kept, at most, and the longest value shown.
const MAX_PARAMS: usize = 32;
const MAX_VALUE: usize = 200;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request this task is answering, if it is answering one.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Adds `request_id` to a JSON object (an error body, an audit row's details).
pub fn stamp(value: &mut Value) {
    if let (Some(id), Value::Object(map)) = (current(), value) {
        map.entry("request_id").or_insert(Value::String(id));
    }
}

/// What an error response said, for the log line and the trail of a refused request:
/// set on the response by `error/`.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub error: String,
    pub description: String,
}

/// The request body as `body::bounded` read it, for the trail of a refused request.
#[derive(Clone, Default)]
pub struct ReadBody(Arc<OnceLock<Bytes>>);

impl ReadBody {
    pub fn keep(&self, bytes: &Bytes) {
        let _ = self.0.set(bytes.clone());
    }
}

/// Refusals recorded this second, per node.
#[derive(Default)]
pub struct RefusalBudget(Mutex<(i64, u32)>);

impl RefusalBudget {
    fn take(&self, now: i64) -> bool {
        let Ok(mut g) = self.0.lock() else {
            return false;
        };
        if g.0 != now {
            *g = (now, 0);
        }
        g.1 += 1;
        g.1 <= REFUSALS_PER_SECOND
    }
}

fn new_id() -> String {
    crate::crypto::random_token(16).unwrap_or_else(|_| {
        // No randomness: still an id that is unique on this node.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        format!("n{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    })
}

/// A W3C `traceparent` (Trace Context §3.2.2): version `00`, a 32-hex trace id and a
/// 16-hex parent id, neither all zeros, and flags. Anything else is ignored (§3.2.2.4: a
/// receiver that cannot parse it starts a new trace).
pub fn parse_traceparent(v: &str) -> Option<(&str, &str, &str)> {
    let mut parts = v.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    (version == "00"
        && parts.next().is_none()
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && !zero(trace)
        && !zero(parent))
    .then_some((trace, parent, flags))
}

pub async fn assign(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let id = new_id();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let trace = req
        .headers()
        .get(&TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_traceparent)
        .map(|(t, _, f)| (t.to_owned(), f.to_owned()));
    let query = req.uri().query().map(str::to_owned);
    let form = is_form(req.headers());
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(scheme_of);
    // `body::bounded`, inside, reads the body whole and leaves a copy here (a reference
    // count, not a copy of the bytes).
    let body = ReadBody::default();
    let mut req = req;
    req.extensions_mut().insert(body.clone());

    // With an OTLP exporter installed (`otlp_endpoint`), this span is exported, as a
    // child of the caller's (OpenTelemetry semantic conventions for HTTP servers).
    let span = tracing::info_span!("request", request_id = %id,
        trace_id = trace.as_ref().map(|t| t.0.as_str()).unwrap_or(""),
        otel.name = %format!("{method} {route}"), otel.kind = "server",
        http.request.method = %method, http.route = %route,
        http.response.status_code = tracing::field::Empty);
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(req.headers())));
    let _ = span.set_parent(parent);
    let mut r = CURRENT
        .scope(
            id.clone(),
            tracing::Instrument::instrument(next.run(req), span.clone()),
        )
        .await;
    span.record("http.response.status_code", r.status().as_u16());

    if let Ok(v) = HeaderValue::from_str(&id) {
        r.headers_mut().insert(HEADER, v);
    }
    if let Some(v) = traceparent_of(&span, trace.as_ref()) {
        r.headers_mut().insert(TRACEPARENT, v);
    }
    let status = r.status();
    if let Some(refusal) = r.extensions().get::<Refusal>().cloned() {
        // A description may repeat what the caller sent: one printable, bounded line.
        let refusal = Refusal {
            error: clip(&refusal.error),
            description: clip(&refusal.description),
        };
        let sent = Sent {
            query,
            form: if form { body.0.get().cloned() } else { None },
            authorization,
        };
        if status.is_client_error() {
            tracing::info!(request_id = %id, %method, %route, status = status.as_u16(),
                error = %refusal.error, description = %refusal.description,
                "request refused");
            let now = state.clock.now();
            if status.as_u16() != 404 && state.refusals.take(now) {
                let details = json!({
                    "request_id": id,
                    "method": method.as_str(),
                    "route": route,
                    "status": status.as_u16(),
                    "error": refusal.error,
                    "error_description": refusal.description,
                    "sent": sent.masked(&method),
                });
                // Past the request's scope: its id is set again for the row.
                CURRENT.sync_scope(id.clone(), || {
                    state.audit.event(
                        now,
                        "request.refused",
                        "anonymous".into(),
                        address,
                        format!("request:{id}"),
                        details,
                    )
                });
            }
        }
    }
    r
}

/// The response's `traceparent`: the exported span's own ids when traces are exported;
/// otherwise, for a request that came with one, the same trace and a span id of ours.
fn traceparent_of(span: &tracing::Span, trace: Option<&(String, String)>) -> Option<HeaderValue> {
    use opentelemetry::trace::TraceContextExt as _;
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    let value = if sc.is_valid() {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    } else {
        let (trace, flags) = trace?;
        let ours = crate::crypto::random_bytes(8).unwrap_or_else(|_| vec![1; 8]);
        let ours: String = ours.iter().map(|b| format!("{b:02x}")).collect();
        format!("00-{trace}-{ours}-{flags}")
    };
    HeaderValue::from_str(&value).ok()
}

/// Request headers as OpenTelemetry's propagator reads them.
struct Headers<'a>(&'a axum::http::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

fn is_form(h: &axum::http::HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// What an `Authorization` header was, never its credentials: the scheme, and for
/// `Basic` the client id (RFC 6749 §2.3.1: form-encoded before base64).
fn scheme_of(v: &str) -> String {
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine;
        let user = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, _)| u.to_owned()));
        if let Some(u) = user {
            let u: String = form_urlencoded::parse(format!("u={u}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            return format!("Basic (client_id {}, secret masked)", clip(&u));
        }
    }
    format!("{} (credentials masked)", clip(scheme))
}

struct Sent {
    query: Option<String>,
    form: Option<Bytes>,
    authorization: Option<String>,
}

/// Parameters whose values say what was asked and are no secret; every other value is
/// masked (codes, secrets, tokens, assertions, verifiers, passwords, `state`, `nonce`).
const SHOWN: &[&str] = &[
    "client_id",
    "grant_type",
    "response_type",
    "response_mode",
    "redirect_uri",
    "post_logout_redirect_uri",
    "scope",
    "audience",
    "resource",
    "code_challenge_method",
    "prompt",
    "max_age",
    "acr_values",
    "ui_locales",
    "token_type_hint",
    "client_assertion_type",
    "subject_token_type",
    "actor_token_type",
    "requested_token_type",
];

impl Sent {
    fn masked(&self, method: &Method) -> Value {
        let mut out = Map::new();
        let mut params = Map::new();
        let mut add = |raw: &[u8]| {
            for (k, v) in form_urlencoded::parse(raw) {
                if params.len() >= MAX_PARAMS {
                    break;
                }
                let shown = if SHOWN.contains(&k.as_ref()) {
                    Value::String(clip(&v))
                } else if v.is_empty() {
                    Value::String(String::new())
                } else {
                    Value::String(format!("[masked, {} characters]", v.chars().count()))
                };
                params.insert(clip(&k), shown);
            }
        };
        if let Some(q) = &self.query {
            add(q.as_bytes());
        }
        if *method == Method::POST {
            if let Some(f) = &self.form {
                add(f);
            }
        }
        out.insert("parameters".into(), Value::Object(params));
        if let Some(a) = &self.authorization {
            out.insert("authorization".into(), Value::String(a.clone()));
        }
        Value::Object(out)
    }
}

fn clip(s: &str) -> String {
    let printable: String = s.chars().filter(|c| !c.is_control()).collect();
    match printable.char_indices().nth(MAX_VALUE) {
        Some((i, _)) => format!("{}…", &printable[..i]),
        None => printable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_read_only_in_its_one_version_00_shape() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse_traceparent(good),
            Some(("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01"))
        );
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn secrets_sent_are_masked_and_what_was_asked_is_shown() {
        let sent = Sent {
            query: None,
            form: Some(
                "grant_type=authorization_code&code=SECRETCODE&client_secret=hunter2&redirect_uri=https%3A%2F%2Fa.example%2Fcb"
                    .into(),
            ),
            authorization: Some(scheme_of("Basic YXBwLTE6aHVudGVyMg==")),
        };
        let v = sent.masked(&Method::POST);
        let text = v.to_string();
        assert!(
            !text.contains("SECRETCODE") && !text.contains("hunter2"),
            "{text}"
        );
        assert_eq!(v["parameters"]["grant_type"], "authorization_code");
        assert_eq!(v["parameters"]["redirect_uri"], "https://a.example/cb");
        assert_eq!(v["parameters"]["code"], "[masked, 10 characters]");
        assert_eq!(v["authorization"], "Basic (client_id app-1, secret masked)");
        assert_eq!(scheme_of("Bearer abc.def"), "Bearer (credentials masked)");
    }

    #[test]
    fn what_is_kept_is_one_bounded_printable_line() {
        let long = format!("a\nforged log line\r{}", "x".repeat(500));
        let c = clip(&long);
        assert!(!c.contains('\n') && !c.contains('\r'), "{c}");
        assert_eq!(c.chars().count(), MAX_VALUE + 1, "cut, with an ellipsis");
    }

    #[test]
    fn a_node_keeps_a_bounded_number_of_refusals_each_second() {
        let b = RefusalBudget::default();
        let kept = (0..100).filter(|_| b.take(7)).count();
        assert_eq!(kept, REFUSALS_PER_SECOND as usize);
        assert!(b.take(8), "a new second, a new budget");
    }
}
