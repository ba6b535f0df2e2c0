//! Traces over OTLP/HTTP (issue 21), when `otlp_endpoint` is set: each request's span
//! (`request_id.rs` makes it, continuing a W3C `traceparent`) goes to the collector
//! through OpenTelemetry's batch exporter, on a thread of its own, so a collector that
//! is slow or away costs a request nothing (spans queue, bounded, and are dropped past
//! that). The last spans are flushed, bounded, at exit.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use std::time::Duration;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The tracing layer that exports to `endpoint` (`…/v1/traces`).
pub fn layer<S>(endpoint: &str) -> Result<impl tracing_subscriber::Layer<S>, String>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let endpoint = endpoint.to_owned();
    // The exporter's blocking HTTP client may not be made on an async runtime's thread.
    let exporter = std::thread::spawn(move || {
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(5))
            .build()
    })
    .join()
    .map_err(|_| "the OTLP exporter could not be made".to_owned())?
    .map_err(|e| format!("otlp_endpoint: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("valet")
                .build(),
        )
        .build();
    let tracer = provider.tracer("valet");
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let _ = PROVIDER.set(provider);
    Ok(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Flushes what is queued and stops the exporter; waits at most a few seconds.
pub fn shutdown() {
    if let Some(p) = PROVIDER.get() {
        let p = p.clone();
        let done = std::thread::spawn(move || {
            let _ = p.shutdown();
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !done.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
