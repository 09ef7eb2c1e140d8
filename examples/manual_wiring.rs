//! The layers without `setup`: for an application (or a framework) that installs its own
//! `tracing` subscriber and OpenTelemetry tracer provider. This is the wiring `setup` does for
//! you, written out, so that the handlers' own spans still land under the server span.
//!
//! Run it:
//!
//! ```sh
//! cargo run --example manual_wiring                  # listens on 127.0.0.1:3003
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 cargo run --example manual_wiring
//!                                                    # exports spans over OTLP/gRPC
//! curl -i http://127.0.0.1:3003/orders/7
//! ```
//!
//! The three things that matter:
//! 1. one tracer provider, set as the global one before the layers are built
//!    (`TraceLayer::new()` takes the global tracer);
//! 2. the `tracing-opentelemetry` layer on that provider, with a per-layer filter that leaves
//!    out the crate's `request` span (target `tower_telemetry::request`): that span carries the
//!    IDs of log lines; the server span is made by `TraceLayer` itself;
//! 3. the log filter as a per-layer filter too, so that quieting the console (`RUST_LOG=warn`)
//!    does not prune the trace tree; keep `tower_telemetry::request=trace` in it so warnings
//!    still carry the request's IDs.
//!
//! Without the bridge (leave out step 2) everything else works: the server and client spans,
//! the IDs on log lines, the metrics; only the handlers' own spans are not exported.
//!
//! `ADDR` moves the service. Stop it with Ctrl-C or SIGTERM: not ready, drain
//! (`SHUTDOWN_DRAIN_MS`, default 5000), in-flight requests finish, spans flushed, exit 0.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tower_telemetry::health::{Health, HealthLayer, Shutdown};
use tower_telemetry::{CorrelationLayer, TraceLayer};
use tracing::Instrument;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[path = "common/serve.rs"]
mod serve;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The tracer provider: exporting over OTLP/gRPC when an endpoint is set. The tonic
    //    exporter is built inside the runtime, whose tasks carry its connections.
    let mut provider = SdkTracerProvider::builder();
    if let Ok(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    opentelemetry::global::set_tracer_provider(provider.clone());

    // 2. The bridge, without the crate's `request` span.
    let bridge = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("manual_wiring"))
        .with_filter(filter_fn(|metadata| {
            metadata.target() != "tower_telemetry::request"
        }));
    // 3. The log lines, with their own filter.
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    let lines = tracing_subscriber::fmt::layer()
        .json()
        .with_span_list(true)
        .with_filter(EnvFilter::try_new(format!(
            "tower_telemetry::request=trace,{directives}"
        ))?);
    tracing_subscriber::registry()
        .with(lines)
        .with(bridge)
        .try_init()?;

    let health = Health::builder().build();
    let shutdown = Shutdown::new(&health);
    let app = Router::new()
        .route("/orders/{id}", get(order))
        .layer(TraceLayer::new())
        .layer(CorrelationLayer::new())
        .layer(HealthLayer::new(health));
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3003".to_owned())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "manual_wiring listening");
    // With a header-read timeout and keep-alive limits (examples/common/serve.rs).
    serve::serve(listener, app, shutdown.stopping()).await?;
    if let Err(err) = provider.shutdown() {
        tracing::warn!(error = %err, "flushing spans at exit");
    }
    Ok(())
}

/// `GET /orders/{id}`: its span (`order`) is a child of the server span, and `price` a child
/// of it.
#[tracing::instrument(skip_all, fields(order.id = id))]
async fn order(Path(id): Path<u32>) -> String {
    let total = async {
        tracing::info!("pricing the order");
        id * 100
    }
    .instrument(tracing::info_span!("price"))
    .await;
    format!("order {id}: {total}\n")
}
