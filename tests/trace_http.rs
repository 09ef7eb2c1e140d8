//! Server spans over real sockets: a real axum server on 127.0.0.1 behind `CorrelationLayer`
//! and `TraceLayer`, a real hyper client, spans collected by the OpenTelemetry SDK's in-memory
//! exporter, and the crate's JSON logs captured.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::{any, get};
use common::*;
use http::StatusCode;
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceFlags, TraceId, TracerProvider as _};
use opentelemetry::{Key, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::{ServiceBuilder, ServiceExt};
use tower_telemetry::propagation::RANDOM;
use tower_telemetry::trace::{TraceClientLayer, TraceLayer};
use tower_telemetry::trust::TrustPolicy;
use tower_telemetry::{CorrelationClientLayer, CorrelationLayer};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

struct Harness {
    addr: SocketAddr,
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
}

impl Harness {
    async fn new(
        layer: impl FnOnce(
            TraceLayer<opentelemetry_sdk::trace::SdkTracer>,
        ) -> TraceLayer<opentelemetry_sdk::trace::SdkTracer>,
    ) -> Self {
        capture_logs();
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let trace = layer(TraceLayer::with_tracer(provider.tracer("test")));
        let router = Router::new()
            .route(
                "/users/{id}",
                get(|Path(id): Path<u32>| async move {
                    tracing::info!(user = id, "loading user");
                    format!("user {id}")
                }),
            )
            .route(
                "/fail",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
            )
            .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
            .route("/any", any(|| async { "ok" }))
            .route(
                "/stream/{chunks}",
                get(|Path(chunks): Path<usize>| async move {
                    Body::new(SlowBody::new(chunks, Duration::from_millis(40)))
                }),
            )
            .layer(trace)
            .layer(CorrelationLayer::new());
        Self {
            addr: serve(router).await,
            exporter,
            _provider: provider,
        }
    }

    /// Waits (at most 10 s) for the one span with this correlation ID.
    async fn span_of(&self, correlation_id: &str) -> SpanData {
        for _ in 0..200 {
            let spans = self.exporter.get_finished_spans().unwrap();
            let mut found: Vec<SpanData> = spans
                .into_iter()
                .filter(|s| {
                    attr(s, "tower_telemetry.correlation_id")
                        == Some(Value::from(correlation_id.to_owned()))
                })
                .collect();
            if let Some(span) = found.pop() {
                assert!(found.is_empty(), "one span per request");
                return span;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no span for {correlation_id} within 10 s");
    }
}

fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == Key::from(key.to_owned()))
        .map(|kv| kv.value.clone())
}

fn s(value: &str) -> Option<Value> {
    Some(Value::from(value.to_owned()))
}

fn i(value: i64) -> Option<Value> {
    Some(Value::I64(value))
}

#[tokio::test]
async fn a_request_continues_the_callers_trace_with_conventional_attributes() {
    let h = Harness::new(|l| l).await;
    let traceparent = format!("00-{TRACE}-{PARENT}-03");
    let (status, _, _) = fetch(
        &client(),
        h.addr,
        "/users/42",
        &[
            ("x-request-id", b"trace-1"),
            ("traceparent", traceparent.as_bytes()),
            ("tracestate", b"rojo=1"),
            ("user-agent", b"trace-test/1.0"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let span = h.span_of("trace-1").await;
    assert_eq!(span.name, "GET /users/{id}");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex(TRACE).unwrap()
    );
    assert_eq!(span.parent_span_id, SpanId::from_hex(PARENT).unwrap());
    assert!(span.parent_span_is_remote);
    assert_eq!(
        span.span_context.trace_flags(),
        TraceFlags::SAMPLED | RANDOM,
        "random is inherited"
    );
    assert_eq!(span.span_context.trace_state().get("rojo"), Some("1"));
    assert_eq!(span.status, Status::Unset);
    assert_eq!(attr(&span, "http.request.method"), s("GET"));
    assert_eq!(attr(&span, "http.request.method_original"), None);
    assert_eq!(attr(&span, "url.path"), s("/users/42"));
    assert_eq!(attr(&span, "url.scheme"), s("http"));
    assert_eq!(attr(&span, "http.route"), s("/users/{id}"));
    assert_eq!(attr(&span, "server.address"), s("127.0.0.1"));
    assert_eq!(attr(&span, "server.port"), i(i64::from(h.addr.port())));
    assert_eq!(attr(&span, "network.protocol.version"), s("1.1"));
    assert_eq!(attr(&span, "user_agent.original"), s("trace-test/1.0"));
    assert_eq!(attr(&span, "http.response.status_code"), i(200));
    assert_eq!(attr(&span, "error.type"), None);
    assert_eq!(span.instrumentation_scope.name(), "test");
}

#[tokio::test]
async fn log_lines_carry_the_trace_and_span_ids_of_the_span() {
    let h = Harness::new(|l| l).await;
    fetch(
        &client(),
        h.addr,
        "/users/7",
        &[("x-request-id", b"trace-logs")],
    )
    .await;
    let span = h.span_of("trace-logs").await;
    let line = wait_for_line("trace-logs", "loading user").await;
    assert_eq!(line["trace_id"], span.span_context.trace_id().to_string());
    assert_eq!(line["span_id"], span.span_context.span_id().to_string());
    let access = wait_for_line("trace-logs", "request completed").await;
    assert_eq!(access["trace_id"], span.span_context.trace_id().to_string());
    assert_eq!(
        span.parent_span_id,
        SpanId::INVALID,
        "no inbound context: a new trace"
    );
}

#[tokio::test]
async fn server_errors_mark_the_span_and_client_errors_do_not() {
    let h = Harness::new(|l| l).await;
    let client = client();
    fetch(&client, h.addr, "/fail", &[("x-request-id", b"trace-500")]).await;
    fetch(
        &client,
        h.addr,
        "/missing",
        &[("x-request-id", b"trace-404")],
    )
    .await;
    let failed = h.span_of("trace-500").await;
    assert_eq!(failed.status, Status::error(""));
    assert_eq!(attr(&failed, "error.type"), s("500"));
    assert_eq!(attr(&failed, "http.response.status_code"), i(500));
    let missing = h.span_of("trace-404").await;
    assert_eq!(missing.status, Status::Unset);
    assert_eq!(attr(&missing, "error.type"), None);
    assert_eq!(attr(&missing, "http.response.status_code"), i(404));
}

#[tokio::test]
async fn an_invalid_traceparent_starts_a_new_trace_and_says_why() {
    let h = Harness::new(|l| l).await;
    let upper = format!("00-{}-{PARENT}-01", TRACE.to_uppercase());
    fetch(
        &client(),
        h.addr,
        "/users/1",
        &[
            ("x-request-id", b"trace-bad"),
            ("traceparent", upper.as_bytes()),
        ],
    )
    .await;
    let span = h.span_of("trace-bad").await;
    assert_ne!(
        span.span_context.trace_id(),
        TraceId::from_hex(TRACE).unwrap()
    );
    assert_eq!(span.parent_span_id, SpanId::INVALID);
    let refusal = wait_for_line(
        "trace-bad",
        "refused the inbound traceparent; starting a new trace",
    )
    .await;
    assert_eq!(
        refusal["reason"],
        "the trace ID is not 32 lowercase hex digits"
    );
    assert!(
        !raw_logs().contains(&TRACE.to_uppercase()),
        "the value itself is never logged"
    );
}

#[tokio::test]
async fn untrusted_callers_become_links() {
    let h = Harness::new(|l| l.trust(TrustPolicy::nobody())).await;
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    fetch(
        &client(),
        h.addr,
        "/users/1",
        &[
            ("x-request-id", b"trace-link"),
            ("traceparent", traceparent.as_bytes()),
        ],
    )
    .await;
    let span = h.span_of("trace-link").await;
    assert_ne!(
        span.span_context.trace_id(),
        TraceId::from_hex(TRACE).unwrap(),
        "a new trace"
    );
    assert_eq!(span.parent_span_id, SpanId::INVALID);
    let links: Vec<_> = span.links.iter().collect();
    assert_eq!(links.len(), 1);
    assert_eq!(
        links[0].span_context.trace_id(),
        TraceId::from_hex(TRACE).unwrap()
    );
    assert_eq!(
        links[0].span_context.span_id(),
        SpanId::from_hex(PARENT).unwrap()
    );

    let predicate = Harness::new(|l| {
        l.trust(TrustPolicy::when(|caller| {
            caller.headers().contains_key("x-internal")
        }))
    })
    .await;
    let client = client();
    fetch(
        &client,
        predicate.addr,
        "/users/1",
        &[
            ("x-request-id", b"trace-inside"),
            ("traceparent", traceparent.as_bytes()),
            ("x-internal", b"1"),
        ],
    )
    .await;
    fetch(
        &client,
        predicate.addr,
        "/users/1",
        &[
            ("x-request-id", b"trace-outside"),
            ("traceparent", traceparent.as_bytes()),
        ],
    )
    .await;
    let inside = predicate.span_of("trace-inside").await;
    assert_eq!(inside.parent_span_id, SpanId::from_hex(PARENT).unwrap());
    let outside = predicate.span_of("trace-outside").await;
    assert_eq!(outside.parent_span_id, SpanId::INVALID);
    assert_eq!(outside.links.iter().count(), 1);
}

#[tokio::test]
async fn unknown_methods_are_other() {
    let h = Harness::new(|l| l).await;
    let request = http::Request::builder()
        .method("PURGE")
        .uri(format!("http://{}/any", h.addr))
        .header("x-request-id", "trace-purge")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = client().request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let span = h.span_of("trace-purge").await;
    assert_eq!(span.name, "HTTP /any");
    assert_eq!(attr(&span, "http.request.method"), s("_OTHER"));
    assert_eq!(attr(&span, "http.request.method_original"), s("PURGE"));
}

#[tokio::test]
async fn the_span_covers_the_body_and_records_cancellation() {
    let h = Harness::new(|l| l).await;
    let client = client();
    fetch(
        &client,
        h.addr,
        "/stream/3",
        &[("x-request-id", b"trace-stream")],
    )
    .await;
    let span = h.span_of("trace-stream").await;
    let duration = span.end_time.duration_since(span.start_time).unwrap();
    assert!(
        duration >= Duration::from_millis(120),
        "three chunks 40 ms apart: {duration:?}"
    );
    assert_eq!(span.status, Status::Unset);

    let request = http::Request::get(format!("http://{}/stream/1000000", h.addr))
        .header("x-request-id", "trace-gone")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    let mut body = response.into_body();
    http_body_util::BodyExt::frame(&mut body)
        .await
        .unwrap()
        .unwrap();
    drop(body);
    drop(client);
    let gone = h.span_of("trace-gone").await;
    assert_eq!(attr(&gone, "error.type"), s("cancelled"));
    assert_eq!(
        gone.status,
        Status::Unset,
        "a caller that went away is no error of the server"
    );
    assert_eq!(attr(&gone, "http.response.status_code"), i(200));
}

/// hyper drops the body of a HEAD response unread: the request still ends as the response
/// says, not as cancelled.
#[tokio::test]
async fn a_head_request_ends_as_its_response_says() {
    let h = Harness::new(|l| l).await;
    let request = http::Request::head(format!("http://{}/users/7", h.addr))
        .header("x-request-id", "trace-head")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = client().request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let span = h.span_of("trace-head").await;
    assert_eq!(attr(&span, "error.type"), None);
    assert_eq!(span.status, Status::Unset);
    assert_eq!(attr(&span, "http.request.method"), s("HEAD"));
}

/// A client that drops a response body it no longer needs: its CLIENT span says cancelled,
/// with the status unset.
#[tokio::test]
async fn a_client_that_drops_the_body_records_a_cancellation_not_an_error() {
    let h = Harness::new(|l| l).await;
    let client_spans = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(client_spans.clone())
        .build();
    let outbound = ServiceBuilder::new()
        .layer(TraceClientLayer::with_tracer(provider.tracer("client")))
        .service(client());
    let request = http::Request::get(format!("http://{}/stream/1000000", h.addr))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let mut body = outbound.oneshot(request).await.unwrap().into_body();
    http_body_util::BodyExt::frame(&mut body)
        .await
        .unwrap()
        .unwrap();
    drop(body);
    let spans = client_spans.get_finished_spans().unwrap();
    let [span] = &spans[..] else {
        panic!("one CLIENT span, ended when the body was dropped: {spans:?}")
    };
    assert_eq!(span.span_kind, opentelemetry::trace::SpanKind::Client);
    assert_eq!(attr(span, "error.type"), s("cancelled"));
    assert_eq!(span.status, Status::Unset);
}

#[tokio::test]
async fn a_call_from_a_to_b_is_one_trace_with_server_client_server_spans() {
    capture_logs();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("test");

    // B: answers with the headers it received.
    let b = serve(
        Router::new()
            .route(
                "/b",
                get(|headers: http::HeaderMap| async move {
                    tracing::info!("in b");
                    let header =
                        |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
                    axum::Json(serde_json::json!({
                        "traceparent": header("traceparent"),
                        "baggage": header("baggage"),
                        "x-request-id": header("x-request-id"),
                    }))
                }),
            )
            .route("/b/missing", get(|| async { StatusCode::NOT_FOUND }))
            .layer(TraceLayer::with_tracer(tracer.clone()))
            .layer(CorrelationLayer::new()),
    )
    .await;

    // A: calls B through the client layers.
    let outbound = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .layer(TraceClientLayer::with_tracer(tracer.clone()))
        .service(client());
    let a = serve(
        Router::new()
            .route(
                "/a",
                get(move || {
                    let outbound = outbound.clone();
                    async move {
                        let mut seen = Vec::new();
                        for path in ["/b", "/b/missing"] {
                            let request = http::Request::get(format!("http://{b}{path}"))
                                .body(http_body_util::Empty::<bytes::Bytes>::new())
                                .unwrap();
                            let response = outbound.clone().oneshot(request).await.unwrap();
                            let body = http_body_util::BodyExt::collect(response.into_body())
                                .await
                                .unwrap()
                                .to_bytes();
                            seen.push(String::from_utf8(body.to_vec()).unwrap());
                        }
                        seen[0].clone()
                    }
                }),
            )
            .layer(TraceLayer::with_tracer(tracer.clone()))
            .layer(CorrelationLayer::new()),
    )
    .await;

    // Sampled and random: both flags travel to B.
    let traceparent = format!("00-{TRACE}-{PARENT}-03");
    let (status, _, body) = fetch(
        &client(),
        a,
        "/a",
        &[
            ("x-request-id", b"chain-1"),
            ("traceparent", traceparent.as_bytes()),
            ("baggage", b"tenant=acme"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        seen["x-request-id"], "chain-1",
        "the correlation ID travels"
    );
    assert_eq!(seen["baggage"], "tenant=acme", "baggage travels");

    let mut spans = Vec::new();
    for _ in 0..200 {
        spans = exporter.get_finished_spans().unwrap();
        spans.retain(|s| s.span_context.trace_id() == TraceId::from_hex(TRACE).unwrap());
        if spans.len() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        spans.len(),
        5,
        "A server, two A client spans, two B server spans: {spans:#?}"
    );
    let a_server = spans.iter().find(|s| s.name == "GET /a").unwrap();
    let clients: Vec<_> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .collect();
    let b_server = spans.iter().find(|s| s.name == "GET /b").unwrap();
    let b_missing = spans.iter().find(|s| s.name == "GET /b/missing").unwrap();
    assert_eq!(a_server.parent_span_id, SpanId::from_hex(PARENT).unwrap());
    assert_eq!(clients.len(), 2);
    for client in &clients {
        assert_eq!(client.name, "GET");
        assert_eq!(
            client.parent_span_id,
            a_server.span_context.span_id(),
            "client spans are children of A's server span"
        );
        assert_eq!(attr(client, "server.address"), s("127.0.0.1"));
        assert_eq!(attr(client, "server.port"), i(i64::from(b.port())));
    }
    let to_b = clients
        .iter()
        .find(|c| attr(c, "url.full") == s(&format!("http://{b}/b")))
        .unwrap();
    let to_missing = clients
        .iter()
        .find(|c| attr(c, "url.full") == s(&format!("http://{b}/b/missing")))
        .unwrap();
    assert_eq!(
        b_server.parent_span_id,
        to_b.span_context.span_id(),
        "B's server span is the child of A's client span"
    );
    assert_eq!(b_missing.parent_span_id, to_missing.span_context.span_id());
    assert_eq!(
        seen["traceparent"],
        format!("00-{TRACE}-{}-03", to_b.span_context.span_id())
    );
    assert_eq!(attr(to_b, "http.response.status_code"), i(200));
    assert_eq!(to_b.status, Status::Unset);
    assert_eq!(attr(to_missing, "http.response.status_code"), i(404));
    assert_eq!(
        attr(to_missing, "error.type"),
        s("404"),
        "a 4xx is a client span error"
    );
    assert_eq!(to_missing.status, Status::error(""));
    assert_eq!(
        b_missing.status,
        Status::Unset,
        "but not a server span error"
    );

    let in_b = wait_for_line("chain-1", "in b").await;
    assert_eq!(in_b["trace_id"], TRACE);
    assert_eq!(in_b["span_id"], b_server.span_context.span_id().to_string());
}

#[tokio::test]
async fn a_traceparent_set_by_the_caller_is_sent_as_is() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let echo = serve(Router::new().route(
        "/",
        get(|headers: http::HeaderMap| async move {
            headers["traceparent"].to_str().unwrap().to_owned()
        }),
    ))
    .await;
    let outbound = ServiceBuilder::new()
        .layer(TraceClientLayer::with_tracer(provider.tracer("test")))
        .service(client());
    let mine = format!("00-{TRACE}-{PARENT}-00");
    let request = http::Request::get(format!("http://{echo}/"))
        .header("traceparent", &mine)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = outbound.oneshot(request).await.unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(String::from_utf8(body.to_vec()).unwrap(), mine);
    // Outside any request the client span is a root of its own trace.
    let span = exporter.get_finished_spans().unwrap().pop().unwrap();
    assert_eq!(span.parent_span_id, SpanId::INVALID);
    assert_eq!(span.span_kind, SpanKind::Client);
}

#[tokio::test(flavor = "current_thread")]
async fn spans_are_made_whatever_the_log_filter_says() {
    use tracing_subscriber::layer::SubscriberExt;
    // Everything filtered out, on this thread, where the service runs.
    let _quiet = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::OFF),
    );
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let service = ServiceBuilder::new()
        .layer(TraceLayer::with_tracer(provider.tracer("test")))
        .service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
        });
    let response = service.oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(
        spans.len(),
        1,
        "the span exists although no log line would be written"
    );
    assert_eq!(spans[0].name, "GET");
}

