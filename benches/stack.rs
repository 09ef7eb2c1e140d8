//! In-process cost of a fully instrumented axum router: our layers alone, stacked and fused,
//! against the stack users assemble from peers today, each as a ratio to the bare router
//! measured in the same run (the machine is shared and noisy; absolute times are not
//! comparable across runs).
//!
//! Run: `cargo bench --bench stack`, or `scripts/bench` for the table of ratios.
//!
//! Every variant is one `oneshot` through an axum `Router` with the body collected. The
//! recorders and exporters are real and shared by all variants: the Prometheus recorder
//! with the same buckets for both stacks; an OpenTelemetry SDK provider with the always-on
//! sampler and the SDK's batch processor feeding an exporter that discards; a `tracing`
//! registry with the `tracing-opentelemetry` layer the peer stack needs for its spans. The
//! groups `plain`, `inbound` and `failure` run with that alone; the group `logs` adds the JSON
//! log layer `setup` installs (writing to `io::sink`, at `warn`, our `request` span enabled
//! so that log lines would carry the IDs, no access log).
//!
//! The peer stack: tower-http's `SetRequestIdLayer` + `PropagateRequestIdLayer` (UUID v4),
//! axum-tracing-opentelemetry's `OtelAxumLayer`, axum-prometheus's `PrometheusMetricLayer`.

#![allow(clippy::expect_used)] // a benchmark that cannot set up should stop loudly
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request};
use http_body_util::BodyExt;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use tower::ServiceExt;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, filter::Targets};

use tower_telemetry::metrics_layer::DURATION_BUCKETS;
use tower_telemetry::trace::TraceLayer;
use tower_telemetry::{CorrelationLayer, MetricsLayer, TelemetryLayer};

/// Discards what the batch processor hands it: the cost measured is the request path's.
#[derive(Debug)]
struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

async fn ok() -> &'static str {
    "ok"
}

async fn fail() -> (StatusCode, &'static str) {
    (StatusCode::INTERNAL_SERVER_ERROR, "failed")
}

fn app() -> Router {
    Router::new()
        .route("/users/{id}", get(ok))
        .route("/fail/{id}", get(fail))
}

/// The request kinds: no inbound headers; inbound `traceparent` and `x-request-id`; a request
/// the server answers with a 500.
const KINDS: [&str; 3] = ["plain", "inbound", "failure"];

fn request(kind: &str) -> Request<axum::body::Body> {
    let path = if kind == "failure" {
        "/fail/42"
    } else {
        "/users/42"
    };
    let mut request = Request::get(path)
        .body(axum::body::Body::empty())
        .expect("a valid request");
    if kind == "inbound" {
        let headers = request.headers_mut();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        headers.insert(
            "x-request-id",
            HeaderValue::from_static("0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e"),
        );
    }
    request
}

/// Installs the recorders and exporters every variant shares, and returns the two `tracing`
/// dispatchers the groups run under: spans only (the `tracing-opentelemetry` layer the peer
/// stack needs, filtered to its spans), and the same plus JSON logs.
fn install() -> (SdkTracerProvider, Dispatch, Dispatch) {
    // One recorder with our buckets for every histogram, so both stacks pay for the same
    // histogram shape (the peer's `pair()` would install one with its own buckets).
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&DURATION_BUCKETS)
        .expect("valid buckets")
        .install_recorder()
        .expect("no other recorder");
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(BatchSpanProcessor::builder(Discard).build())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let peer_spans = || {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("peer"))
            .with_filter(Targets::new().with_target("otel::tracing", tracing::Level::TRACE))
    };
    let spans = Dispatch::new(tracing_subscriber::registry().with(peer_spans()));
    // What `setup` installs for JSON logs, writing to nowhere, at `warn`, with our `request`
    // span enabled so that every log line of a request would carry its IDs; no access log.
    let logs = json_subscriber::layer()
        .with_writer(std::io::sink)
        .with_filter(
            Targets::new()
                .with_default(tracing::Level::WARN)
                .with_target("tower_telemetry::request", tracing::Level::INFO),
        );
    let with_logs = Dispatch::new(tracing_subscriber::registry().with(peer_spans()).with(logs));
    (provider, spans, with_logs)
}

fn variants() -> Vec<(&'static str, Router)> {
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
        ("trace", app().layer(TraceLayer::new())),
        ("metrics", app().layer(MetricsLayer::new())),
        (
            "stacked",
            app()
                .layer(MetricsLayer::new())
                .layer(TraceLayer::new())
                .layer(CorrelationLayer::new()),
        ),
        ("fused", app().layer(TelemetryLayer::new())),
        ("peer", peer),
    ]
}

fn stack(c: &mut Criterion) {
    let (provider, spans, with_logs) = install();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let variants = variants();
    let groups = KINDS
        .iter()
        .map(|kind| (*kind, *kind, &spans))
        .chain([("logs", "plain", &with_logs)]);
    for (group_name, kind, dispatch) in groups {
        let mut group = c.benchmark_group(group_name);
        for (name, router) in &variants {
            tracing::dispatcher::with_default(dispatch, || {
                group.bench_function(*name, |b| {
                    b.to_async(&runtime).iter(|| async {
                        let response = router
                            .clone()
                            .oneshot(black_box(request(kind)))
                            .await
                            .expect("infallible");
                        black_box(response.into_body().collect().await.expect("a body"))
                    })
                });
            });
        }
        group.finish();
    }
    provider.shutdown().ok();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = stack
}
criterion_main!(benches);
