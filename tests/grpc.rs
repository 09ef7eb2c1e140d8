//! gRPC end to end with a real tonic server and client on 127.0.0.1: spans and metrics per the
//! current RPC conventions (semantic-conventions v1.44.0), status from headers and trailers,
//! unknown methods as `_OTHER`, cancellation and deadlines, and one trace and one correlation ID
//! across gRPC client -> tonic server -> HTTP call -> axum server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

mod inventory;
#[path = "../examples/grpc/service.rs"]
#[allow(dead_code)]
mod service;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::emitted::{Emitted, assert_listed};
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
use tower_telemetry::metrics::MetricsClientLayer;
use tower_telemetry::trace::{TraceClient, TraceClientLayer};
use tower_telemetry::{CorrelationClientLayer, CorrelationLayer, MetricsLayer, TraceLayer};

const SERVICE: &str = "inventory.v1.Inventory";

/// The policy of the gRPC presets.
type Grpc =
    tower_telemetry::classify::SharedClassifier<tower_telemetry::classify::GrpcStatusClassifier>;
/// A tonic channel behind the three client layers.
type Instrumented = tower_telemetry::correlation::CorrelationClient<
    TraceClient<tower_telemetry::metrics::Metrics<Channel, Grpc>, SdkTracer, Grpc>,
>;

struct Harness {
    client: InventoryClient<Instrumented>,
    /// The bare channel, for calls no stub makes.
    channel: Channel,
    addr: SocketAddr,
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
}

async fn harness(lookup: Option<service::Lookup>) -> Harness {
    harness_with(lookup, None).await
}

/// The harness, with the server's layers recognizing only `recognized` methods when given.
async fn harness_with(lookup: Option<service::Lookup>, recognized: Option<&[&str]>) -> Harness {
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
                    .layer(match recognized {
                        Some(methods) => TraceLayer::with_tracer(provider.tracer("server"))
                            .grpc()
                            .recognized_methods(methods.iter().copied()),
                        None => TraceLayer::with_tracer(provider.tracer("server")).grpc(),
                    })
                    .layer(match recognized {
                        Some(methods) => {
                            MetricsLayer::new_for_grpc().recognized_methods(methods.iter().copied())
                        }
                        None => MetricsLayer::new_for_grpc(),
                    }),
            )
            .add_service(InventoryServer::new(service::InventoryService { lookup }))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let target = addr.to_string();
    let instrumented = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .layer(
            TraceClientLayer::with_tracer(provider.tracer("client"))
                .grpc()
                .target(&target),
        )
        .layer(MetricsClientLayer::new_for_grpc().target(&target))
        .service(channel.clone());
    Harness {
        client: InventoryClient::new(instrumented),
        channel,
        addr,
        exporter,
        provider,
    }
}

impl Harness {
    /// Waits (at most 10 s) for `count` spans named `{SERVICE}/{method}`.
    async fn spans(&self, method: &str, count: usize) -> Vec<SpanData> {
        self.named(&format!("{SERVICE}/{method}"), count).await
    }

    /// Waits (at most 10 s) for `count` spans named `name`.
    async fn named(&self, name: &str, count: usize) -> Vec<SpanData> {
        self.exporter_spans_with(|s| s.name == name, count).await
    }

    /// Waits (at most 10 s) for `count` spans that satisfy `wanted`.
    async fn exporter_spans_with(
        &self,
        wanted: impl Fn(&SpanData) -> bool,
        count: usize,
    ) -> Vec<SpanData> {
        let mut spans = Vec::new();
        until(&format!("{count} such spans"), async || {
            spans = self
                .exporter
                .get_finished_spans()
                .unwrap()
                .into_iter()
                .filter(|s| wanted(s))
                .collect();
            spans.len() >= count
        })
        .await;
        spans
    }
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == Key::from(key.to_owned()))
        .map(|kv| kv.value.clone())
}

/// The count of the server's calls of `method` with these labels.
fn server_calls(method: &str, code: &str, error: Option<&str>) -> Option<f64> {
    let method = format!("{SERVICE}/{method}");
    let mut labels = vec![
        ("rpc_system_name", "grpc"),
        ("rpc_method", method.as_str()),
        ("rpc_status_code", code),
    ];
    labels.extend(error.map(|e| ("error_type", e)));
    value("rpc_server_call_duration_seconds_count", &labels)
}

