//! W3C Trace Context through the real path, one row per rule: request headers into an axum
//! server (the all-in-one `TelemetryLayer`, and the stacked layers), out of its handler through
//! `TraceClientLayer` on a hyper-util client to a second server that reports the headers it got.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use common::*;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracer, SdkTracerProvider};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};
use tower_telemetry::trace::{TraceClient, TraceClientLayer, TraceLayer};
use tower_telemetry::{CorrelationLayer, MetricsLayer, TelemetryLayer};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

#[derive(Clone, Copy, Debug)]
enum How {
    Fused,
    Stacked,
}

type Outbound = TraceClient<HttpClient, SdkTracer>;

/// Server A, instrumented as `how` says, whose `/call` calls server B through the client
/// layer and answers with the headers B received.
async fn server_a(how: How, tracer: SdkTracer, b: SocketAddr) -> SocketAddr {
    let outbound: Outbound = ServiceBuilder::new()
        .layer(TraceClientLayer::with_tracer(tracer.clone()))
        .service(client());
    let router = Router::new()
        .route(
            "/call",
            get(
                |State((outbound, b)): State<(Outbound, SocketAddr)>| async move {
                    let request = http::Request::get(format!("http://{b}/echo"))
                        .body(http_body_util::Empty::new())
                        .unwrap();
                    let response = outbound.oneshot(request).await.unwrap();
                    let body = http_body_util::BodyExt::collect(response.into_body())
                        .await
                        .unwrap()
                        .to_bytes();
                    axum::Json(serde_json::from_slice::<Value>(&body).unwrap())
                },
            ),
        )
        .with_state((outbound, b));
    let router = match how {
        How::Fused => router.layer(TelemetryLayer::with_tracer(tracer)),
        How::Stacked => router
            .layer(MetricsLayer::new())
            .layer(TraceLayer::with_tracer(tracer))
            .layer(CorrelationLayer::new()),
    };
    serve(router).await
}

/// Server B: the trace-context headers it received, each line.
async fn server_b() -> SocketAddr {
    serve(Router::new().route(
        "/echo",
        get(|headers: http::HeaderMap| async move {
            let lines = |name: &str| -> Vec<String> {
                headers
                    .get_all(name)
                    .iter()
                    .map(|v| v.to_str().unwrap().to_owned())
                    .collect()
            };
            axum::Json(serde_json::json!({
                "traceparent": lines("traceparent"),
                "tracestate": lines("tracestate"),
            }))
        }),
    ))
    .await
}

/// What B received when A was called with `headers`: its `traceparent` and `tracestate` lines.
async fn through(a: SocketAddr, headers: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
    let headers: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(name, value)| (*name, value.as_bytes()))
        .collect();
    let (_, _, body) = fetch(&client(), a, "/call", &headers).await;
    let json: Value = serde_json::from_str(&body).unwrap();
    let strings = |key: &str| -> Vec<String> {
        json[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    (strings("traceparent"), strings("tracestate"))
}

/// One row: the request's header lines, what B must see, the rule.
type Row<'a> = (Vec<(&'a str, &'a str)>, Expect, &'a str);

