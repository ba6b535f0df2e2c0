//! Issue 21: Prometheus metrics on their own listener, never on the public port, with
//! bounded labels. (The interop suite parses them with Python's prometheus_client.)

use crate::harness::{TestApp, spawn_app, spawn_with};
use valet_server::config::Partial;

async fn scrape(app: &TestApp) -> String {
    let at = app.metrics.expect("metrics_listen is set");
    let r = reqwest::get(format!("http://{at}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    r.text().await.unwrap()
}

/// The value of the sample named `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines().find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{').unwrap_or((series, ""));
        (n == name && labels.iter().all(|want| rest.contains(want)))
            .then(|| value.parse().ok())
            .flatten()
    })
}

#[tokio::test]
async fn metrics_count_tokens_requests_and_key_ages_on_their_own_port() {
    let app = spawn_with(|p| Partial {
        metrics_listen: Some("127.0.0.1:0".into()),
        ..p
    })
    .await;
    app.api().await;
    let (id, secret) = app.service(&["api:read"]).await;
    app.token(&id, &secret).await;
    app.token(&id, &secret).await;
    let bad = app
        .post(
            "/oauth2/token",
            &id,
            "wrong",
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(bad.status(), 401);

    let text = scrape(&app).await;
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    assert_eq!(
        sample(
            &text,
            "valet_tokens_issued_total",
            &[
                "grant=\"client_credentials\"",
                "token=\"access\"",
                "format=\"jwt\""
            ]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "valet_http_request_duration_seconds_count",
            &[
                "route=\"/oauth2/token\"",
                "method=\"POST\"",
                "status=\"200\""
            ]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "valet_http_request_duration_seconds_count",
            &["route=\"/oauth2/token\"", "status=\"401\""]
        ),
        Some(1.0)
    );
    assert!(text.contains("# TYPE valet_http_request_duration_seconds histogram"));
    let age = sample(&text, "valet_signing_key_age_seconds", &["alg=\"ES256\""]).unwrap();
    // A label never carries a caller's value: no client_id, no path outside the routes.
    assert!(!text.contains(&id), "{text}");

    app.clock.advance(7200);
    let later = scrape(&app).await;
    let older = sample(&later, "valet_signing_key_age_seconds", &["alg=\"ES256\""]).unwrap();
    assert_eq!(older - age, 7200.0);
}

#[tokio::test]
async fn unknown_paths_share_one_label_and_the_public_port_has_no_metrics() {
    let app = spawn_with(|p| Partial {
        metrics_listen: Some("127.0.0.1:0".into()),
        ..p
    })
    .await;
    for n in 0..3 {
        let r = app
            .http
            .get(app.url(&format!("/metrics?{n}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "never on the public port");
        app.http
            .get(app.url(&format!("/probe-{n}")))
            .send()
            .await
            .unwrap();
    }
    let text = scrape(&app).await;
    assert!(!text.contains("probe-"), "{text}");
    assert_eq!(
        sample(
            &text,
            "valet_http_request_duration_seconds_count",
            &["route=\"unmatched\"", "status=\"404\""]
        ),
        Some(6.0)
    );
    // Only /metrics on the metrics port.
    let at = app.metrics.unwrap();
    let r = reqwest::get(format!("http://{at}/health/live"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn without_metrics_listen_there_is_no_metrics_listener() {
    let app = spawn_app().await;
    assert!(app.metrics.is_none());
}
