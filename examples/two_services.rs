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
//! HTTP on loopback exactly as two processes would.

use std::net::SocketAddr;

use axum::extract::{Path, State};
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
use tower_telemetry::setup::Telemetry;
use tower_telemetry::trace::{TraceClient, TraceClientLayer};
use tower_telemetry::{CorrelationLayer, TraceLayer};

type HttpClient = CorrelationClient<TraceClient<Client<HttpConnector, Empty<Bytes>>>>;

fn addr(var: &str, default: &str) -> Result<SocketAddr, Box<dyn std::error::Error>> {
    Ok(std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .parse()?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One process, so one `service.name`; in production each service sets its own.
    let telemetry = Telemetry::from_env().service_name("two-services").init()?;

    let listener_b = tokio::net::TcpListener::bind(addr("ADDR_B", "127.0.0.1:3002")?).await?;
    let b_addr = listener_b.local_addr()?;
    let service_b = Router::new()
        .route("/inventory/{order}", get(inventory))
        .layer(TraceLayer::new())
        .layer(CorrelationLayer::new());

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
        .layer(CorrelationLayer::new());

    tracing::info!(a = %a_addr, b = %b_addr, "two services listening");
    let b = tokio::spawn(async move { axum::serve(listener_b, service_b).await });
    let a = axum::serve(listener_a, service_a).with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    a.await?;
    b.abort();
    telemetry.shutdown()?;
    Ok(())
}

/// Service A: `GET /checkout/{order}` asks service B for stock.
async fn checkout(
    State((client, b)): State<(HttpClient, String)>,
    Path(order): Path<u32>,
) -> Result<Json<Value>, StatusCode> {
    tracing::info!(order, "checking out");
    let request = http::Request::get(format!("{b}/inventory/{order}"))
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

/// Service B: `GET /inventory/{order}`.
async fn inventory(Path(order): Path<u32>) -> Json<Value> {
    tracing::info!(order, "reading stock");
    Json(json!({ "order": order, "available": order % 7 != 0 }))
}
