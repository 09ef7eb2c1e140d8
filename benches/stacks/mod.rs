//! The stacks compared by `benches/stack.rs` and served by `examples/load_server.rs`: the
//! bare router, our layers alone, stacked and fused, and the peer stack, with the recorders
//! and exporters they share.

#![allow(dead_code)] // each includer uses its part

use std::hint::black_box;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, filter::Targets};

use tower_telemetry::metrics::DURATION_BUCKETS;
use tower_telemetry::trace::TraceLayer;
use tower_telemetry::{CorrelationLayer, MetricsLayer, TelemetryLayer};

/// Discards what the batch processor hands it: the cost measured is the request path's.
#[derive(Debug)]
pub(crate) struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

pub(crate) async fn ok() -> &'static str {
    "ok"
}

pub(crate) async fn fail() -> (StatusCode, &'static str) {
    (StatusCode::INTERNAL_SERVER_ERROR, "failed")
}

pub(crate) fn app() -> Router {
    Router::new()
        .route("/users/{id}", get(ok))
        .route("/fail/{id}", get(fail))
}

/// Installs the recorders and exporters every variant shares, and makes the `tracing`
/// dispatcher with the `tracing-opentelemetry` layer the peer stack needs (filtered to its
/// spans) the global default, as an application would.
pub(crate) fn install() -> SdkTracerProvider {
    // One recorder with our buckets for every histogram, so both stacks pay for the same
    // histogram shape (the peer's `pair()` would install one with its own buckets).
    // RECORDER=setup: the recorder `setup` installs (prometheus-client, with exemplars)
    // instead, to compare the two in one run.
    if std::env::var("RECORDER").is_ok_and(|r| r == "setup") {
        metrics::set_global_recorder(tower_telemetry::setup::PrometheusRecorder::new())
            .expect("no other recorder");
    } else {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&DURATION_BUCKETS)
            .expect("valid buckets")
            .install_recorder()
            .expect("no other recorder");
    }
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(BatchSpanProcessor::builder(Discard).build())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    tracing::dispatcher::set_global_default(Dispatch::new(
        tracing_subscriber::registry().with(peer_spans(&provider)),
    ))
    .expect("no other subscriber");
    provider
}

fn peer_spans<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("peer"))
        .with_filter(Targets::new().with_target("otel::tracing", tracing::Level::TRACE))
}

/// The global dispatcher plus the JSON log layer `setup` installs, writing to nowhere, at
/// `warn`, with our `request` span enabled so that every log line of a request would carry
/// its IDs; no access log. Make it after the other measurements: a second dispatcher makes
/// `tracing` ask the subscriber at every callsite instead of caching its answer.
pub(crate) fn with_logs(provider: &SdkTracerProvider) -> Dispatch {
    let logs = json_subscriber::layer()
        .with_writer(std::io::sink)
        .with_filter(
            Targets::new()
                .with_default(tracing::Level::WARN)
                .with_target("tower_telemetry::request", tracing::Level::INFO),
        );
    Dispatch::new(
        tracing_subscriber::registry()
            .with(peer_spans(provider))
            .with(logs),
    )
}

/// Every stack gets a tracer of the provider's own type, as the peer stack's
/// `tracing-opentelemetry` layer does (the global tracer would add a box and a dynamic call
/// per span).
pub(crate) fn variants(provider: &SdkTracerProvider) -> Vec<(&'static str, Router)> {
    let tracer = || provider.tracer("tower-telemetry");
    let peer = {
        app()
            .layer(axum_prometheus::PrometheusMetricLayer::new())
            .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default())
            .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
            .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
                tower_http::request_id::MakeRequestUuid,
            ))
    };
    vec![
        ("bare", app()),
        ("correlation", app().layer(CorrelationLayer::new())),
        ("trace", app().layer(TraceLayer::with_tracer(tracer()))),
        ("metrics", app().layer(MetricsLayer::new())),
        (
            "stacked",
            app()
                .layer(MetricsLayer::new())
                .layer(TraceLayer::with_tracer(tracer()))
                .layer(CorrelationLayer::new()),
        ),
        ("fused", app().layer(TelemetryLayer::with_tracer(tracer()))),
        ("peer", peer),
    ]
}
