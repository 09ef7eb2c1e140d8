//! The application's own telemetry reaches the collector with ours: the quickstart runs as a
//! process, as a user runs it, exporting to a real OTLP receiver on loopback, with
//! `RUST_LOG=warn` quieting its console.
//!
//! - its `#[instrument]` and `info_span!` spans are exported in the right place of the trace:
//!   SERVER → `user_summary` → `fetch_user` → CLIENT → downstream SERVER, one trace ID, every
//!   parent ID right, with their fields as attributes; the crate's internal `request` span is
//!   not exported, and the server span is not doubled;
//! - its log records arrive over OTLP with the trace and span IDs of the request's server
//!   span and the correlation ID of the response header.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use common::get_with_id as get;
use common::otlp::{Collector, Received};
use common::process::{Example, free_addr, quickstart};

fn one<'a>(spans: &'a [Received], what: &str, wanted: impl Fn(&Received) -> bool) -> &'a Received {
    let found: Vec<_> = spans.iter().filter(|s| wanted(s)).collect();
    assert_eq!(found.len(), 1, "exactly one {what} in {spans:#?}");
    found[0]
}

/// The quickstart exporting to `collector` over `protocol`.
async fn start(collector: &Collector, protocol: &str) -> (Example, String) {
    let endpoint = format!("http://{}", collector.addr);
    let (example, addr, _) = quickstart(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
    ])
    .await;
    (example, addr)
}

