//! `TelemetryLayer` behaves exactly like `CorrelationLayer` + `TraceLayer` + `MetricsLayer`
//! stacked: the same requests, sent by a real hyper client to a real axum server on 127.0.0.1,
//! give the same response headers, the same spans, the same log lines and the same metrics
//! through both: successes, failures (a 500; gRPC statuses in the trailers and in a
//! trailers-only head), refused inbound headers, a body that breaks part-way, and calls the
//! client cancels, over HTTP/1.1 and gRPC.
//!
//! Each run has its own `tracing` subscriber, tracer provider and metrics recorder, made the
//! thread's defaults; the server and the client run on the test's current-thread runtime, so
//! everything they record lands in that run's captures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use bytes::Bytes;
use common::{SlowBody, client, fetch, serve};
use http::{HeaderMap, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Empty, StreamBody};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider, SpanData};
use serde_json::Value;
use tower_telemetry::all_in_one::TelemetryLayer;
use tower_telemetry::trace::TraceLayer;
use tower_telemetry::{CorrelationLayer, MetricsLayer};

const TRACEPARENT: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const INBOUND_ID: &[u8] = b"0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e";

/// Extra request headers: (name, value).
type Headers = &'static [(&'static str, &'static [u8])];

/// The requests every run sends: (path, extra headers).
const REQUESTS: &[(&str, Headers)] = &[
    ("/users/42", &[]),
    (
        "/users/7",
        &[("traceparent", TRACEPARENT), ("x-request-id", INBOUND_ID)],
    ),
    ("/fail/1", &[]),
    (
        "/users/1",
        &[
            ("x-request-id", b"not a valid id"),
            ("traceparent", b"00-zz-00f067aa0ba902b7-01"),
            ("baggage", b"=oops"),
        ],
    ),
    ("/livez", &[]),
    ("/nowhere", &[]),
    (
        "/users/9",
        &[("x-request-id", b"a"), ("x-request-id", b"b")],
    ),
];

/// How the layers are put on the router.
#[derive(Clone, Copy, Debug)]
enum How {
    Stacked,
    Fused,
    /// Under an outer `CorrelationLayer`, which chooses the ID and writes the access log.
    StackedUnderCorrelation,
    FusedUnderCorrelation,
}

fn http_app(how: How, tracer: SdkTracer) -> Router {
    let app = Router::new()
        .route(
            "/users/{id}",
            get(|| async {
                tracing::info!("loading user");
                "user"
            }),
        )
        .route(
            "/fail/{id}",
            get(|| async {
                tracing::warn!("failing on purpose");
                (StatusCode::INTERNAL_SERVER_ERROR, "boom")
            }),
        )
        .route("/livez", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async { Body::new(SlowBody::new(50, Duration::from_millis(20))) }),
        )
        .route("/echo", post(|| async { "posted" }))
        .route(
            "/broken",
            get(|| async {
                let frames = vec![
                    Ok(Frame::data(Bytes::from_static(b"part"))),
                    Err(std::io::Error::other("the disk went away")),
                ];
                Body::new(StreamBody::new(tokio_stream::iter(frames)))
            }),
        );
    let app = match how {
        How::Stacked | How::StackedUnderCorrelation => app
            .layer(MetricsLayer::new())
            .layer(TraceLayer::with_tracer(tracer))
            .layer(CorrelationLayer::new()),
        How::Fused | How::FusedUnderCorrelation => app.layer(TelemetryLayer::from_layers(
            CorrelationLayer::new(),
            TraceLayer::with_tracer(tracer),
            MetricsLayer::new(),
        )),
    };
    match how {
        How::StackedUnderCorrelation | How::FusedUnderCorrelation => {
            app.layer(CorrelationLayer::new())
        }
        How::Stacked | How::Fused => app,
    }
}

