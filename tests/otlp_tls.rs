//! Export to collectors as they are in production, with the quickstart as a process configured
//! only by the standard `OTEL_*` variables:
//!
//! - a TLS collector (CA and certificates made by the test) that wants a client certificate
//!   and an API key gets spans and log records over both OTLP protocols, gzip-compressed;
//! - a CA that did not sign the collector's certificate fails with one clear warning, however
//!   many exports fail, and no panic;
//! - a collector that accepts connections and never answers does not hold the exit: the
//!   process ends with one warning and exit code 0;
//! - an endpoint that is not a URL fails at startup, naming the variable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use common::otlp::Collector;
use common::process::{Example, free_addr, quickstart as start};
use common::tls::Pki;

async fn get(addr: &str, path: &str, id: &str) -> u16 {
    common::get_with_id(addr, path, id).await.0
}

/// The value of the first sample of `metric` on the `/metrics` page whose labels contain
/// every one of `labels`, if any.
async fn sample(metrics: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    let (_, _, page) =
        common::fetch(&common::client(), metrics.parse().unwrap(), "/metrics", &[]).await;
    page.lines()
        .filter(|line| line.starts_with(metric))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

async fn a_tls_collector_gets_spans_and_logs_with_the_api_key(protocol: &str) {
    let pki = Pki::new(&format!("mtls-{}", protocol.replace('/', "-")));
    let collector = Collector::tls(&pki, true).await;
    let endpoint = format!("https://127.0.0.1:{}", collector.addr.port());
    let (ca, cert, key) = (
        pki.path("ca.pem"),
        pki.path("client.pem"),
        pki.path("client-key.pem"),
    );
    let (mut quickstart, addr, _) = start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", &ca),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &cert),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", &key),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=test-key-123"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_METRICS_EXPORTER", "otlp,prometheus"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
    ])
    .await;
    assert_eq!(get(&addr, "/users/4242", "over-tls").await, 404);

    let spans = collector
        .wait_until(|spans| {
            spans
                .iter()
                .any(|s| s.attr("tower_telemetry.correlation_id").as_deref() == Some("over-tls"))
        })
        .await;
    let server = spans
        .iter()
        .find(|s| s.attr("tower_telemetry.correlation_id").as_deref() == Some("over-tls"))
        .unwrap();
    let logs = collector
        .wait_for_logs(|logs| {
            logs.iter()
                .any(|l| l.attr("tower_telemetry.correlation_id").as_deref() == Some("over-tls"))
        })
        .await;
    let record = logs
        .iter()
        .find(|l| l.attr("tower_telemetry.correlation_id").as_deref() == Some("over-tls"))
        .unwrap();
    assert_eq!(record.trace_id(), server.trace_id());
    collector
        .wait_for_metrics(|metrics| {
            metrics
                .iter()
                .any(|m| m.metric.name == "http.server.request.duration")
        })
        .await;
    // Every export carried the API key, compressed.
    let headers = collector.headers();
    assert!(headers.len() >= 2, "{headers:#?}");
    for export in &headers {
        assert_eq!(export["x-api-key"], "test-key-123", "{export:#?}");
        let encoding = export
            .get("content-encoding")
            .or_else(|| export.get("grpc-encoding"));
        assert_eq!(
            encoding.map(|v| v.as_bytes()),
            Some(&b"gzip"[..]),
            "{export:#?}"
        );
    }
    quickstart.signal("TERM");
    assert_eq!(quickstart.exit_code().await, Some(0));
    assert!(
        quickstart
            .seen()
            .iter()
            .all(|line| !line.contains("\"WARN\",\"target\":\"tower_telemetry::setup\"")),
        "no export problem: {:#?}",
        quickstart.seen()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_collector_gets_spans_and_logs_with_the_api_key_over_http() {
    a_tls_collector_gets_spans_and_logs_with_the_api_key("http/protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_collector_gets_spans_and_logs_with_the_api_key_over_grpc() {
    a_tls_collector_gets_spans_and_logs_with_the_api_key("grpc").await;
}

async fn a_wrong_ca_fails_with_one_clear_warning(protocol: &str) {
    let pki = Pki::new(&format!("wrong-ca-{}", protocol.replace('/', "-")));
    let collector = Collector::tls(&pki, false).await;
    let endpoint = format!("https://127.0.0.1:{}", collector.addr.port());
    let other = pki.path("other-ca.pem");
    let (mut quickstart, addr, metrics) = start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", &other),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
    ])
    .await;
    // Several exports fail, each counted in the exporter's own metric.
    let mut request = 0;
    common::until("three failed span exports", async || {
        request += 1;
        get(&addr, "/users/4242", &format!("wrong-ca-{request}")).await;
        sample(
            &metrics,
            "otel_sdk_exporter_span_exported_total",
            &["error_type=\"", "otel_component_type=\"otlp_"],
        )
        .await
        .is_some_and(|failed| failed >= 3.0)
    })
    .await;
    assert!(collector.spans().is_empty() && collector.logs().is_empty());
    quickstart.signal("TERM");
    assert_eq!(quickstart.exit_code().await, Some(0));
    let warnings: Vec<&String> = quickstart
        .seen()
        .iter()
        .filter(|line| line.contains("tower_telemetry::setup") && line.contains("failed"))
        .collect();
    // One warning per signal (spans and log records each have their exporter), no flood.
    assert!(
        (1..=2).contains(&warnings.len()),
        "one clear warning per exporter: {:#?}",
        quickstart.seen()
    );
    assert!(
        warnings[0].contains(&endpoint),
        "names the endpoint: {}",
        warnings[0]
    );
    assert!(
        quickstart
            .seen()
            .iter()
            .all(|line| !line.contains("panicked")),
        "{:#?}",
        quickstart.seen()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_with_one_clear_warning_over_http() {
    a_wrong_ca_fails_with_one_clear_warning("http/protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_fails_with_one_clear_warning_over_grpc() {
    a_wrong_ca_fails_with_one_clear_warning("grpc").await;
}

async fn a_collector_that_never_answers_does_not_hold_the_exit(protocol: &str) {
    // Accepts connections, reads nothing, answers nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counting = std::sync::Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            open.push(stream);
        }
    });
    let endpoint = format!("http://{silent}");
    let (mut quickstart, addr, _) = start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        // Longer than the process may take to stop: the exit must not wait for it.
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "60000"),
        ("OTEL_METRICS_EXPORTER", "otlp,prometheus"),
    ])
    .await;
    assert_eq!(get(&addr, "/users/4242", "silent-collector").await, 404);
    common::until("an export connection to the silent collector", async || {
        accepted.load(std::sync::atomic::Ordering::Relaxed) > 0
    })
    .await;
    let stopping = std::time::Instant::now();
    quickstart.signal("TERM");
    assert_eq!(
        quickstart.exit_code().await,
        Some(0),
        "{:#?}",
        quickstart.seen()
    );
    let took = stopping.elapsed();
    // The guard waits at most 5 s per signal, in parallel; generous for a busy machine, far
    // below the 60 s export timeout.
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    let seen = quickstart.seen();
    assert!(
        seen.iter().all(|line| !line.contains("panicked")),
        "{seen:#?}"
    );
    let warnings: Vec<_> = seen
        .iter()
        .filter(|line| line.contains("could not flush"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning at exit: {seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_does_not_hold_the_exit_over_http() {
    a_collector_that_never_answers_does_not_hold_the_exit("http/protobuf").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_does_not_hold_the_exit_over_grpc() {
    a_collector_that_never_answers_does_not_hold_the_exit("grpc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_is_not_a_url_fails_at_startup() {
    let mut quickstart = Example::start(
        "quickstart",
        &[],
        &[
            ("ADDR", &free_addr()),
            ("METRICS_ADDR", &free_addr()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ],
    );
    assert_ne!(quickstart.exit_code().await, Some(0));
    assert!(
        quickstart
            .seen()
            .iter()
            .any(|line| line.contains("OTEL_EXPORTER_OTLP_ENDPOINT")
                && line.contains("collector:4317")),
        "{:#?}",
        quickstart.seen()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_values_are_warnings_and_their_defaults_work() {
    let collector = Collector::start().await;
    let base = format!("http://{}", collector.addr);
    let (traces, metrics_url) = (format!("{base}/v1/traces"), format!("{base}/v1/metrics"));
    let (mut quickstart, addr, _) = start(&[
        ("LOG_FORMAT", "xml"),
        // Per-signal endpoints, used as they are; the generic one is not set.
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &metrics_url),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zip"),
        ("OTEL_LOGS_EXPORTER", "carrier-pigeon"),
        ("OTEL_METRICS_EXPORTER", "otlp,statsd"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "sometimes",
        ),
    ])
    .await;
    assert_eq!(get(&addr, "/users/42", "defaults-kept").await, 200);
    // The defaults work: http/protobuf to the per-signal URLs.
    collector
        .wait_until(|spans| {
            spans.iter().any(|s| {
                s.attr("tower_telemetry.correlation_id").as_deref() == Some("defaults-kept")
            })
        })
        .await;
    collector
        .wait_for_metrics(|m| {
            m.iter()
                .any(|m| m.metric.name == "http.server.request.duration")
        })
        .await;
    quickstart.signal("TERM");
    assert_eq!(quickstart.exit_code().await, Some(0));
    // No logs endpoint: nothing but spans and metrics was sent.
    assert!(collector.logs().is_empty());
    let seen = quickstart.seen();
    for variable in [
        "LOG_FORMAT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_LOGS_EXPORTER",
        "OTEL_METRICS_EXPORTER",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    ] {
        assert!(
            seen.iter().any(|line| line.contains(variable)
                && line.contains("using the default")
                && line.contains("tower_telemetry::setup")),
            "a warning names {variable}: {seen:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_files_that_cannot_be_used_fail_at_startup() {
    let pki = Pki::new("unusable");
    let missing = pki.path("missing.pem");
    let (cert, key) = (pki.path("client.pem"), pki.path("client-key.pem"));
    for (env, expected) in [
        (
            vec![("OTEL_EXPORTER_OTLP_CERTIFICATE", missing.as_str())],
            "OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read",
        ),
        (
            vec![(
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                cert.as_str(),
            )],
            "must be set together",
        ),
        (
            vec![
                ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", key.as_str()),
                ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key.as_str()),
            ],
            "the client certificate",
        ),
    ] {
        let mut all = vec![
            ("ADDR", "127.0.0.1:0"),
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:9"),
        ];
        all.extend(env);
        let mut quickstart = Example::start("quickstart", &[], &all);
        assert_ne!(quickstart.exit_code().await, Some(0));
        assert!(
            quickstart.seen().iter().any(|line| line.contains(expected)),
            "{expected}: {:#?}",
            quickstart.seen()
        );
    }
}