impl Harness {
    /// The count of the client's calls of `method` with these labels, to this server.
    fn client_calls(&self, method: &str, code: &str, error: Option<&str>) -> Option<f64> {
        let method = format!("{SERVICE}/{method}");
        let port = self.addr.port().to_string();
        let mut labels = vec![
            ("rpc_system_name", "grpc"),
            ("rpc_method", method.as_str()),
            ("rpc_status_code", code),
            ("server_address", "127.0.0.1"),
            ("server_port", port.as_str()),
        ];
        labels.extend(error.map(|e| ("error_type", e)));
        value("rpc_client_call_duration_seconds_count", &labels)
    }
}

fn text(value: &str) -> Option<Value> {
    Some(Value::from(value.to_owned()))
}

/// The tests share one recorder: each waits for its own increments.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    until(what, async || check()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_calls_follow_the_rpc_conventions() {
    let mut h = harness(None).await;
    let before_ok = server_calls("GetItem", "OK", None).unwrap_or(0.0);
    let before_missing = server_calls("GetItem", "NOT_FOUND", None).unwrap_or(0.0);
    let before_client = h
        .client_calls("GetItem", "NOT_FOUND", Some("NOT_FOUND"))
        .unwrap_or(0.0);

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
        server_calls("GetItem", "OK", None) == Some(before_ok + 1.0)
            && server_calls("GetItem", "NOT_FOUND", None) == Some(before_missing + 1.0)
            && h.client_calls("GetItem", "NOT_FOUND", Some("NOT_FOUND"))
                == Some(before_client + 1.0)
    })
    .await;

    let spans = h.spans("GetItem", 4).await;
    let server_ok = spans
        .iter()
        .find(|s| {
            s.span_kind == SpanKind::Server
                && attr(s, "tower_telemetry.correlation_id")
                    == Some(Value::from("grpc-unary".to_owned()))
        })
        .unwrap();
    assert_eq!(attr(server_ok, "rpc.system.name"), text("grpc"));
    assert_eq!(
        attr(server_ok, "rpc.method"),
        text("inventory.v1.Inventory/GetItem")
    );
    assert_eq!(attr(server_ok, "rpc.status_code"), text("OK"));
    assert_eq!(attr(server_ok, "server.address"), text("127.0.0.1"));
    assert_eq!(
        attr(server_ok, "server.port"),
        Some(Value::I64(i64::from(h.addr.port())))
    );
    assert_eq!(attr(server_ok, "error.type"), None, "only on failures");
    assert_eq!(
        attr(server_ok, "network.peer.address"),
        text("127.0.0.1"),
        "the connection's peer, from tonic (feature `tonic`)"
    );
    assert!(matches!(attr(server_ok, "network.peer.port"), Some(Value::I64(port)) if port > 0));
    for deprecated in [
        "rpc.system",
        "rpc.service",
        "rpc.grpc.status_code",
        "http.response.status_code",
    ] {
        assert_eq!(attr(server_ok, deprecated), None, "{deprecated}");
    }
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
    assert_eq!(attr(client_ok, "rpc.status_code"), text("OK"));
    assert_eq!(
        attr(client_ok, "server.address"),
        text("127.0.0.1"),
        "from the target: the channel's URIs are path-only here"
    );
    assert_eq!(
        attr(client_ok, "server.port"),
        Some(Value::I64(i64::from(h.addr.port())))
    );

    let server_missing = spans
        .iter()
        .find(|s| {
            s.span_kind == SpanKind::Server && attr(s, "rpc.status_code") == text("NOT_FOUND")
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
            s.span_kind == SpanKind::Client && attr(s, "rpc.status_code") == text("NOT_FOUND")
        })
        .unwrap();
    assert_eq!(
        client_missing.status,
        SpanStatus::error(""),
        "but the client's call failed"
    );
    assert_eq!(attr(client_missing, "error.type"), text("NOT_FOUND"));
    assert_eq!(attr(server_missing, "error.type"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_fails_in_its_trailers_is_a_failure_covering_the_whole_stream() {
    let mut h = harness(None).await;
    let before = server_calls("ListItems", "UNAVAILABLE", Some("UNAVAILABLE")).unwrap_or(0.0);
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
        server_calls("ListItems", "UNAVAILABLE", Some("UNAVAILABLE")) == Some(before + 1.0)
    })
    .await;
    let spans = h.spans("ListItems", 2).await;
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .unwrap();
    assert_eq!(attr(server, "rpc.status_code"), text("UNAVAILABLE"));
    assert_eq!(attr(server, "error.type"), text("UNAVAILABLE"));
    assert_eq!(server.status, SpanStatus::error(""));
    let duration = server.end_time.duration_since(server.start_time).unwrap();
    assert!(
        duration >= Duration::from_millis(150),
        "three messages 50 ms apart: {duration:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_ends_a_stream_is_no_failure_and_the_gauge_returns_to_zero() {
    let mut h = harness(None).await;
    // A first, complete call: the server now recognizes the method.
    let short = ListItemsRequest {
        limit: 1,
        fail_after: 0,
        delay_ms: 0,
    };
    let mut done = h.client.list_items(short).await.unwrap().into_inner();
    while done.message().await.unwrap().is_some() {}
    h.spans("ListItems", 2).await;

    let cancelled = || server_calls("ListItems", "CANCELLED", None);
    let before = cancelled().unwrap_or(0.0);
    let request = ListItemsRequest {
        limit: 1000,
        fail_after: 0,
        delay_ms: 20,
    };
    let mut stream = h.client.list_items(request).await.unwrap().into_inner();
    stream.message().await.unwrap().unwrap();
    let in_flight = || {
        value(
            "rpc_server_active_calls",
            &[
                ("rpc_system_name", "grpc"),
                ("rpc_method", "inventory.v1.Inventory/ListItems"),
            ],
        )
    };
    assert!(in_flight() >= Some(1.0), "{:?}", in_flight());
    drop(stream);
    eventually(
        "the cancelled stream is counted, without error_type",
        || cancelled() == Some(before + 1.0),
    )
    .await;
    eventually("no call is in flight", || in_flight() == Some(0.0)).await;

    let spans = h.spans("ListItems", 4).await;
    for kind in [SpanKind::Server, SpanKind::Client] {
        let span = spans
            .iter()
            .find(|s| s.span_kind == kind && attr(s, "rpc.status_code") == text("CANCELLED"))
            .unwrap_or_else(|| panic!("a cancelled {kind:?} span: {spans:#?}"));
        assert_eq!(span.status, SpanStatus::Unset, "{kind:?}: not an error");
        assert_eq!(attr(span, "error.type"), None, "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_drops_the_response_future_is_no_failure() {
    let lookup: service::Lookup =
        Arc::new(|_sku| Box::pin(async { tokio::time::sleep(Duration::from_secs(5)).await }));
    let mut h = harness(Some(lookup)).await;
    let abandoned = tokio::time::timeout(
        Duration::from_millis(200),
        h.client.get_item(GetItemRequest {
            sku: "sku-1".into(),
        }),
    )
    .await;
    assert!(abandoned.is_err(), "the caller gave up first");
    eventually("the client counts a cancelled call", || {
        h.client_calls("GetItem", "CANCELLED", None) >= Some(1.0)
    })
    .await;
    let spans = h
        .exporter_spans_with(
            |s| s.span_kind == SpanKind::Client && s.name == "inventory.v1.Inventory/GetItem",
            1,
        )
        .await;
    let client = &spans[0];
    assert_eq!(attr(client, "rpc.status_code"), text("CANCELLED"));
    assert_eq!(client.status, SpanStatus::Unset);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_its_deadline_is_deadline_exceeded_a_failure() {
    let lookup: service::Lookup =
        Arc::new(|_sku| Box::pin(async { tokio::time::sleep(Duration::from_secs(5)).await }));
    let mut h = harness(Some(lookup)).await;
    let mut request = tonic::Request::new(GetItemRequest {
        sku: "sku-1".into(),
    });
    request.set_timeout(Duration::from_millis(200));
    // tonic's server enforces `grpc-timeout` and answers CANCELLED "Timeout expired".
    let status = h.client.get_item(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Cancelled, "{status:?}");

    let spans = h
        .exporter_spans_with(
            |s| attr(s, "rpc.status_code") == text("DEADLINE_EXCEEDED"),
            2,
        )
        .await;
    for kind in [SpanKind::Server, SpanKind::Client] {
        let span = spans.iter().find(|s| s.span_kind == kind).unwrap();
        assert_eq!(span.status, SpanStatus::error(""), "{kind:?}");
        assert_eq!(
            attr(span, "error.type"),
            text("DEADLINE_EXCEEDED"),
            "{kind:?}"
        );
    }
    eventually("both sides count a failure", || {
        h.client_calls("GetItem", "DEADLINE_EXCEEDED", Some("DEADLINE_EXCEEDED")) >= Some(1.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_the_server_does_not_know_are_other_and_grow_no_series() {
    let h = harness(None).await;
    // The series of made-up methods, of any metric (the tests of this binary share one
    // recorder, so other series come and go meanwhile).
    let made_up = || {
        common::prom::samples(&prometheus().render())
            .into_iter()
            .filter(|s| {
                s.labels
                    .get("rpc_method")
                    .is_some_and(|m| m.starts_with('p') && m.contains(".S"))
            })
            .count()
    };
    let mut calls = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let channel = h.channel.clone();
        calls.spawn(async move {
            for i in 0..375 {
                let request = http::Request::post(format!("/p{worker}x{i}.S{i}/M{i}"))
                    .header("content-type", "application/grpc")
                    .header("te", "trailers")
                    .body(tonic::body::Body::empty())
                    .unwrap();
                let response = channel.clone().oneshot(request).await.unwrap();
                assert_eq!(response.headers()["grpc-status"], "12");
            }
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }
    eventually("3,000 made-up methods are counted as _OTHER", || {
        value(
            "rpc_server_call_duration_seconds_count",
            &[
                ("rpc_system_name", "grpc"),
                ("rpc_method", "_OTHER"),
                ("rpc_status_code", "UNIMPLEMENTED"),
                ("error_type", "UNIMPLEMENTED"),
            ],
        ) >= Some(3000.0)
    })
    .await;
    assert_eq!(made_up(), 0, "no series of their own");
    let scans = h.named("grpc", 1).await;
    let scan = &scans[0];
    assert_eq!(attr(scan, "rpc.method"), text("_OTHER"));
    assert!(
        attr(scan, "rpc.method_original")
            .is_some_and(|m| m.as_str().starts_with('p') && m.as_str().contains(".S")),
        "{scan:#?}"
    );
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
                && attr(s, "tower_telemetry.correlation_id")
                    == Some(Value::from("grpc-chain".to_owned()))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_presets_emit_is_the_checked_in_list_and_nothing_deprecated() {
    use std::collections::BTreeSet;
    let mut h = harness(None).await;
    // A success, a failure of the client's call, a stream failing in its trailers, and a method
    // the server does not have.
    let id: CorrelationId = "emitted-list".parse().unwrap();
    id.scope(h.client.get_item(GetItemRequest {
        sku: "sku-1".into(),
    }))
    .await
    .unwrap();
    let _ = h
        .client
        .get_item(GetItemRequest {
            sku: "sku-404".into(),
        })
        .await;
    let mut stream = h
        .client
        .list_items(ListItemsRequest {
            limit: 3,
            fail_after: 1,
            delay_ms: 0,
        })
        .await
        .unwrap()
        .into_inner();
    while let Ok(Some(_)) = stream.message().await {}
    let request = http::Request::post("/nope.v1.Nope/Nothing")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::empty())
        .unwrap();
    h.channel.clone().oneshot(request).await.unwrap();
    h.exporter_spans_with(|s| s.name == "grpc", 1).await;
    let spans = h
        .exporter_spans_with(|s| s.name.starts_with(SERVICE), 6)
        .await;
    eventually("the calls are counted", || {
        h.client_calls("GetItem", "NOT_FOUND", Some("NOT_FOUND")) >= Some(1.0)
    })
    .await;

    let list = Emitted::read("emitted-grpc.tsv");
    let listed = |signal: &str, instrument: &str| list.listed(signal, instrument);
    let required = |signal: &str, instrument: &str| list.required(signal, instrument);
    let all_spans = h.exporter.get_finished_spans().unwrap();
    for (kind, instrument) in [(SpanKind::Server, "server"), (SpanKind::Client, "client")] {
        let mine: Vec<&SpanData> = all_spans
            .iter()
            .filter(|s| s.span_kind == kind && (s.name.starts_with(SERVICE) || s.name == "grpc"))
            .collect();
        assert!(!mine.is_empty(), "{instrument} spans: {spans:#?}");
        let items: Vec<(String, BTreeSet<String>)> = mine
            .iter()
            .map(|s| {
                let keys = s.attributes.iter().map(|kv| kv.key.as_str().to_owned());
                (s.name.to_string(), keys.collect())
            })
            .collect();
        assert_listed(
            &format!("{instrument} spans"),
            &items,
            &listed("span", instrument),
            &required("span", instrument),
        );
    }

    let exposition = prometheus().render();
    for metric in [
        "rpc_server_call_duration_seconds",
        "rpc_client_call_duration_seconds",
        "rpc_server_active_calls",
        "rpc_client_active_calls",
    ] {
        let samples = common::prom::samples_of(&exposition, metric);
        assert!(!samples.is_empty(), "{metric} in {exposition}");
        let items: Vec<(String, BTreeSet<String>)> = samples
            .iter()
            .map(|s| {
                let labels = s.labels.keys().filter(|label| *label != "le").cloned();
                (format!("{s:?}"), labels.collect())
            })
            .collect();
        assert_listed(
            metric,
            &items,
            &listed("metric", metric),
            &required("metric", metric),
        );
    }

    // The names the registry deprecated appear nowhere, in spans or labels.
    let everything = format!("{all_spans:?}{exposition}");
    for deprecated in [
        "\"rpc.system\"",
        "rpc.service",
        "rpc.grpc.status_code",
        "rpc.response.status_code",
        "rpc_system=",
        "rpc_service",
        "rpc_grpc_status_code",
        "rpc_response_status_code",
    ] {
        assert!(
            !everything.contains(deprecated),
            "{deprecated} is deprecated"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_methods_decide_alone_and_absolute_uris_name_the_server() {
    let only_get = ["inventory.v1.Inventory/GetItem"];
    let h = harness_with(None, Some(&only_get)).await;
    let (addr, channel, provider) = (h.addr, h.channel.clone(), &h.provider);
    // `with_origin`: absolute URIs reach the layers, which take the server from them.
    let origin: http::Uri = format!("http://{addr}").parse().unwrap();
    let mut absolute = InventoryClient::with_origin(
        ServiceBuilder::new()
            .layer(
                TraceClientLayer::with_tracer(provider.tracer("client"))
                    .grpc()
                    .recognized_methods([SERVICE]),
            )
            .layer(MetricsClientLayer::new_for_grpc().recognized_methods([SERVICE]))
            .service(channel.clone()),
        origin,
    );
    // Path-only URIs and no target: no server; a list that does not name the method.
    let mut elsewhere = InventoryClient::new(
        ServiceBuilder::new()
            .layer(
                TraceClientLayer::with_tracer(provider.tracer("elsewhere"))
                    .grpc()
                    .recognized_methods(["other.v1.Other"]),
            )
            .service(channel),
    );
    absolute
        .get_item(GetItemRequest {
            sku: "sku-1".into(),
        })
        .await
        .unwrap();
    let mut stream = absolute
        .list_items(ListItemsRequest {
            limit: 1,
            fail_after: 0,
            delay_ms: 0,
        })
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}
    elsewhere
        .get_item(GetItemRequest {
            sku: "sku-2".into(),
        })
        .await
        .unwrap();

    let spans = h.exporter_spans_with(|_| true, 5).await;
    let find = |kind: SpanKind, what: &dyn Fn(&SpanData) -> bool| {
        spans
            .iter()
            .find(|s| s.span_kind == kind && what(s))
            .unwrap_or_else(|| panic!("no such {kind:?} span in {spans:#?}"))
    };
    let get = find(SpanKind::Server, &|s| {
        s.name == "inventory.v1.Inventory/GetItem"
    });
    assert_eq!(attr(get, "rpc.method_original"), None);
    // Answered, but not listed: `_OTHER`, whatever the answer.
    let list = find(SpanKind::Server, &|s| s.name == "grpc");
    assert_eq!(attr(list, "rpc.method"), text("_OTHER"));
    assert_eq!(
        attr(list, "rpc.method_original"),
        text("inventory.v1.Inventory/ListItems")
    );
    assert_eq!(attr(list, "rpc.status_code"), text("OK"));
    let client = find(SpanKind::Client, &|s| {
        s.name == "inventory.v1.Inventory/ListItems"
    });
    assert_eq!(attr(client, "server.address"), text("127.0.0.1"));
    assert_eq!(
        attr(client, "server.port"),
        Some(Value::I64(i64::from(addr.port())))
    );
    let unlisted = find(SpanKind::Client, &|s| s.name == "grpc");
    assert_eq!(attr(unlisted, "rpc.method"), text("_OTHER"));
    assert_eq!(
        attr(unlisted, "rpc.method_original"),
        text("inventory.v1.Inventory/GetItem")
    );
    assert_eq!(attr(unlisted, "server.address"), None, "nothing says which");

    let port = addr.port().to_string();
    eventually("the labels follow the lists and the URI", || {
        value(
            "rpc_server_call_duration_seconds_count",
            &[
                ("rpc_system_name", "grpc"),
                ("rpc_method", "_OTHER"),
                ("rpc_status_code", "OK"),
            ],
        ) >= Some(1.0)
            && value(
                "rpc_client_call_duration_seconds_count",
                &[
                    ("rpc_system_name", "grpc"),
                    ("rpc_method", "inventory.v1.Inventory/ListItems"),
                    ("rpc_status_code", "OK"),
                    ("server_address", "127.0.0.1"),
                    ("server_port", port.as_str()),
                ],
            ) >= Some(1.0)
    })
    .await;
}
