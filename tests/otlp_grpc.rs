//! Spans exported over OTLP/gRPC by the setup helper to a real receiver on 127.0.0.1: two real
//! services, A calling B through the client layers, make one trace with the right links and
//! kinds, and the captured JSON logs carry the exported trace ID.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use axum::Router;
use axum::routing::get;
use common::otlp::Collector;
use common::*;
use http::StatusCode;
use tower::{ServiceBuilder, ServiceExt};
use tower_telemetry::setup::{LogFormat, OtlpProtocol, TelemetryBuilder};
use tower_telemetry::trace::{TraceClientLayer, TraceLayer};
use tower_telemetry::{CorrelationClientLayer, CorrelationLayer};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// OTLP span kinds.
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
/// OTLP status code for errors.
const STATUS_ERROR: i32 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_to_b_is_one_exported_trace() {
    let collector = Collector::grpc().await;
    let telemetry = TelemetryBuilder::from_env()
        .log_format(LogFormat::Json)
        .filter("info")
        .writer(|| Capture)
        .service_name("otlp-grpc-test")
        .otlp_endpoint(format!("http://{}", collector.addr))
        .otlp_protocol(OtlpProtocol::Grpc)
        .init()
        .unwrap();

    let b = serve(
        Router::new()
            .route(
                "/b",
                get(|| async {
                    tracing::info!("in b");
                    "b"
                }),
            )
            .route(
                "/b/fail",
                get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .layer(TraceLayer::new())
            .layer(CorrelationLayer::new()),
    )
    .await;
    let outbound = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .layer(TraceClientLayer::new())
        .service(client());
    let a = serve(
        Router::new()
            .route(
                "/a",
                get(move || {
                    let outbound = outbound.clone();
                    async move {
                        tracing::info!("in a");
                        for path in ["/b", "/b/fail"] {
                            let request = http::Request::get(format!("http://{b}{path}"))
                                .body(http_body_util::Empty::<bytes::Bytes>::new())
                                .unwrap();
                            let response = outbound.clone().oneshot(request).await.unwrap();
                            http_body_util::BodyExt::collect(response.into_body())
                                .await
                                .unwrap();
                        }
                        "a"
                    }
                }),
            )
            .layer(TraceLayer::new())
            .layer(CorrelationLayer::new()),
    )
    .await;

    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let (status, _, _) = fetch(
        &client(),
        a,
        "/a",
        &[
            ("x-request-id", b"otlp-1"),
            ("traceparent", traceparent.as_bytes()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Shutting down flushes the batch processor to the collector.
    tokio::task::spawn_blocking(move || telemetry.shutdown().unwrap())
        .await
        .unwrap();
    let spans = collector
        .wait_until(|spans| spans.iter().filter(|s| s.trace_id() == TRACE).count() >= 5)
        .await;
    let spans: Vec<_> = spans
        .into_iter()
        .filter(|s| s.trace_id() == TRACE)
        .collect();
    assert_eq!(
        spans.len(),
        5,
        "A server, two A client spans, two B server spans"
    );
    assert!(spans.iter().all(|s| s.service == "otlp-grpc-test"));

    let a_server = spans.iter().find(|s| s.span.name == "GET /a").unwrap();
    assert_eq!(a_server.span.kind, SERVER);
    assert_eq!(a_server.parent_span_id(), PARENT);
    assert_eq!(a_server.attr("http.route").as_deref(), Some("/a"));
    assert_eq!(
        a_server.attr("tower_telemetry.correlation_id").as_deref(),
        Some("otlp-1")
    );
    assert_eq!(
        a_server.attr("http.response.status_code").as_deref(),
        Some("200")
    );

    let clients: Vec<_> = spans.iter().filter(|s| s.span.kind == CLIENT).collect();
    assert_eq!(clients.len(), 2);
    for client in &clients {
        assert_eq!(client.parent_span_id(), a_server.span_id());
    }
    for (path, status) in [("/b", "200"), ("/b/fail", "500")] {
        let server = spans
            .iter()
            .find(|s| s.span.kind == SERVER && s.attr("url.path").as_deref() == Some(path))
            .unwrap();
        let client = clients
            .iter()
            .find(|c| c.span_id() == server.parent_span_id())
            .unwrap_or_else(|| panic!("B's {path} span is the child of one of A's client spans"));
        assert_eq!(client.attr("url.full"), Some(format!("http://{b}{path}")));
        assert_eq!(
            server.attr("http.response.status_code").as_deref(),
            Some(status)
        );
        assert_eq!(
            server.attr("tower_telemetry.correlation_id").as_deref(),
            Some("otlp-1")
        );
        if status == "500" {
            assert_eq!(server.span.status.as_ref().unwrap().code, STATUS_ERROR);
            assert_eq!(server.attr("error.type").as_deref(), Some("500"));
            assert_eq!(client.span.status.as_ref().unwrap().code, STATUS_ERROR);
        }
    }

    for message in ["in a", "in b"] {
        let line = wait_for_line("otlp-1", message).await;
        assert_eq!(line["trace_id"], TRACE, "{message}");
    }
    let in_b = wait_for_line("otlp-1", "in b").await;
    let b_server = spans
        .iter()
        .find(|s| s.attr("url.path").as_deref() == Some("/b"))
        .unwrap();
    assert_eq!(in_b["span_id"], b_server.span_id());
}
