//! gRPC with tonic: a server and a client with correlation IDs, spans and metrics per the
//! OpenTelemetry RPC conventions.
//!
//! Run the server, then the client, in two terminals:
//!
//! ```sh
//! cargo run --example grpc -- server            # 127.0.0.1:50051 (GRPC_ADDR), metrics on 127.0.0.1:9465
//! cargo run --example grpc -- client            # calls GetItem (found, not found) and ListItems
//! ```
//!
//! What to look at:
//! - the server's JSON logs: each call has a `correlation_id` (the client's, sent in metadata)
//!   and a `trace_id` shared with the client's logs;
//! - `curl -s 127.0.0.1:9465/metrics`: `rpc_server_call_duration_seconds` by `rpc_system_name`,
//!   `rpc_method` (`inventory.v1.Inventory/GetItem`) and `rpc_status_code` (`OK`,
//!   `NOT_FOUND`, ...), per the current OpenTelemetry RPC conventions; the NOT_FOUND call has
//!   no `error_type` (the caller's mistake), the stream that ends with UNAVAILABLE in its
//!   trailers has `error_type="UNAVAILABLE"`;
//! - the standard gRPC health service: `grpc.health.v1.Health/Check` answers SERVING for
//!   `inventory.v1.Inventory`, driven by the same checks as HTTP readiness, and turns
//!   NOT_SERVING on SIGTERM or Ctrl-C, `SHUTDOWN_DRAIN_MS` (default 5000) before the server
//!   stops; health checks are in neither the spans nor the metrics;
//! - with `OTEL_EXPORTER_OTLP_ENDPOINT` set for both, one trace per call: the client's
//!   `inventory.v1.Inventory/GetItem` CLIENT span and the server's SERVER span under it.
//!
//! The service is in `inventory.proto`; `inventory.v1.rs` is generated from it, checked in so
//! that no protoc is needed (`cargo run --manifest-path tools/proto-gen/Cargo.toml` regenerates
//! it).

#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::unwrap_used,
    clippy::expect_used
)]
mod inventory {
    include!("inventory.v1.rs");
}
mod service;

#[path = "../common/serve.rs"]
mod serve;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use inventory::inventory_client::InventoryClient;
use inventory::inventory_server::InventoryServer;
use inventory::{GetItemRequest, ListItemsRequest};

use tonic::server::NamedService;
use tonic::transport::{Channel, Server};
use tower::ServiceBuilder;
use tower_telemetry::correlation::{CorrelationClientLayer, CorrelationId};
use tower_telemetry::health::{Check, Health, Shutdown};
use tower_telemetry::metrics::MetricsClientLayer;
use tower_telemetry::setup::{TEXT_CONTENT_TYPE, TelemetryBuilder};
use tower_telemetry::trace::TraceClientLayer;
use tower_telemetry::{CorrelationLayer, MetricsLayer, TraceLayer};

fn env_addr(var: &str, default: &str) -> Result<SocketAddr, Box<dyn std::error::Error>> {
    Ok(std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .parse()?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let role = std::env::args().nth(1).unwrap_or_default();
    match role.as_str() {
        "server" => server().await,
        "client" => client().await,
        _ => {
            eprintln!("usage: cargo run --example grpc -- server|client");
            std::process::exit(2);
        }
    }
}

async fn server() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = TelemetryBuilder::from_env()
        .service_name("inventory")
        .init()?;
    let addr = env_addr("GRPC_ADDR", "127.0.0.1:50051")?;

    // The standard gRPC health service, from the same checks as HTTP readiness would use.
    let health = Health::builder()
        .check(Check::new("warehouse", || async { Ok::<_, String>(()) }))
        .build();
    // SIGTERM or SIGINT: NOT_SERVING at once, serve for SHUTDOWN_DRAIN_MS (default 5 s), then
    // stop accepting calls and let the calls in flight finish.
    let shutdown = Shutdown::new(&health);
    let grpc_health = health
        .grpc_service(
            [InventoryServer::<service::InventoryService>::NAME],
            Duration::from_secs(1),
        )
        .await;

    let metrics_listener =
        tokio::net::TcpListener::bind(env_addr("METRICS_ADDR", "127.0.0.1:9465")?).await?;
    let prometheus = telemetry.prometheus().cloned();
    let metrics = tokio::spawn(serve::serve(
        metrics_listener,
        Router::new().route(
            "/metrics",
            // OpenMetrics, with exemplars, to a scraper that asks for it.
            get(move |headers: http::HeaderMap| {
                let (content_type, body) = match &prometheus {
                    Some(p) => p.render_for(headers.get(http::header::ACCEPT)),
                    None => (TEXT_CONTENT_TYPE, String::new()),
                };
                async move { ([("content-type", content_type)], body) }
            }),
        ),
        shutdown.stopping(),
    ));

    // Bound before saying so, so that a client started on that line finds it.
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "inventory gRPC server listening");
    // HTTP/2 only: a ping on idle connections, closed when one goes unanswered for 20 s, and at
    // most 200 streams per connection (docs/operations/reliability.md).
    Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .max_concurrent_streams(Some(200))
        .layer(
            ServiceBuilder::new()
                .layer(CorrelationLayer::new())
                .layer(TraceLayer::new_for_grpc())
                .layer(MetricsLayer::new_for_grpc()),
        )
        .add_service(grpc_health)
        .add_service(InventoryServer::new(service::InventoryService::default()))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown.stopping(),
        )
        .await?;
    metrics.await??;
    tracing::info!("inventory gRPC server stopped");
    // Flush the spans still queued; a collector that cannot take them is not a reason to fail.
    if let Err(err) = telemetry.shutdown() {
        tracing::warn!(error = %err, "flushing telemetry at exit");
    }
    Ok(())
}

async fn client() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = TelemetryBuilder::from_env()
        .service_name("inventory-client")
        .prometheus(false)
        .init()?;
    let addr = env_addr("GRPC_ADDR", "127.0.0.1:50051")?;
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    // The channel adds its origin below these layers: they learn the target from us, for
    // `server.address` and `server.port`.
    let target = addr.to_string();
    let channel = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .layer(TraceClientLayer::new_for_grpc().target(&target))
        .layer(MetricsClientLayer::new_for_grpc().target(&target))
        .service(channel);
    let mut client = InventoryClient::new(channel);

    // Everything in this block shares one correlation ID, sent in the calls' metadata.
    let id: CorrelationId = "grpc-example-1".parse()?;
    id.scope(async {
        for sku in ["sku-2", "sku-404"] {
            match client
                .get_item(GetItemRequest {
                    sku: sku.to_owned(),
                })
                .await
            {
                Ok(item) => tracing::info!(?item, "found"),
                Err(status) => tracing::info!(code = ?status.code(), "not found"),
            }
        }
        let request = ListItemsRequest {
            limit: 5,
            fail_after: 3,
            delay_ms: 50,
        };
        match client.list_items(request).await {
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(item)) => tracing::info!(?item, "streamed"),
                        Ok(None) => break,
                        Err(status) => {
                            tracing::info!(code = ?status.code(), "the stream ended with an error");
                            break;
                        }
                    }
                }
            }
            Err(status) => tracing::warn!(code = ?status.code(), "list failed"),
        }
    })
    .await;
    telemetry.shutdown()?;
    Ok(())
}