/// A gRPC-shaped endpoint: status in the trailers, as tonic sends it.
fn grpc_app(how: How, tracer: SdkTracer) -> Router {
    let reply = |code: &'static str| {
        move || async move {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", code.parse().unwrap());
            let frames = vec![
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"\0\0\0\0\0"))),
                Ok(Frame::trailers(trailers)),
            ];
            http::Response::builder()
                .header("content-type", "application/grpc")
                .body(Body::new(StreamBody::new(tokio_stream::iter(frames))))
                .unwrap()
        }
    };
    // A trailers-only answer: the status in the head, no body.
    let trailers_only = || async {
        http::Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "14")
            .body(Body::empty())
            .unwrap()
    };
    // A server stream the client stops reading.
    let stream = || async {
        http::Response::builder()
            .header("content-type", "application/grpc")
            .body(Body::new(SlowBody::new(50, Duration::from_millis(20))))
            .unwrap()
    };
    let app = Router::new()
        .route("/shop.v1.Inventory/Get", post(reply("0")))
        .route("/shop.v1.Inventory/Fail", post(reply("13")))
        .route("/shop.v1.Inventory/Missing", post(reply("5")))
        .route("/shop.v1.Inventory/Unavailable", post(trailers_only))
        .route("/shop.v1.Inventory/Watch", post(stream));
    match how {
        How::Stacked | How::StackedUnderCorrelation => app
            .layer(MetricsLayer::new_for_grpc())
            .layer(TraceLayer::with_tracer(tracer).grpc())
            .layer(CorrelationLayer::new()),
        How::Fused | How::FusedUnderCorrelation => app.layer(
            TelemetryLayer::from_layers(
                CorrelationLayer::new(),
                TraceLayer::with_tracer(tracer).grpc(),
                MetricsLayer::new_for_grpc(),
            )
            .classifier(tower_telemetry::classify::grpc_server_errors()),
        ),
    }
}