#[tokio::test]
async fn sampling_follows_the_parent_by_default() {
    let h = Harness::new(|l| l).await;
    // The caller decided not to sample (flags 00): the parent-based default sampler agrees.
    let unsampled = format!("00-{TRACE}-{PARENT}-00");
    fetch(
        &client(),
        h.addr,
        "/users/1",
        &[
            ("x-request-id", b"trace-unsampled"),
            ("traceparent", unsampled.as_bytes()),
        ],
    )
    .await;
    let line = wait_for_line("trace-unsampled", "request completed").await;
    assert_eq!(line["trace_id"], TRACE, "the logs still carry the trace ID");
    let exported = h.exporter.get_finished_spans().unwrap();
    assert!(
        exported
            .iter()
            .all(|span| attr(span, "tower_telemetry.correlation_id") != s("trace-unsampled")),
        "an unsampled span is not exported"
    );
}

#[tokio::test]
async fn the_peer_address_is_recorded_when_the_server_knows_it() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let addr = serve_with_peer(
        Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(TraceLayer::with_tracer(provider.tracer("test")).scheme("https")),
    )
    .await;
    fetch(&client(), addr, "/", &[]).await;
    let mut spans = Vec::new();
    for _ in 0..200 {
        spans = exporter.get_finished_spans().unwrap();
        if !spans.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let span = &spans[0];
    assert_eq!(attr(span, "client.address"), s("127.0.0.1"));
    assert!(matches!(attr(span, "client.port"), Some(Value::I64(port)) if port > 0));
    assert_eq!(
        attr(span, "url.scheme"),
        s("https"),
        "the configured scheme"
    );
}

