//! The human-readable format of the setup helper: span fields, the correlation ID among them,
//! print before the message, also under a `warn` filter. (A separate test binary, since a process has one global
//! subscriber.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use tower::{ServiceBuilder, ServiceExt};
use tower_telemetry::CorrelationLayer;
use tower_telemetry::setup::{LogFormat, TelemetryBuilder};

#[tokio::test]
async fn text_lines_name_the_request_span_and_its_id() {
    let _telemetry = TelemetryBuilder::from_env()
        .log_format(LogFormat::Text)
        .filter("warn")
        .writer(|| common::Capture)
        .init()
        .unwrap();
    let second = TelemetryBuilder::from_env().writer(std::io::sink).init();
    assert!(
        second
            .unwrap_err()
            .to_string()
            .starts_with("could not install the metrics recorder"),
        "a second global recorder is refused, not a panic"
    );
    let third = TelemetryBuilder::from_env()
        .writer(std::io::sink)
        .prometheus(false)
        .init();
    assert!(
        third
            .unwrap_err()
            .to_string()
            .starts_with("could not install the subscriber"),
        "a second global subscriber is refused, not a panic"
    );

    let service = ServiceBuilder::new()
        .layer(CorrelationLayer::new())
        .service_fn(|_: http::Request<()>| async {
            tracing::info!("filtered out at warn");
            tracing::warn!(user = 7, "inside the handler");
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        });
    let request = http::Request::builder()
        .header("x-request-id", "text-1")
        .body(())
        .unwrap();
    service.oneshot(request).await.unwrap();

    let logs = common::raw_logs();
    let line = logs
        .lines()
        .find(|l| l.contains("inside the handler"))
        .unwrap_or_else(|| panic!("no handler line in {logs}"));
    assert!(line.contains("request{correlation_id=text-1}"), "{line}");
    assert!(line.contains("user=7"), "{line}");
    assert!(
        !line.contains('\u{1b}'),
        "no colour codes in a captured writer: {line}"
    );
    assert!(!line.starts_with('{'), "not JSON: {line}");
    assert!(line.contains("WARN"), "{line}");
    assert!(
        !logs.contains("filtered out at warn") && !logs.contains("tower_telemetry::access_log"),
        "the span directive enables the span only, no INFO lines: {logs}"
    );
}
