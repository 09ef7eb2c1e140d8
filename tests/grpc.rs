//! gRPC end to end with a real tonic server and client on 127.0.0.1: RPC-convention spans
//! and metrics, status from headers and trailers, cancellation mid-stream, and one trace and
//! one correlation ID across gRPC client -> tonic server -> HTTP call -> axum server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    dead_code,
    clippy::all
)]
mod inventory {
    include!("../examples/grpc/inventory.v1.rs");
}
#[path = "../examples/grpc/service.rs"]
#[allow(dead_code)]
mod service;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::prom::{prometheus, value};
use common::*;
use inventory::inventory_client::InventoryClient;
use inventory::inventory_server::InventoryServer;
use inventory::{GetItemRequest, ListItemsRequest};
use opentelemetry::trace::{SpanKind, Status as SpanStatus, TracerProvider as _};
use opentelemetry::{Key, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider, SpanData};
use tonic::transport::{Channel, Server};
use tower::{ServiceBuilder, ServiceExt};
use tower_telemetry::correlation::CorrelationId;
use tower_telemetry::metrics_layer::MetricsClientLayer;
use tower_telemetry::trace::{TraceClient, TraceClientLayer};
use tower_telemetry::{CorrelationClientLayer, CorrelationLayer, MetricsLayer, TraceLayer};

const SERVICE: &str = "inventory.v1.Inventory";

/// The policy of the gRPC presets.
type Grpc =
    tower_telemetry::classify::SharedClassifier<tower_telemetry::classify::GrpcErrorsAsFailures>;
/// A tonic channel behind the three client layers.
type Instrumented = tower_telemetry::correlation::CorrelationClient<
    TraceClient<tower_telemetry::metrics_layer::Metrics<Channel, Grpc>, SdkTracer, Grpc>,
>;

struct Harness {
    client: InventoryClient<Instrumented>,
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
}

async fn harness(lookup: Option<service::Lookup>) -> Harness {
    capture_logs();
    prometheus();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .layer(
                ServiceBuilder::new()
                    .layer(CorrelationLayer::new())
                    .layer(TraceLayer::with_tracer(provider.tracer("server")).grpc())
                    .layer(MetricsLayer::new_for_grpc()),
            )
            .add_service(InventoryServer::new(service::InventoryService { lookup }))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let channel = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .layer(TraceClientLayer::with_tracer(provider.tracer("client")).grpc())
        .layer(MetricsClientLayer::new_for_grpc())
        .service(channel);
    Harness {
        client: InventoryClient::new(channel),
        exporter,
        _provider: provider,
    }
}

impl Harness {
    /// Waits (at most 10 s) for the spans of `correlation_id`'s calls: (server, client).
    async fn spans(&self, method: &str, count: usize) -> Vec<SpanData> {
        let name = format!("{SERVICE}/{method}");
        for _ in 0..200 {
            let spans: Vec<_> = self
                .exporter
                .get_finished_spans()
                .unwrap()
                .into_iter()
                .filter(|s| s.name == name)
                .collect();
            if spans.len() >= count {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {count} spans named {name}");
    }
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == Key::from(key.to_owned()))
        .map(|kv| kv.value.clone())
}

/// The count of `side`'s (`server` or `client`) calls with these labels.
fn calls(side: &str, method: &str, code: &str, error: Option<&str>) -> Option<f64> {
    let mut labels = vec![
        ("rpc_system", "grpc"),
        ("rpc_service", SERVICE),
        ("rpc_method", method),
        ("rpc_grpc_status_code", code),
    ];
    labels.extend(error.map(|e| ("error_type", e)));
    value(&format!("rpc_{side}_call_duration_seconds_count"), &labels)
}

fn server_calls(method: &str, code: &str, error: Option<&str>) -> Option<f64> {
    calls("server", method, code, error)
}

fn client_calls(method: &str, code: &str, error: Option<&str>) -> Option<f64> {
    calls("client", method, code, error)
}

/// The tests share one recorder: each waits for its own increments.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_calls_follow_the_rpc_conventions() {
    let mut h = harness(None).await;
    let before_ok = server_calls("GetItem", "0", None).unwrap_or(0.0);
    let before_missing = server_calls("GetItem", "5", None).unwrap_or(0.0);
    let before_client = client_calls("GetItem", "5", Some("5")).unwrap_or(0.0);