#[tokio::test]
async fn the_client_layer_alone_sends_the_current_correlation_id() {
    let provider = SdkTracerProvider::builder().build();
    let echo = serve(Router::new().route(
        "/",
        get(|headers: http::HeaderMap| async move {
            headers
                .get("x-request-id")
                .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned())
        }),
    ))
    .await;
    let outbound = ServiceBuilder::new()
        .layer(TraceClientLayer::with_tracer(provider.tracer("test")))
        .service(client());
    let call = |outbound: tower_telemetry::trace::TraceClient<HttpClient, _>| async move {
        let request = http::Request::get(format!("http://{echo}/"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = outbound.oneshot(request).await.unwrap();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    };
    let id: tower_telemetry::CorrelationId = "from-scope".parse().unwrap();
    assert_eq!(id.scope(call(outbound.clone())).await, "from-scope");
    assert_eq!(
        call(outbound).await,
        "none",
        "outside a request nothing is made up"
    );
}

#[tokio::test]
async fn spans_follow_the_same_classifier_as_the_metrics() {
    use tower_telemetry::classify::{GrpcErrorsAsFailures, StatusClassifier};
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    // 4xx counted as failures.
    let strict = ServiceBuilder::new()
        .layer(
            TraceLayer::with_tracer(provider.tracer("test"))
                .classifier(StatusClassifier::new(|s: StatusCode| s.as_u16() >= 400)),
        )
        .service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(
                http::Response::builder()
                    .status(404)
                    .body(String::new())
                    .unwrap(),
            )
        });
    drop(strict.oneshot(http::Request::new(())).await.unwrap());
    // gRPC: the status arrives in the trailers, after the message.
    let grpc = ServiceBuilder::new()
        .layer(
            TraceLayer::with_tracer(provider.tracer("test"))
                .classifier(GrpcErrorsAsFailures::make_classifier()),
        )
        .service_fn(|_: http::Request<()>| async {
            let body = http_body_util::BodyExt::with_trailers(
                http_body_util::Full::new(bytes::Bytes::from_static(b"message")),
                async {
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", "5".parse().unwrap());
                    Some(Ok::<_, std::convert::Infallible>(trailers))
                },
            );
            Ok::<_, std::convert::Infallible>(http::Response::new(body))
        });
    let response = grpc
        .oneshot(http::Request::post("/pkg.Svc/Get").body(()).unwrap())
        .await
        .unwrap();
    http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 2);
    let not_found = spans.iter().find(|s| s.name == "GET").unwrap();
    assert_eq!(attr(not_found, "error.type"), s("404"));
    assert_eq!(not_found.status, Status::error(""));
    let grpc = spans.iter().find(|s| s.name == "POST").unwrap();
    assert_eq!(attr(grpc, "http.response.status_code"), i(200));
    assert_eq!(
        attr(grpc, "error.type"),
        s("NOT_FOUND"),
        "the trailers decided"
    );
    assert_eq!(grpc.status, Status::error(""));
}
