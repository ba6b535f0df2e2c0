//! Prometheus metrics (issue 21), served on their own listener (`metrics_listen`, off by
//! default) so they are never on the public port. Names follow Prometheus conventions
//! (`_total` counters, `_seconds` units) and every label has a bounded set of values: a
//! route is its path template, a status its code, a grant one of Valet's grants — never a
//! client_id, a user or anything else a caller chooses.
//!
//! Counters are bumped where things happen (`observe` for every request, the token
//! endpoint, refresh rotation, sign-in); gauges that describe state (key ages, the audit
//! queue's losses) are read when Prometheus scrapes.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use crate::state::Shared;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    grant: &'static str,
    token: &'static str,
    format: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignInLabels {
    method: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlgLabels {
    alg: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// The node's metrics. Cloning a metric shares it.
pub struct Metrics {
    registry: Registry,
    http: Family<HttpLabels, Histogram>,
    tokens: Family<TokenLabels, Counter>,
    rotations: Counter,
    reuses: Counter,
    sign_ins: Family<SignInLabels, Counter>,
    throttled: Family<RouteLabels, Counter>,
    key_age: Family<AlgLabels, Gauge<f64, AtomicU64>>,
    audit_dropped: Gauge,
}

/// What a token endpoint response issued, for `valet_tokens_issued_total`.
pub struct IssuedTokens {
    pub grant: &'static str,
    pub access_format: &'static str,
    pub refresh: bool,
    pub id_token: bool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        // 1 ms to ~16 s: a JWT grant takes well under a millisecond, a password hash
        // tens of milliseconds, a directory or upstream call up to its timeout.
        let http = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        registry.register_with_unit(
            "valet_http_request_duration",
            "Time to answer an HTTP request, by route template, method and status",
            Unit::Seconds,
            http.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "valet_tokens_issued",
            "Tokens issued at the token endpoint, by grant, kind (access, refresh, id) and format",
            tokens.clone(),
        );
        let rotations = Counter::default();
        registry.register(
            "valet_refresh_rotations",
            "Refresh tokens rotated (one replaced by its successor)",
            rotations.clone(),
        );
        let reuses = Counter::default();
        registry.register(
            "valet_refresh_reuse_detected",
            "Rotated refresh tokens presented again after the retry window: their grant revoked",
            reuses.clone(),
        );
        let sign_ins = Family::<SignInLabels, Counter>::default();
        registry.register(
            "valet_sign_ins",
            "Sign-in attempts by method and result (success, failure, throttled)",
            sign_ins.clone(),
        );
        let throttled = Family::<RouteLabels, Counter>::default();
        registry.register(
            "valet_throttled_requests",
            "Requests answered 429 (too many attempts), by route template",
            throttled.clone(),
        );
        let key_age = Family::<AlgLabels, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "valet_signing_key_age",
            "Age of the key that signs each algorithm's tokens now",
            Unit::Seconds,
            key_age.clone(),
        );
        let audit_dropped = Gauge::default();
        registry.register(
            "valet_audit_events_dropped",
            "Security events kept in the log only because the audit queue was full",
            audit_dropped.clone(),
        );
        let info = Family::<VersionLabels, Gauge>::default();
        info.get_or_create(&VersionLabels {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
        registry.register("valet_build_info", "Valet's version", info);
        Self {
            registry,
            http,
            tokens,
            rotations,
            reuses,
            sign_ins,
            throttled,
            key_age,
            audit_dropped,
        }
    }

    pub fn issued(&self, t: &IssuedTokens) {
        let add = |token, format| {
            self.tokens
                .get_or_create(&TokenLabels {
                    grant: t.grant,
                    token,
                    format,
                })
                .inc();
        };
        add("access", t.access_format);
        if t.refresh {
            add("refresh", "opaque");
        }
        if t.id_token {
            add("id", "jwt");
        }
    }

    pub fn refresh_rotated(&self) {
        self.rotations.inc();
    }

    pub fn refresh_reused(&self) {
        self.reuses.inc();
    }

    /// A sign-in by `method` (`password`, `passkey`, `upstream`, `totp`, `recovery`)
    /// that ended in `result` (`success`, `failure`, `throttled`).
    pub fn sign_in(&self, method: &'static str, result: &'static str) {
        self.sign_ins
            .get_or_create(&SignInLabels { method, result })
            .inc();
    }

    /// The text exposition, with the state-describing gauges read now.
    pub fn render(&self, state: &crate::state::AppState) -> String {
        let now = state.clock.now();
        let keys = state.keys.snapshot();
        for alg in valet_jose::Algorithm::ALL {
            if let Some(k) = valet_protocol::keys::signing_key(keys.times(), alg.as_str(), now) {
                self.key_age
                    .get_or_create(&AlgLabels { alg: alg.as_str() })
                    .set((now - k.created_at.min(now)) as f64);
            }
        }
        self.audit_dropped
            .set(i64::try_from(state.audit.dropped()).unwrap_or(i64::MAX));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Every request's duration and status, by its route's template.
pub async fn observe(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let r = next.run(req).await;
    let status = r.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        state
            .metrics
            .throttled
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .inc();
    }
    state
        .metrics
        .http
        .get_or_create(&HttpLabels {
            route,
            method,
            status: status.as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    r
}

/// `GET /metrics` on the metrics listener.
pub async fn scrape(State(state): State<Shared>) -> Response {
    let body = state.metrics.render(&state);
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

/// Binds the metrics listener (at build, so a taken address stops the start).
pub fn bind(at: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(at)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Serves `/metrics` and nothing else on the metrics listener, with the public port's
/// connection caps and timeouts: it is meant for Prometheus alone, but is bounded all
/// the same.
pub async fn serve(listener: std::net::TcpListener, state: Shared) {
    let addr = listener.local_addr().ok();
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(state.clone());
    let timeout = std::time::Duration::from_secs(state.settings.client_timeout as u64);
    let capped = crate::connections::Capped {
        limits: crate::connections::Limits::new(64, 0),
    };
    let server = match axum_server::from_tcp(listener) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the metrics listener cannot serve");
            return;
        }
    };
    tracing::info!(listen = ?addr, "metrics are served at /metrics");
    let mut server = server.acceptor(capped);
    crate::app::bound(server.http_builder(), timeout);
    if let Err(e) = server
        .first_request_timeout(timeout)
        .serve(router.into_make_service())
        .await
    {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The families the registry exposes, by their `# TYPE` lines.
    fn families(m: &Metrics) -> Vec<String> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).unwrap();
        out.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_owned)
            .collect()
    }

    /// Metrics with a sample in every family (a family without one is not exposed).
    fn exercised() -> Metrics {
        let m = Metrics::new();
        m.issued(&IssuedTokens {
            grant: "client_credentials",
            access_format: "jwt",
            refresh: false,
            id_token: false,
        });
        m.sign_in("password", "failure");
        m.refresh_rotated();
        m.refresh_reused();
        let route = RouteLabels {
            route: "/oauth2/token".into(),
        };
        m.throttled.get_or_create(&route).inc();
        m.http
            .get_or_create(&HttpLabels {
                route: route.route,
                method: "POST",
                status: 200,
            })
            .observe(0.002);
        m.key_age
            .get_or_create(&AlgLabels { alg: "ES256" })
            .set(5.0);
        m
    }

    #[test]
    fn the_grafana_dashboard_asks_only_for_metrics_valet_exports() {
        let known = families(&exercised());
        let dashboard = include_str!("../../../docs/grafana-dashboard.json");
        let re = regex::Regex::new(r"valet_[a-z_]+").unwrap();
        let asked: std::collections::BTreeSet<&str> =
            re.find_iter(dashboard).map(|x| x.as_str()).collect();
        assert!(asked.len() >= 8, "{asked:?}");
        for name in asked {
            let family = ["_bucket", "_count", "_sum", "_total"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            assert!(
                known.iter().any(|k| k == family || k == name),
                "{name} is not exported (families: {known:?})"
            );
        }
    }

    #[test]
    fn counters_end_in_total_and_units_are_seconds() {
        let m = exercised();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).unwrap();
        assert!(out.contains("valet_sign_ins_total{method=\"password\",result=\"failure\"} 1"));
        assert!(out.contains("# UNIT valet_http_request_duration_seconds seconds"));
        assert!(out.contains("# UNIT valet_signing_key_age_seconds seconds"));
    }
}