/// The trace continues (`Some(tracestate sent on)`, `None` for no tracestate) or a new trace
/// starts.
#[derive(Debug)]
enum Expect {
    Continued(Option<&'static str>),
    ContinuedWith(String),
    NewTrace,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_holds_through_the_fused_and_the_stacked_layers() {
    capture_logs();
    let tp = format!("00-{TRACE}-{PARENT}-01");
    let long_at = format!("{}@{}", "t".repeat(241), "s".repeat(14));
    let t_at_v = format!("{}@v", "t".repeat(242));
    let key_257 = format!("a{}", "b".repeat(256));
    let members_32: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
    let members_33: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
    let (m32, m33) = (members_32.join(","), members_33.join(","));
    let long_at_member = format!("{long_at}=1");
    let t_at_v_member = format!("{t_at_v}=1");
    let key_257_member = format!("{key_257}=1");
    let future = format!("cc-{TRACE}-{PARENT}-01-what-comes-next");
    let upper = format!("00-{}-{PARENT}-01", TRACE.to_uppercase());
    let zero_trace = format!("00-{}-{PARENT}-01", "0".repeat(32));
    let zero_parent = format!("00-{TRACE}-{}-01", "0".repeat(16));
    let version_ff = format!("ff-{TRACE}-{PARENT}-01");
    let short = format!("00-{TRACE}-{PARENT}-1");

    // (request headers, what B must see, the rule)
    let rows: Vec<Row<'_>> = vec![
        (
            vec![("traceparent", &tp)],
            Expect::Continued(None),
            "a valid traceparent is continued",
        ),
        (
            vec![
                ("traceparent", &tp),
                ("tracestate", "rojo=00f067aa0ba902b7"),
            ],
            Expect::Continued(Some("rojo=00f067aa0ba902b7")),
            "tracestate goes along",
        ),
        (
            vec![("traceparent", &tp), ("tracestate", "foo@=1")],
            Expect::Continued(Some("foo@=1")),
            "`@` may end a key",
        ),
        (
            vec![("traceparent", &tp), ("tracestate", "foo@@bar=1")],
            Expect::Continued(Some("foo@@bar=1")),
            "`@` twice",
        ),
        (
            vec![("traceparent", &tp), ("tracestate", "foo@bar@baz=1")],
            Expect::Continued(Some("foo@bar@baz=1")),
            "`@` in two places",
        ),
        (
            vec![("traceparent", &tp), ("tracestate", &long_at_member)],
            Expect::ContinuedWith(long_at_member.clone()),
            "241 characters, `@`, 14 characters",
        ),
        (
            vec![("traceparent", &tp), ("tracestate", &t_at_v_member)],
            Expect::ContinuedWith(t_at_v_member.clone()),
            "242 characters, `@`, one",
        ),
        (
            vec![("traceparent", &tp), ("tracestate", "@foo=1")],
            Expect::Continued(None),
            "a key starting with `@` invalidates the tracestate, not the trace",
        ),
        (
            vec![("traceparent", &tp), ("tracestate", &key_257_member)],
            Expect::Continued(None),
            "a key over 256 characters invalidates the tracestate",
        ),
        (
            vec![("traceparent", &tp), ("tracestate", "foo=1,foo=1")],
            Expect::Continued(Some("foo=1")),
            "a duplicate key: the first member kept",
        ),
        (
            vec![("traceparent", &tp), ("tracestate", "foo=1,foo=2")],
            Expect::Continued(Some("foo=1")),
            "a duplicate key with another value: the first kept",
        ),
        (
            vec![
                ("traceparent", &tp),
                ("tracestate", "foo=1"),
                ("tracestate", "foo=1"),
            ],
            Expect::Continued(Some("foo=1")),
            "a duplicate key across header lines",
        ),
        (
            vec![
                ("traceparent", &tp),
                ("tracestate", "rojo=1"),
                ("tracestate", "congo=2"),
            ],
            Expect::Continued(Some("rojo=1,congo=2")),
            "header lines combine in order",
        ),
        (
            vec![
                ("traceparent", &tp),
                ("tracestate", " rojo=1 ,\tcongo=2 , "),
            ],
            Expect::Continued(Some("rojo=1,congo=2")),
            "optional white space and empty members",
        ),
        (
            vec![("traceparent", &tp), ("tracestate", &m32)],
            Expect::ContinuedWith(m32.clone()),
            "32 members",
        ),
        (
            vec![("traceparent", &tp), ("tracestate", &m33)],
            Expect::Continued(None),
            "33 members invalidate the tracestate",
        ),
        (
            vec![("traceparent", &tp), ("tracestate", "")],
            Expect::Continued(None),
            "an empty tracestate",
        ),
        (
            vec![("TraceParent", &tp), ("TraceState", "rojo=1")],
            Expect::Continued(Some("rojo=1")),
            "header names are case-insensitive",
        ),
        (
            vec![("traceparent", &future), ("tracestate", "rojo=1")],
            Expect::Continued(Some("rojo=1")),
            "a later version is read as version 00",
        ),
        (
            vec![("traceparent", &upper)],
            Expect::NewTrace,
            "uppercase hex",
        ),
        (
            vec![("traceparent", &zero_trace)],
            Expect::NewTrace,
            "an all-zero trace ID",
        ),
        (
            vec![("traceparent", &zero_parent)],
            Expect::NewTrace,
            "an all-zero parent ID",
        ),
        (
            vec![("traceparent", &version_ff)],
            Expect::NewTrace,
            "version ff",
        ),
        (
            vec![("traceparent", &short)],
            Expect::NewTrace,
            "flags of one digit",
        ),
        (
            vec![("traceparent", &tp), ("traceparent", &tp)],
            Expect::NewTrace,
            "two traceparent lines",
        ),
        (
            vec![("tracestate", "rojo=1")],
            Expect::NewTrace,
            "a tracestate without a traceparent is ignored",
        ),
    ];

    for how in [How::Fused, How::Stacked] {
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(InMemorySpanExporter::default())
            .build();
        let b = server_b().await;
        let a = server_a(how, provider.tracer("test"), b).await;
        for (headers, expect, rule) in &rows {
            let (traceparent, tracestate) = through(a, headers).await;
            let [sent] = &traceparent[..] else {
                panic!("{how:?}, {rule}: one traceparent line, got {traceparent:?}");
            };
            let fields: Vec<&str> = sent.split('-').collect();
            assert_eq!(fields.len(), 4, "{how:?}, {rule}: {sent}");
            assert_eq!(fields[0], "00", "{how:?}, {rule}: sent in version 00");
            assert_ne!(fields[2], PARENT, "{how:?}, {rule}: a new parent ID");
            let continued = fields[1] == TRACE;
            match expect {
                Expect::NewTrace => {
                    assert!(!continued, "{how:?}, {rule}: a new trace, got {sent}");
                    assert!(tracestate.is_empty(), "{how:?}, {rule}: {tracestate:?}");
                }
                Expect::Continued(state) => {
                    assert!(continued, "{how:?}, {rule}: continued, got {sent}");
                    let want: Vec<String> = state.iter().map(|s| (*s).to_owned()).collect();
                    assert_eq!(tracestate, want, "{how:?}, {rule}");
                }
                Expect::ContinuedWith(state) => {
                    assert!(continued, "{how:?}, {rule}: continued, got {sent}");
                    assert_eq!(tracestate, std::slice::from_ref(state), "{how:?}, {rule}");
                }
            }
        }
    }
}
