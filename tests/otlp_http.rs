//! Spans exported over OTLP/HTTP with protobuf bodies by the setup helper to a real receiver
//! on 127.0.0.1, with the attributes of the semantic conventions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use axum::Router;
use axum::routing::get;
use common::otlp::Collector;
use common::*;
use tower_telemetry::setup::{OtlpProtocol, TelemetryBuilder};
use tower_telemetry::{CorrelationLayer, TraceLayer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_span_reaches_the_collector_over_http() {
    let collector = Collector::http().await;
    let telemetry = TelemetryBuilder::from_env()
        .filter("info")
        .writer(|| Capture)
        .service_name("otlp-http-test")
        .otlp_endpoint(format!("http://{}", collector.addr))
        .otlp_protocol(OtlpProtocol::HttpProtobuf)
        .init()
        .unwrap();
    assert!(telemetry.tracer_provider().is_some());
    assert!(
        telemetry.logger_provider().is_some(),
        "the endpoint is every signal's"
    );

    let addr = serve(
        Router::new()
            .route("/users/{id}", get(|| async { "ok" }))
            .layer(TraceLayer::new())
            .layer(CorrelationLayer::new()),
    )
    .await;
    fetch(
        &client(),
        addr,
        "/users/42",
        &[("x-request-id", b"otlp-http-1")],
    )
    .await;
    let line = wait_for_line("otlp-http-1", "request completed").await;

    tokio::task::spawn_blocking(move || telemetry.shutdown().unwrap())
        .await
        .unwrap();
    let spans = collector
        .wait_until(|spans| {
            spans
                .iter()
                .any(|s| s.attr("tower_telemetry.correlation_id").as_deref() == Some("otlp-http-1"))
        })
        .await;
    let span = spans
        .iter()
        .find(|s| s.attr("tower_telemetry.correlation_id").as_deref() == Some("otlp-http-1"))
        .unwrap();
    assert_eq!(span.service, "otlp-http-test");
    assert_eq!(span.span.name, "GET /users/{id}");
    assert_eq!(span.span.kind, 2, "SERVER");
    assert_eq!(line["trace_id"], span.trace_id());
    assert_eq!(line["span_id"], span.span_id());
    for (key, value) in [
        ("http.request.method", "GET".to_owned()),
        ("url.path", "/users/42".to_owned()),
        ("url.scheme", "http".to_owned()),
        ("http.route", "/users/{id}".to_owned()),
        ("server.address", "127.0.0.1".to_owned()),
        ("server.port", addr.port().to_string()),
        ("network.protocol.version", "1.1".to_owned()),
        ("http.response.status_code", "200".to_owned()),
    ] {
        assert_eq!(span.attr(key), Some(value), "{key}");
    }
}