    let id: CorrelationId = "grpc-unary".parse().unwrap();
    let item = id
        .scope(h.client.get_item(GetItemRequest {
            sku: "sku-2".into(),
        }))
        .await
        .unwrap();
    assert_eq!(item.metadata().get("x-request-id").unwrap(), "grpc-unary");
    assert_eq!(item.get_ref().name, "teapot");
    let missing = h
        .client
        .get_item(GetItemRequest {
            sku: "sku-404".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    eventually("the unary calls are counted", || {
        server_calls("GetItem", "0", None) == Some(before_ok + 1.0)
            && server_calls("GetItem", "5", None) == Some(before_missing + 1.0)
            && client_calls("GetItem", "5", Some("5")) == Some(before_client + 1.0)
    })
    .await;

    let spans = h.spans("GetItem", 4).await;
    let server_ok = spans
        .iter()
        .find(|s| {
            s.span_kind == SpanKind::Server
                && attr(s, "correlation_id") == Some(Value::from("grpc-unary".to_owned()))
        })
        .unwrap();
    assert_eq!(attr(server_ok, "rpc.system"), Some(Value::from("grpc")));
    assert_eq!(
        attr(server_ok, "rpc.service"),
        Some(Value::from(SERVICE.to_owned()))
    );
    assert_eq!(
        attr(server_ok, "rpc.method"),
        Some(Value::from("GetItem".to_owned()))
    );
    assert_eq!(attr(server_ok, "rpc.grpc.status_code"), Some(Value::I64(0)));
    assert_eq!(attr(server_ok, "http.response.status_code"), None);
    let client_ok = spans
        .iter()
        .find(|s| {
            s.span_kind == SpanKind::Client && s.span_context.span_id() == server_ok.parent_span_id
        })
        .expect("the server span is the child of the client span");
    assert_eq!(
        client_ok.span_context.trace_id(),
        server_ok.span_context.trace_id()
    );

    let server_missing = spans
        .iter()
        .find(|s| {
            s.span_kind == SpanKind::Server
                && attr(s, "rpc.grpc.status_code") == Some(Value::I64(5))
        })
        .unwrap();
    assert_eq!(
        server_missing.status,
        SpanStatus::Unset,
        "NOT_FOUND is the caller's doing"
    );
    let client_missing = spans
        .iter()
        .find(|s| {
            s.span_kind == SpanKind::Client
                && attr(s, "rpc.grpc.status_code") == Some(Value::I64(5))
        })
        .unwrap();
    assert_eq!(
        client_missing.status,
        SpanStatus::error(""),
        "but the client's call failed"
    );
    assert_eq!(
        attr(client_missing, "error.type"),
        Some(Value::from("5".to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_fails_in_its_trailers_is_a_failure_covering_the_whole_stream() {
    let mut h = harness(None).await;
    let before = server_calls("ListItems", "14", Some("14")).unwrap_or(0.0);
    let request = ListItemsRequest {
        limit: 10,
        fail_after: 3,
        delay_ms: 50,
    };
    let mut stream = h.client.list_items(request).await.unwrap().into_inner();
    let mut received = 0;
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => received += 1,
            Ok(None) => panic!("the stream ends with an error"),
            Err(status) => break status,
        }
    };
    assert_eq!(received, 3);
    assert_eq!(status.code(), tonic::Code::Unavailable);
    eventually("the stream is counted as a failure", || {
        server_calls("ListItems", "14", Some("14")) == Some(before + 1.0)
    })
    .await;
    let spans = h.spans("ListItems", 2).await;
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .unwrap();
    assert_eq!(attr(server, "rpc.grpc.status_code"), Some(Value::I64(14)));
    assert_eq!(
        attr(server, "error.type"),
        Some(Value::from("14".to_owned()))
    );
    assert_eq!(server.status, SpanStatus::error(""));
    let duration = server.end_time.duration_since(server.start_time).unwrap();
    assert!(
        duration >= Duration::from_millis(150),
        "three messages 50 ms apart: {duration:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_cancels_mid_stream_is_cancelled_and_the_gauge_returns_to_zero() {
    let mut h = harness(None).await;
    let before = value(
        "rpc_server_call_duration_seconds_count",
        &[
            ("rpc_system", "grpc"),
            ("rpc_service", SERVICE),
            ("rpc_method", "ListItems"),
            ("error_type", "cancelled"),
        ],
    )
    .unwrap_or(0.0);
    let request = ListItemsRequest {
        limit: 1000,
        fail_after: 0,
        delay_ms: 20,
    };
    let mut stream = h.client.list_items(request).await.unwrap().into_inner();
    stream.message().await.unwrap().unwrap();
    drop(stream);
    eventually("the cancelled stream is counted", || {
        value(
            "rpc_server_call_duration_seconds_count",
            &[
                ("rpc_system", "grpc"),
                ("rpc_service", SERVICE),
                ("rpc_method", "ListItems"),
                ("error_type", "cancelled"),
            ],
        ) == Some(before + 1.0)
    })
    .await;
    eventually("no call is in flight", || {
        value(
            "rpc_server_active_calls",
            &[("rpc_system", "grpc"), ("rpc_service", SERVICE)],
        ) == Some(0.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_and_one_correlation_id_from_grpc_client_to_axum_server() {
    // The axum server at the end of the chain reports what it received.
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let record = Arc::clone(&seen);
    let axum_server: SocketAddr = serve(
        Router::new()
            .route(
                "/stock",
                get(move |headers: http::HeaderMap| {
                    let record = Arc::clone(&record);
                    async move {
                        let header = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_owned();
                        record
                            .lock()
                            .unwrap()
                            .push((header("traceparent"), header("x-request-id")));
                        "12"
                    }
                }),
            )
            .layer(CorrelationLayer::new()),
    )
    .await;
    // The tonic handler calls it over HTTP through the client layers.
    let http = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .layer(TraceClientLayer::new())
        .service(client());
    let lookup: service::Lookup = Arc::new(move |_sku| {
        let http = http.clone();
        Box::pin(async move {
            let request = http::Request::get(format!("http://{axum_server}/stock"))
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            let response = http.oneshot(request).await.unwrap();
            http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap();
        })
    });
    let mut h = harness(Some(lookup)).await;
    let id: CorrelationId = "grpc-chain".parse().unwrap();
    id.scope(h.client.get_item(GetItemRequest {
        sku: "sku-1".into(),
    }))
    .await
    .unwrap();

    let spans = h.spans("GetItem", 2).await;
    let server = spans
        .iter()
        .find(|s| {
            s.span_kind == SpanKind::Server
                && attr(s, "correlation_id") == Some(Value::from("grpc-chain".to_owned()))
        })
        .unwrap();
    let (traceparent, request_id) = seen.lock().unwrap().pop().unwrap();
    assert_eq!(
        request_id, "grpc-chain",
        "the correlation ID crossed gRPC and HTTP"
    );
    assert_eq!(
        &traceparent[3..35],
        server.span_context.trace_id().to_string(),
        "the trace ID crossed gRPC and HTTP"
    );
}