async fn the_handler_spans_sit_between_the_server_and_client_spans(protocol: &str) {
    let collector = Collector::start().await;
    let (mut quickstart, addr) = start(&collector, protocol).await;
    let id = format!("bridge-{}", protocol.replace('/', "-"));
    let (status, _) = get(&addr, "/users/42/summary", &id).await;
    assert_eq!(status, 200);

    let spans = collector
        .wait_until(|spans| {
            // The summary's server span, and four more spans in its trace.
            spans
                .iter()
                .find(|s| s.attr("tower_telemetry.correlation_id").as_deref() == Some(id.as_str()))
                .is_some_and(|server| {
                    spans
                        .iter()
                        .filter(|s| s.trace_id() == server.trace_id())
                        .count()
                        >= 5
                })
        })
        .await;
    let server = one(&spans, "summary server span", |s| {
        s.span.name == "GET /users/{id}/summary"
    });
    let trace_id = server.trace_id();
    let in_trace: Vec<Received> = spans
        .iter()
        .filter(|s| s.trace_id() == trace_id)
        .cloned()
        .collect();
    let handler = one(&in_trace, "user_summary span", |s| {
        s.span.name == "user_summary"
    });
    let fetch = one(&in_trace, "fetch_user span", |s| {
        s.span.name == "fetch_user"
    });
    let client = one(&in_trace, "client span", |s| s.span.kind == 3);
    let downstream = one(&in_trace, "downstream server span", |s| {
        s.span.name == "GET /users/{id}"
    });
    assert_eq!(server.span.kind, 2, "SERVER");
    assert_eq!(
        handler.parent_span_id(),
        server.span_id(),
        "handler under the server span"
    );
    assert_eq!(
        fetch.parent_span_id(),
        handler.span_id(),
        "nested span under the handler"
    );
    assert_eq!(
        client.parent_span_id(),
        fetch.span_id(),
        "client span under the nested span"
    );
    assert_eq!(
        downstream.parent_span_id(),
        client.span_id(),
        "downstream under the client"
    );
    assert_eq!(downstream.span.kind, 2, "SERVER");
    // The outbound call inside the bridged spans carried the request's correlation ID, which
    // CorrelationClientLayer reads from CorrelationId::current().
    assert_eq!(
        downstream.attr("tower_telemetry.correlation_id").as_deref(),
        Some(id.as_str()),
        "{downstream:#?}"
    );
    // The handler spans' fields are attributes, and they are INTERNAL spans of the service.
    for span in [handler, fetch] {
        assert_eq!(span.attr("user.id").as_deref(), Some("42"), "{span:#?}");
        assert_eq!(span.span.kind, 1, "INTERNAL");
        assert_eq!(span.service, "quickstart");
    }
    // Nothing else in the trace: no `request` span, no second server span.
    assert_eq!(in_trace.len(), 5, "{in_trace:#?}");
    assert!(spans.iter().all(|s| s.span.name != "request"), "{spans:#?}");

    quickstart.signal("TERM");
    assert_eq!(quickstart.exit_code().await, Some(0));
    // RUST_LOG=warn quieted the console: no info line, the access log included.
    assert!(
        quickstart
            .seen()
            .iter()
            .all(|line| !line.contains(r#""level":"INFO""#)),
        "{:#?}",
        quickstart.seen()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_spans_sit_between_the_server_and_client_spans_over_http() {
    the_handler_spans_sit_between_the_server_and_client_spans("http/protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_spans_sit_between_the_server_and_client_spans_over_grpc() {
    the_handler_spans_sit_between_the_server_and_client_spans("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_records_arrive_with_the_trace_and_the_correlation_id() {
    let collector = Collector::start().await;
    let (mut quickstart, addr) = start(&collector, "http/protobuf").await;
    let (status, headers) = get(&addr, "/users/4242", "logs-over-otlp").await;
    assert_eq!(status, 404);
    assert_eq!(headers["x-request-id"], "logs-over-otlp");

    let logs = collector
        .wait_for_logs(|logs| {
            logs.iter()
                .any(|l| l.body().as_deref() == Some("no such user"))
        })
        .await;
    let spans = collector
        .wait_until(|spans| spans.iter().any(|s| s.span.name == "GET /users/{id}"))
        .await;
    let record = logs
        .iter()
        .find(|l| l.body().as_deref() == Some("no such user"))
        .unwrap();
    let server = one(&spans, "server span", |s| s.span.name == "GET /users/{id}");
    assert_eq!(record.trace_id(), server.trace_id(), "{record:#?}");
    assert_eq!(record.span_id(), server.span_id(), "{record:#?}");
    assert_eq!(
        record.attr("tower_telemetry.correlation_id").as_deref(),
        Some("logs-over-otlp")
    );
    assert_eq!(record.attr("user.id").as_deref(), Some("4242"));
    assert_eq!(record.record.severity_text, "WARN");
    assert_eq!(record.service, "quickstart");
    // RUST_LOG=warn filters the exported records as it filters the lines: no info record.
    assert!(
        logs.iter().all(|l| l.record.severity_text != "INFO"),
        "{logs:#?}"
    );
    quickstart.signal("TERM");
    assert_eq!(quickstart.exit_code().await, Some(0));
}

async fn metrics_are_pushed_with_their_names_units_and_buckets(protocol: &str) {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;

    let collector = Collector::start().await;
    let endpoint = format!("http://{}", collector.addr);
    let (mut quickstart, addr, _) = quickstart(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
    ])
    .await;
    for n in 0..3 {
        assert_eq!(
            get(&addr, "/users/42", &format!("metrics-{n}")).await.0,
            200
        );
    }
    let route = |attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue]| {
        common::otlp::attrs(attributes)
            .contains(&("http.route".to_owned(), "/users/{id}".to_owned()))
    };
    let received = collector
        .wait_for_metrics(|metrics| {
            metrics.iter().any(|m| match &m.metric.data {
                Some(Data::Histogram(h)) => {
                    m.metric.name == "http.server.request.duration"
                        && h.data_points
                            .iter()
                            .any(|p| route(&p.attributes) && p.count >= 3)
                }
                _ => false,
            }) && metrics
                .iter()
                .any(|m| m.metric.name == "http.server.active_requests")
        })
        .await;
    let duration = received
        .iter()
        .rev()
        .find(|m| m.metric.name == "http.server.request.duration")
        .unwrap();
    assert_eq!(duration.metric.unit, "s");
    assert_eq!(duration.service, "quickstart");
    let Some(Data::Histogram(histogram)) = &duration.metric.data else {
        panic!("a histogram: {duration:#?}")
    };
    let point = histogram
        .data_points
        .iter()
        .find(|p| route(&p.attributes))
        .unwrap();
    assert_eq!(point.count, 3, "{point:#?}");
    assert_eq!(
        point.explicit_bounds,
        tower_telemetry::metrics::DURATION_BUCKETS.to_vec(),
        "the same buckets as the Prometheus endpoint"
    );
    assert_eq!(point.bucket_counts.iter().sum::<u64>(), 3);
    let attributes = common::otlp::attrs(&point.attributes);
    for (key, value) in [
        ("http.request.method", "GET"),
        ("http.response.status_code", "200"),
        ("url.scheme", "http"),
    ] {
        assert!(
            attributes.contains(&(key.to_owned(), value.to_owned())),
            "{key}={value} in {attributes:?}"
        );
    }
    assert!(
        !attributes.iter().any(|(key, _)| key == "error.type"),
        "no error.type on a success: {attributes:?}"
    );
    let active = received
        .iter()
        .rev()
        .find(|m| m.metric.name == "http.server.active_requests")
        .unwrap();
    let values: Vec<f64> = match &active.metric.data {
        Some(Data::Gauge(gauge)) => gauge
            .data_points
            .iter()
            .filter_map(|p| match p.value {
                Some(Value::AsDouble(v)) => Some(v),
                Some(Value::AsInt(v)) => Some(v as f64),
                None => None,
            })
            .collect(),
        other => panic!("a gauge: {other:#?}"),
    };
    assert!(
        values.contains(&0.0),
        "no request in flight at the end: {values:?}"
    );
    quickstart.signal("TERM");
    assert_eq!(quickstart.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_pushed_with_their_names_units_and_buckets_over_http() {
    metrics_are_pushed_with_their_names_units_and_buckets("http/protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_pushed_with_their_names_units_and_buckets_over_grpc() {
    metrics_are_pushed_with_their_names_units_and_buckets("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manual_wiring_example_puts_the_handler_spans_under_the_server_span() {
    let collector = Collector::start().await;
    let addr = free_addr();
    let endpoint = format!("http://{}", collector.addr);
    let mut example = Example::start(
        "manual_wiring",
        &[],
        &[
            ("ADDR", &addr),
            ("RUST_LOG", "warn"),
            ("SHUTDOWN_DRAIN_MS", "0"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    common::until("the example listening", async || {
        tokio::net::TcpStream::connect(&addr).await.is_ok()
    })
    .await;
    assert_eq!(get(&addr, "/orders/7", "manual-wiring").await.0, 200);
    let spans = collector
        .wait_until(|spans| spans.iter().any(|s| s.span.name == "price"))
        .await;
    let server = one(&spans, "server span", |s| s.span.name == "GET /orders/{id}");
    let order = one(&spans, "order span", |s| s.span.name == "order");
    let price = one(&spans, "price span", |s| s.span.name == "price");
    assert_eq!(order.parent_span_id(), server.span_id());
    assert_eq!(price.parent_span_id(), order.span_id());
    assert_eq!(order.attr("order.id").as_deref(), Some("7"));
    assert_eq!(
        server.attr("tower_telemetry.correlation_id").as_deref(),
        Some("manual-wiring")
    );
    assert!(spans.iter().all(|s| s.span.name != "request"), "{spans:#?}");
    example.signal("TERM");
    assert_eq!(example.exit_code().await, Some(0));
}