/// What one run recorded.
#[derive(Debug)]
struct Observed {
    responses: Vec<(StatusCode, BTreeMap<String, String>)>,
    spans: Vec<Value>,
    logs: Vec<Value>,
    metrics: Vec<String>,
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends the HTTP requests, plus one whose body fails part-way and one whose client goes away
/// mid-body, through `how`.
async fn run_http(how: How) -> Observed {
    run(
        how,
        http_app,
        r#"error_type="cancelled""#,
        |addr| async move {
            let client = client();
            let mut responses = Vec::new();
            for (path, headers) in REQUESTS {
                let (status, headers, _) = fetch(&client, addr, path, headers).await;
                responses.push((status, headers));
            }
            // The body fails after its first frame. hyper may not have flushed the head by
            // then, so the client sees the stream or the connection cut; either way the
            // request counts once (a placeholder, the same for both runs).
            let broken = client
                .request(
                    http::Request::get(format!("http://{addr}/broken"))
                        .body(Empty::<Bytes>::new())
                        .unwrap(),
                )
                .await;
            if let Ok(response) = broken {
                assert!(
                    response.into_body().collect().await.is_err(),
                    "the body broke"
                );
            }
            responses.push((StatusCode::OK, HeaderMap::new()));
            // The client reads the head and goes away: the server drops the body part-way.
            let response = client
                .request(
                    http::Request::get(format!("http://{addr}/slow"))
                        .body(Empty::<Bytes>::new())
                        .unwrap(),
                )
                .await
                .unwrap();
            responses.push((response.status(), response.headers().clone()));
            drop(response);
            responses
        },
    )
    .await
}

/// Sends gRPC-shaped calls through `how`: OK, INTERNAL and NOT_FOUND in the trailers,
/// UNAVAILABLE in a trailers-only head, and a server stream the client cancels.
async fn run_grpc(how: How) -> Observed {
    run(
        how,
        grpc_app,
        r#"rpc_status_code="CANCELLED""#,
        |addr| async move {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .http2_only(true)
                    .build_http::<Empty<Bytes>>();
            let mut responses = Vec::new();
            for method in ["Get", "Fail", "Missing"] {
                let response = client
                    .request(
                        http::Request::post(format!("http://{addr}/shop.v1.Inventory/{method}"))
                            .header("content-type", "application/grpc")
                            .header("te", "trailers")
                            .body(Empty::new())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                let (parts, body) = response.into_parts();
                let collected = body.collect().await.unwrap();
                assert!(
                    collected.trailers().is_some(),
                    "the status travels in trailers"
                );
                responses.push((parts.status, parts.headers));
            }
            let call = |method: &str| {
                http::Request::post(format!("http://{addr}/shop.v1.Inventory/{method}"))
                    .header("content-type", "application/grpc")
                    .header("te", "trailers")
                    .body(Empty::new())
                    .unwrap()
            };
            let response = client.request(call("Unavailable")).await.unwrap();
            assert_eq!(response.headers()["grpc-status"], "14");
            responses.push((response.status(), response.headers().clone()));
            // The client reads the head of the stream and cancels the call.
            let response = client.request(call("Watch")).await.unwrap();
            responses.push((response.status(), response.headers().clone()));
            drop(response);
            responses
        },
    )
    .await
}

async fn run<F, Fut>(
    how: How,
    app: fn(How, SdkTracer) -> Router,
    cancelled: &str,
    send: F,
) -> Observed
where
    F: FnOnce(std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = Vec<(StatusCode, HeaderMap)>>,
{
    let logs = Buffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_span_list(true)
        .with_current_span(false)
        .with_env_filter("info,tower_telemetry=debug")
        .with_writer(move || writer.clone())
        .finish();
    let _subscriber = tracing::subscriber::set_default(subscriber);
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&tower_telemetry::metrics::DURATION_BUCKETS)
        .unwrap()
        .build_recorder();
    let handle = recorder.handle();
    let _recorder = metrics::set_default_local_recorder(&recorder);
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();

    let addr = serve(app(how, provider.tracer("equivalence"))).await;
    let responses = send(addr).await;
    let expected_spans = responses
        .iter()
        .filter(|(_, headers)| headers.contains_key("x-request-id"))
        .count()
        - 1; // `/livez` gets no span
    // Spans end when the server is done with each body; the last one when it notices the
    // client went away.
    // Every request writes one access-log line, the cancelled one when the server notices.
    let access_logs = || {
        String::from_utf8_lossy(&logs.0.lock().unwrap())
            .lines()
            .filter(|line| line.contains(r#""target":"tower_telemetry::access_log""#))
            .count()
    };
    let sent = responses.len();
    common::until(
        "every span, the cancellation and every access-log line",
        async || {
            exporter.get_finished_spans().unwrap().len() >= expected_spans
                && handle.render().contains(cancelled)
                && access_logs() >= sent
        },
    )
    .await;

    let responses = responses
        .into_iter()
        .map(|(status, headers)| {
            let headers = headers
                .iter()
                .filter(|(name, _)| *name != "date")
                .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
                .collect();
            (status, headers)
        })
        .collect();
    let mut spans: Vec<Value> = exporter
        .get_finished_spans()
        .unwrap()
        .iter()
        .map(span_json)
        .collect();
    spans.sort_by_key(|span| span.to_string());
    let logs = String::from_utf8(logs.0.lock().unwrap().clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| {
            line["target"] != "h2::codec::framed_read"
                && line["target"] != "h2::codec::framed_write"
        })
        .collect();
    Observed {
        responses,
        spans,
        logs,
        metrics: metric_lines(&handle.render()),
    }
}

/// A span as data, without what differs between runs (IDs, times).
fn span_json(span: &SpanData) -> Value {
    let mut attributes: BTreeMap<String, String> = span
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect();
    if let Some(id) = attributes.get_mut("tower_telemetry.correlation_id") {
        *id = shape(id);
    }
    for port in ["server.port", "client.port"] {
        attributes.remove(port);
    }
    serde_json::json!({
        "name": span.name,
        "kind": format!("{:?}", span.span_kind),
        "status": format!("{:?}", span.status),
        "attributes": attributes,
        "parent": span.parent_span_id.to_string(),
        "remote_parent": span.parent_span_is_remote,
        "trace": if span.parent_span_is_remote { span.span_context.trace_id().to_string() } else { "new".to_owned() },
        "links": span.links.links.len(),
    })
}

/// Generated IDs differ between runs; their shape must not.
fn shape(value: &str) -> String {
    let hex = |len: usize| value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit());
    if value.as_bytes() == INBOUND_ID || value == "4bf92f3577b34da6a3ce929d0e0e4736" {
        value.to_owned()
    } else if hex(32) {
        "<trace id>".to_owned()
    } else if hex(16) {
        "<span id>".to_owned()
    } else if let Ok(uuid) = uuid::Uuid::try_parse(value) {
        format!("<uuid v{}>", uuid.get_version_num())
    } else {
        value.to_owned()
    }
}

/// Replaces generated IDs and measured times in a log line.
fn normalise(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("timestamp");
            map.remove("duration_ms");
            map.remove("threadId");
            for (_, v) in map.iter_mut() {
                normalise(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        Value::String(s) => *s = shape(s),
        _ => {}
    }
}

/// The Prometheus exposition without what differs between runs: measured durations (sums) and
/// the exact buckets they fell in; counts and in-flight gauges stay.
fn metric_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter(|line| !line.contains("_sum") && !line.contains("_bucket"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

fn assert_equivalent(stacked: Observed, fused: Observed) {
    // Every response carries an ID of the same kind in the same header.
    let ids = |observed: &Observed| -> Vec<(StatusCode, BTreeMap<String, String>)> {
        observed
            .responses
            .iter()
            .map(|(status, headers)| {
                let headers = headers.iter().map(|(k, v)| (k.clone(), shape(v))).collect();
                (*status, headers)
            })
            .collect()
    };
    assert_eq!(ids(&stacked), ids(&fused), "responses");
    assert!(!stacked.spans.is_empty());
    assert_eq!(stacked.spans, fused.spans, "spans");

    // Every log line of a request carries that request's IDs, through both.
    for observed in [&stacked, &fused] {
        for line in &observed.logs {
            if let Some(request) = line["spans"]
                .as_array()
                .and_then(|spans| spans.iter().find(|s| s["name"] == "request"))
            {
                assert!(request["correlation_id"].is_string(), "{line}");
            }
        }
        // The lines that say why an inbound header was refused are inside the request's span.
        let refusals: Vec<_> = observed
            .logs
            .iter()
            .filter(|line| {
                line["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("refused"))
            })
            .collect();
        for line in refusals {
            assert_eq!(line["spans"][0]["name"], "request", "{line}");
            assert!(line["spans"][0]["correlation_id"].is_string(), "{line}");
        }
    }
    let normalised = |observed: &Observed| -> Vec<Value> {
        let mut logs = observed.logs.clone();
        logs.iter_mut().for_each(normalise);
        // One known difference: stacked under axum, the trace layer inside is called on the
        // first poll, after the correlation layer has logged why it refused an inbound ID, so
        // that line has no trace IDs yet; fused, it has them. Compare the rest.
        for line in &mut logs {
            if line["target"] == "tower_telemetry::correlation::service"
                && let Some(spans) = line["spans"].as_array_mut()
            {
                for span in spans {
                    if let Some(span) = span.as_object_mut() {
                        span.remove("trace_id");
                        span.remove("span_id");
                    }
                }
            }
        }
        logs.sort_by_key(|line| line.to_string());
        logs
    };
    let (stacked_logs, fused_logs) = (normalised(&stacked), normalised(&fused));
    assert!(
        stacked_logs
            .iter()
            .any(|line| line["fields"]["message"] == "request completed"),
        "the access log is on: {stacked_logs:#?}"
    );
    assert_eq!(stacked_logs, fused_logs, "log lines");

    assert!(!stacked.metrics.is_empty());
    assert_eq!(stacked.metrics, fused.metrics, "metrics");
}

#[tokio::test]
async fn http_requests_look_the_same_stacked_and_fused() {
    let stacked = run_http(How::Stacked).await;
    let fused = run_http(How::Fused).await;
    assert!(
        stacked
            .metrics
            .iter()
            .any(|line| line.contains("error_type=\"cancelled\"")),
        "the abandoned request is counted as cancelled: {:#?}",
        stacked.metrics
    );
    assert!(
        stacked
            .metrics
            .iter()
            .any(|line| line.contains("http_response_status_code=\"500\"")),
        "{:#?}",
        stacked.metrics
    );
    assert_equivalent(stacked, fused);
}

#[tokio::test]
async fn grpc_calls_look_the_same_stacked_and_fused() {
    let stacked = run_grpc(How::Stacked).await;
    let fused = run_grpc(How::Fused).await;
    assert!(
        stacked
            .metrics
            .iter()
            .any(|line| line.contains("rpc_status_code=\"INTERNAL\"")
                && line.contains("error_type=\"INTERNAL\"")),
        "INTERNAL in the trailers is a failure: {:#?}",
        stacked.metrics
    );
    assert!(
        stacked
            .metrics
            .iter()
            .any(|line| line.contains("rpc_status_code=\"NOT_FOUND\"")
                && !line.contains("error_type")),
        "NOT_FOUND is the caller's failure, not the server's: {:#?}",
        stacked.metrics
    );
    assert_equivalent(stacked, fused);
}

#[tokio::test]
async fn under_an_outer_correlation_layer_they_look_the_same() {
    let stacked = run_http(How::StackedUnderCorrelation).await;
    let fused = run_http(How::FusedUnderCorrelation).await;
    let access_logs = |observed: &Observed| {
        observed
            .logs
            .iter()
            .filter(|line| line["target"] == "tower_telemetry::access_log")
            .count()
    };
    // One access-log line per request that reached the server: the outer layer's only.
    assert_eq!(access_logs(&stacked), REQUESTS.len() + 2);
    assert_equivalent(stacked, fused);
}

/// Credentials a caller sends: in headers the layers never record, in the query string, and
/// in a baggage entry. None of them may show up in a span, a log line or a metric.
const SECRETS: [&str; 5] = [
    "Bearer-s3cr3t-token",
    "session=c00kie-v4lue",
    "k3y-abc123",
    "q-s3cr3t",
    "b4ggage-s3cr3t",
];

#[tokio::test]
async fn credentials_in_requests_never_reach_spans_logs_or_metrics() {
    for how in [How::Stacked, How::Fused] {
        let observed = run(how, http_app, "", |addr| async move {
            let client = client();
            let headers: &[(&str, &[u8])] = &[
                ("authorization", b"Bearer-s3cr3t-token"),
                ("cookie", b"session=c00kie-v4lue"),
                ("x-api-key", b"k3y-abc123"),
                ("proxy-authorization", b"Bearer-s3cr3t-token"),
                ("traceparent", TRACEPARENT),
                ("baggage", b"user.token=b4ggage-s3cr3t"),
            ];
            let mut responses = Vec::new();
            for path in ["/users/42?token=q-s3cr3t", "/fail/1?password=q-s3cr3t"] {
                let (status, headers, _) = fetch(&client, addr, path, headers).await;
                responses.push((status, headers));
            }
            responses
        })
        .await;
        let everything = format!(
            "{:?}{:?}{:?}{:?}",
            observed.spans, observed.logs, observed.metrics, observed.responses
        );
        assert!(!observed.spans.is_empty() && !observed.logs.is_empty());
        for secret in SECRETS {
            assert!(
                !everything.contains(secret),
                "{how:?}: {secret} leaked into {everything}"
            );
        }
    }
}

/// With `record_path(false)` and `CorrelationLayer::record_path(false)`, a secret in the path stays out of spans
/// and logs, while the route template is still there.
fn private_paths_app(how: How, tracer: SdkTracer) -> Router {
    let app = Router::new().route("/reset/{token}", get(|| async { "reset" }));
    let correlation = CorrelationLayer::new().record_path(false);
    let trace = TraceLayer::with_tracer(tracer).record_path(false);
    match how {
        How::Stacked | How::StackedUnderCorrelation => app
            .layer(MetricsLayer::new())
            .layer(trace)
            .layer(correlation),
        How::Fused | How::FusedUnderCorrelation => app.layer(TelemetryLayer::from_layers(
            correlation,
            trace,
            MetricsLayer::new(),
        )),
    }
}

#[tokio::test]
async fn paths_can_be_left_out_when_they_carry_secrets() {
    let mut observed = Vec::new();
    for how in [How::Stacked, How::Fused] {
        let run = run(how, private_paths_app, "", |addr| async move {
            let (status, headers, _) = fetch(&client(), addr, "/reset/p4th-s3cr3t", &[]).await;
            vec![(status, headers)]
        })
        .await;
        let everything = format!("{:?}{:?}{:?}", run.spans, run.logs, run.metrics);
        assert!(!everything.contains("p4th-s3cr3t"), "{how:?}: {everything}");
        assert!(
            everything.contains("/reset/{token}"),
            "{how:?}: {everything}"
        );
        observed.push(run);
    }
    let fused = observed.pop().unwrap();
    let stacked = observed.pop().unwrap();
    assert_equivalent(stacked, fused);
}
