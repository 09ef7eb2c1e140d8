//! Two services chained, A calls B, to see one distributed trace in a real backend.
//!
//! Run it with a collector (an OpenTelemetry Collector, Jaeger or Tempo listening for OTLP):
//!
//! ```sh
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 cargo run --example two_services
//! # or over gRPC:
//! OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \
//!     cargo run --example two_services
//! ```
//!
//! Without a collector it still runs: spans are made (the logs show their IDs) but not exported.
//! `ADDR_A` and `ADDR_B` move the services (defaults 127.0.0.1:3001 and 127.0.0.1:3002).
//!
//! Then:
//!
//! ```sh
//! curl -i http://127.0.0.1:3001/checkout/42
//! ```
//!
//! What to look at: in the backend, one trace with `GET /checkout/{order}` (service A, SERVER),
//! its `GET` CLIENT span, and `GET /inventory/{order}` (service B, SERVER) under it; in the JSON
//! logs, the lines of both services with the same `trace_id` and `correlation_id`. Both
//! services run in this one process to keep the example to one command; they talk over real
//! HTTP on loopback exactly as two processes would. `?delay_ms=300` makes service B SIMULATE a
//! slow stock lookup (at most 10 s), to see where the time of a slow trace went.
//!
//! Both answer `/livez` and `/readyz`. Stop it with Ctrl-C or SIGTERM: readiness turns 503,
//! both keep serving for `SHUTDOWN_DRAIN_MS` (default 5000), then in-flight requests finish,
//! the spans are flushed and it exits with 0.

use std::net::SocketAddr;

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt};
use tower_telemetry::correlation::{CorrelationClient, CorrelationClientLayer};
use tower_telemetry::health::{Health, HealthLayer, Shutdown};
use tower_telemetry::setup::TelemetryBuilder;
use tower_telemetry::trace::{TraceClient, TraceClientLayer};
use tower_telemetry::{CorrelationLayer, TraceLayer};

#[path = "common/serve.rs"]
mod serve;

type HttpClient = CorrelationClient<TraceClient<Client<HttpConnector, Empty<Bytes>>>>;

fn addr(var: &str, default: &str) -> Result<SocketAddr, Box<dyn std::error::Error>> {
    Ok(std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .parse()?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One process, so one `service.name`; in production each service sets its own.
    let telemetry = TelemetryBuilder::from_env()
        .service_name("two-services")
        .init()?;

    // One process, so one readiness for both services; SIGTERM or SIGINT starts the shutdown.
    let health = Health::builder().build();
    let shutdown = Shutdown::new(&health);

    let listener_b = tokio::net::TcpListener::bind(addr("ADDR_B", "127.0.0.1:3002")?).await?;
    let b_addr = listener_b.local_addr()?;
    let service_b = Router::new()
        .route("/inventory/{order}", get(inventory))
        .layer(TraceLayer::new())
        .layer(CorrelationLayer::new())
        .layer(HealthLayer::new(health.clone()));

    let client: HttpClient = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .layer(TraceClientLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http());
    let listener_a = tokio::net::TcpListener::bind(addr("ADDR_A", "127.0.0.1:3001")?).await?;
    let a_addr = listener_a.local_addr()?;
    let service_a = Router::new()
        .route("/checkout/{order}", get(checkout))
        .with_state((client, format!("http://{b_addr}")))
        .layer(TraceLayer::new())
        .layer(CorrelationLayer::new())
        .layer(HealthLayer::new(health));

    tracing::info!(a = %a_addr, b = %b_addr, "two services listening");
    // With a header-read timeout and keep-alive limits (examples/common/serve.rs).
    let b = tokio::spawn(serve::serve(listener_b, service_b, shutdown.stopping()));
    serve::serve(listener_a, service_a, shutdown.stopping()).await?;
    b.await??;
    tracing::info!("two services stopped");
    // Flush the spans still queued; a collector that cannot take them is not a reason to fail.
    if let Err(err) = telemetry.shutdown() {
        tracing::warn!(error = %err, "flushing telemetry at exit");
    }
    Ok(())
}

/// `?delay_ms=`: a SIMULATED slow dependency.
#[derive(serde::Deserialize)]
struct Delay {
    delay_ms: Option<u64>,
}

/// Service A: `GET /checkout/{order}` asks service B for stock.
async fn checkout(
    State((client, b)): State<(HttpClient, String)>,
    Path(order): Path<u32>,
    Query(delay): Query<Delay>,
) -> Result<Json<Value>, StatusCode> {
    tracing::info!(order, "checking out");
    let query = delay
        .delay_ms
        .map(|ms| format!("?delay_ms={ms}"))
        .unwrap_or_default();
    let request = http::Request::get(format!("{b}/inventory/{order}{query}"))
        .body(Empty::new())
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let response = client.oneshot(request).await.map_err(|err| {
        tracing::error!(error = %err, "service B unreachable");
        StatusCode::BAD_GATEWAY
    })?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?
        .to_bytes();
    let stock: Value = serde_json::from_slice(&body).map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok(Json(json!({ "order": order, "stock": stock })))
}

/// Service B: `GET /inventory/{order}`, slowed down by `?delay_ms=` (SIMULATED, at most 10 s).
async fn inventory(Path(order): Path<u32>, Query(delay): Query<Delay>) -> Json<Value> {
    tracing::info!(order, "reading stock");
    if let Some(ms) = delay.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
    }
    Json(json!({ "order": order, "available": order % 7 != 0 }))
}
