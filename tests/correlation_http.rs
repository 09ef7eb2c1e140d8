//! Correlation IDs end to end over real sockets: a real axum server on 127.0.0.1, a real hyper
//! client, a second real server for outbound calls, and the crate's JSON logs captured.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use common::*;
use http::{HeaderName, StatusCode};
use http_body_util::{BodyExt, Empty};
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_telemetry::correlation::{
    CorrelationClient, CorrelationClientLayer, CorrelationFutureExt, CorrelationId,
    CorrelationLayer,
};
use tower_telemetry::trust::{Caller, TrustPolicy};
use tracing::Instrument;

type Outbound = CorrelationClient<HttpClient>;

/// A second service that answers with the `x-request-id` it received.
async fn echo_server() -> SocketAddr {
    serve(Router::new().route(
        "/echo",
        get(|headers: http::HeaderMap| async move {
            headers
                .get("x-request-id")
                .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned())
        }),
    ))
    .await
}

/// Calls the echo server through the client layer and returns what it received.
async fn call_echo(outbound: &Outbound, echo: SocketAddr) -> String {
    let request = http::Request::get(format!("http://{echo}/echo"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = outbound.clone().oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[derive(Clone)]
struct App {
    outbound: Outbound,
    echo: SocketAddr,
    barrier: Arc<tokio::sync::Barrier>,
}

async fn user(id: CorrelationId, Path(user): Path<u32>) -> Json<Value> {
    tracing::info!(user, "loading user");
    // A spawned task that follows the request span logs with the ID too.
    tokio::spawn(async { tracing::info!("spawned work") }.in_current_span())
        .await
        .unwrap();
    // So does a future the handler instruments with its own span.
    async { tracing::info!("inside child span") }
        .instrument(tracing::info_span!("child", step = "load"))
        .await;
    Json(json!({ "user": user, "correlation_id": id.as_str() }))
}

async fn call(State(app): State<App>, id: CorrelationId) -> Json<Value> {
    let sent = call_echo(&app.outbound, app.echo).await;
    // From a spawned task the ID travels only when carried over.
    let outbound = app.outbound.clone();
    let echo = app.echo;
    let spawned =
        tokio::spawn(async move { call_echo(&outbound, echo).await }.with_current_correlation_id())
            .await
            .unwrap();
    Json(json!({ "mine": id.as_str(), "sent": sent, "spawned": spawned }))
}

/// For the load test: waits until every request is inside a handler at once.
async fn concurrent(State(app): State<App>, id: CorrelationId) -> Json<Value> {
    tokio::time::timeout(Duration::from_secs(30), app.barrier.wait())
        .await
        .expect("all requests arrive together");
    let current = CorrelationId::current().map(|c| c.to_string());
    let sent = call_echo(&app.outbound, app.echo).await;
    Json(json!({ "mine": id.as_str(), "current": current, "sent": sent }))
}

async fn fail() -> (StatusCode, &'static str) {
    tracing::error!("the handler failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "boom")
}

async fn stream(chunks: Path<usize>) -> Body {
    Body::new(SlowBody::new(chunks.0, Duration::from_millis(40)))
}

/// Stands for an inner layer (authentication) that answers without calling the handler.
async fn require_token(request: Request, next: Next) -> Response {
    if request.uri().path() == "/private" {
        return (StatusCode::UNAUTHORIZED, "no token").into_response();
    }
    next.run(request).await
}

async fn app_with(layer: CorrelationLayer, concurrency: usize) -> SocketAddr {
    capture_logs();
    let echo = echo_server().await;
    let outbound = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .service(client());
    let state = App {
        outbound,
        echo,
        barrier: Arc::new(tokio::sync::Barrier::new(concurrency)),
    };
    let router = Router::new()
        .route("/users/{id}", get(user))
        .route("/call", get(call))
        .route("/concurrent", get(concurrent))
        .route("/fail", get(fail))
        .route("/private", get(|| async { "never reached" }))
        .route("/stream/{chunks}", get(stream))
        .with_state(state)
        .layer(middleware::from_fn(require_token))
        .layer(layer);
    serve(router).await
}

async fn app() -> SocketAddr {
    app_with(CorrelationLayer::new(), 1).await
}

#[tokio::test]
async fn an_id_is_generated_when_absent() {
    let addr = app().await;
    let (status, headers, body) = fetch(&client(), addr, "/users/7", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let id = request_id(&headers);
    assert_generated(&id);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["correlation_id"], id, "the handler saw the echoed ID");
}

#[tokio::test]
async fn a_valid_inbound_id_is_accepted_and_echoed() {
    let addr = app().await;
    let (_, headers, body) = fetch(
        &client(),
        addr,
        "/users/7",
        &[("x-request-id", b"gateway:7f3a/req+1=_.-")],
    )
    .await;
    assert_eq!(request_id(&headers), "gateway:7f3a/req+1=_.-");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["correlation_id"], "gateway:7f3a/req+1=_.-");
}

#[tokio::test]
async fn every_invalid_form_is_replaced_and_logged_without_its_bytes() {
    let addr = app().await;
    let too_long = format!("MARKLONG{}", "a".repeat(121));
    assert_eq!(too_long.len(), 129);
    let cases: &[(&str, &[&[u8]], &str)] = &[
        (
            "too long",
            &[too_long.as_bytes()],
            "129 bytes, over the limit of 128",
        ),
        ("empty", &[b""], "empty"),
        (
            "control character",
            &[b"MARKTAB\tx"],
            "contains a control character",
        ),
        (
            "obs-text",
            &[b"MARKOBS\xffx"],
            "contains a byte outside ASCII",
        ),
        (
            "UTF-8",
            &["MARKUTF\u{e9}".as_bytes()],
            "contains a byte outside ASCII",
        ),
        (
            "space",
            &[b"MARK SPACE"],
            "contains a character outside the allow-list",
        ),
        (
            "quote",
            &[b"MARKQUOTE\"x"],
            "contains a character outside the allow-list",
        ),
        (
            "several values",
            &[b"MARKONE", b"MARKTWO"],
            "the header was sent more than once",
        ),
    ];
    let client = client();
    for (what, values, reason) in cases {
        let headers: Vec<(&str, &[u8])> = values.iter().map(|v| ("x-request-id", *v)).collect();
        let (status, response_headers, body) = fetch(&client, addr, "/users/1", &headers).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        let id = request_id(&response_headers);
        assert_generated(&id);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body["correlation_id"], id,
            "{what}: the handler saw the new ID"
        );

        let refusals: Vec<Value> = lines_of(&id)
            .into_iter()
            .filter(|l| {
                l["message"] == "refused the inbound correlation ID and generated a new one"
            })
            .collect();
        assert_eq!(refusals.len(), 1, "{what}: logged once");
        assert_eq!(refusals[0]["level"], "DEBUG", "{what}");
        assert_eq!(refusals[0]["reason"], *reason, "{what}");
        assert_eq!(refusals[0]["header"], "x-request-id", "{what}");
    }
    assert!(
        !raw_logs().contains("MARK"),
        "a refused value must never reach the logs"
    );
}

#[tokio::test]
async fn every_log_line_of_the_request_carries_the_id() {
    let addr = app().await;
    let (_, headers, _) = fetch(&client(), addr, "/users/42", &[]).await;
    let id = request_id(&headers);
    let access = wait_for_line(&id, "request completed").await;
    let lines = lines_of(&id);
    for message in ["loading user", "spawned work", "inside child span"] {
        let line = lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line with correlation_id {id}: {lines:?}"));
        assert_eq!(line["level"], "INFO");
    }
    let loading = lines
        .iter()
        .find(|l| l["message"] == "loading user")
        .unwrap();
    assert_eq!(loading["user"], 42, "event fields sit beside the ID");
    let child = lines
        .iter()
        .find(|l| l["message"] == "inside child span")
        .unwrap();
    assert_eq!(
        child["spans"],
        json!([
            { "name": "request", "correlation_id": id },
            { "name": "child", "step": "load" },
        ]),
        "span fields stay in the span list, root first"
    );
    assert!(child.get("step").is_none() && child.get("name").is_none());

    assert_eq!(access["level"], "INFO");
    assert_eq!(access["target"], "tower_telemetry::access_log");
    assert_eq!(access["http.request.method"], "GET");
    assert_eq!(access["url.path"], "/users/42");
    assert_eq!(access["http.route"], "/users/{id}");
    assert_eq!(access["http.response.status_code"], 200);
    assert_eq!(access["outcome"], "completed");
    assert!(access["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["target"] == "tower_telemetry::access_log")
            .count(),
        1,
        "one access-log line per request"
    );
}

#[tokio::test]
async fn outbound_calls_carry_the_same_id() {
    let addr = app().await;
    let client = client();
    let (_, headers, body) =
        fetch(&client, addr, "/call", &[("x-request-id", b"outbound-1")]).await;
    assert_eq!(request_id(&headers), "outbound-1");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({ "mine": "outbound-1", "sent": "outbound-1", "spawned": "outbound-1" })
    );

    // Without an inbound ID the generated one travels the same way.
    let (_, headers, body) = fetch(&client, addr, "/call", &[]).await;
    let id = request_id(&headers);
    assert_generated(&id);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body, json!({ "mine": id, "sent": id, "spawned": id }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_each_see_only_their_own_id() {
    const N: usize = 1000;
    rlimit::increase_nofile_limit(16 * 1024).unwrap();
    let addr = app_with(CorrelationLayer::new(), N).await;
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let client = client.clone();
        tasks.spawn(async move {
            let id = format!("load-{i}");
            let (status, headers, body) = fetch(
                &client,
                addr,
                "/concurrent",
                &[("x-request-id", id.as_bytes())],
            )
            .await;
            (id, status, request_id(&headers), body)
        });
    }
    let mut seen = 0;
    while let Some(result) = tasks.join_next().await {
        let (id, status, echoed, body) = result.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(echoed, id);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body, json!({ "mine": id, "current": id, "sent": id }));
        seen += 1;
    }
    assert_eq!(seen, N);
}

#[tokio::test]
async fn the_id_is_echoed_on_error_and_inner_layer_responses() {
    let addr = app().await;
    let client = client();
    for (path, status) in [
        ("/fail", StatusCode::INTERNAL_SERVER_ERROR),
        ("/private", StatusCode::UNAUTHORIZED),
        ("/no-such-route", StatusCode::NOT_FOUND),
    ] {
        let (got, headers, _) = fetch(&client, addr, path, &[("x-request-id", b"err-1")]).await;
        assert_eq!(got, status, "{path}");
        assert_eq!(request_id(&headers), "err-1", "{path}");
    }
    let (_, headers, _) = fetch(&client, addr, "/fail", &[]).await;
    let id = request_id(&headers);
    let access = wait_for_line(&id, "request completed").await;
    assert_eq!(access["http.response.status_code"], 500);
    assert!(
        lines_of(&id)
            .iter()
            .any(|l| l["message"] == "the handler failed" && l["level"] == "ERROR")
    );
}

#[tokio::test]
async fn the_access_log_waits_for_the_end_of_a_streaming_body() {
    let addr = app().await;
    let (_, headers, body) = fetch(&client(), addr, "/stream/3", &[]).await;
    assert_eq!(body, "chunk\n".repeat(3));
    let id = request_id(&headers);
    let access = wait_for_line(&id, "request completed").await;
    assert!(
        access["duration_ms"].as_f64().unwrap() >= 120.0,
        "three chunks 40 ms apart: {access}"
    );
    assert_eq!(
        lines_of(&id)
            .iter()
            .filter(|l| l["message"] == "sent a chunk")
            .count(),
        3,
        "events from the body carry the ID"
    );
}

#[tokio::test]
async fn a_client_that_goes_away_is_logged_as_cancelled() {
    let addr = app().await;
    let client = client();
    let request = http::Request::get(format!("http://{addr}/stream/1000000"))
        .header("x-request-id", "gone-1")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(request_id(response.headers()), "gone-1");
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    drop(client);
    let access = wait_for_line("gone-1", "request cancelled").await;
    assert_eq!(access["outcome"], "cancelled");
    assert_eq!(access["http.response.status_code"], 200);
}

#[tokio::test]
async fn trust_policies_decide_whether_inbound_ids_count() {
    capture_logs();
    let handler = get(|id: CorrelationId| async move { id.to_string() });
    let always = serve(
        Router::new()
            .route("/", handler.clone())
            .layer(CorrelationLayer::new().trust(TrustPolicy::nobody())),
    )
    .await;
    let client = client();
    let (_, headers, body) = fetch(&client, always, "/", &[("x-request-id", b"spoofed")]).await;
    assert_generated(&body);
    assert_eq!(request_id(&headers), body);

    let loopback_only = |caller: &Caller<'_>| {
        caller
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .is_some_and(|info| info.0.ip().is_loopback())
    };
    let trusted = serve_with_peer(
        Router::new()
            .route("/", handler.clone())
            .layer(CorrelationLayer::new().trust(TrustPolicy::when(loopback_only))),
    )
    .await;
    let (_, _, body) = fetch(&client, trusted, "/", &[("x-request-id", b"from-sidecar")]).await;
    assert_eq!(body, "from-sidecar");

    let untrusted = serve_with_peer(
        Router::new()
            .route("/", handler)
            .layer(CorrelationLayer::new().trust(TrustPolicy::when(move |p| !loopback_only(p)))),
    )
    .await;
    let (_, _, body) = fetch(
        &client,
        untrusted,
        "/",
        &[("x-request-id", b"from-outside")],
    )
    .await;
    assert_generated(&body);
    assert!(lines_of(&body).iter().any(|l| l["message"]
        == "ignored the inbound correlation ID of an untrusted caller and generated a new one"));
}

#[tokio::test]
async fn header_names_length_generator_and_access_log_are_configurable() {
    capture_logs();
    let layer = CorrelationLayer::new()
        .header_name(HeaderName::from_static("x-correlation-id"))
        .also_accept(HeaderName::from_static("x-request-id"))
        .max_len(8)
        .generator(|| CorrelationId::new("made-here").unwrap())
        .access_log(None);
    let addr = serve(
        Router::new()
            .route("/", get(|id: CorrelationId| async move { id.to_string() }))
            .layer(layer),
    )
    .await;
    let client = client();
    type Headers<'a> = &'a [(&'a str, &'a [u8])];
    let cases: &[(Headers<'_>, &str)] = &[
        (&[("x-correlation-id", b"primary")], "primary"),
        (&[("x-request-id", b"fallback")], "fallback"),
        (
            &[("x-correlation-id", b"first"), ("x-request-id", b"second")],
            "first",
        ),
        (&[("x-correlation-id", b"waytoolong")], "made-here"),
        (&[], "made-here"),
    ];
    for (headers, expected) in cases {
        let (_, response, body) = fetch(&client, addr, "/", headers).await;
        assert_eq!(body, *expected, "{headers:?}");
        assert_eq!(
            response["x-correlation-id"], *expected,
            "echoed in the main header"
        );
        assert!(!response.contains_key("x-request-id"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !lines_of("primary")
            .iter()
            .any(|l| l["target"] == "tower_telemetry::access_log"),
        "access log turned off"
    );
}

#[tokio::test]
async fn nested_layers_keep_the_outer_id_and_log_once() {
    capture_logs();
    let addr = serve(
        Router::new()
            .route("/", get(|id: CorrelationId| async move { id.to_string() }))
            .layer(CorrelationLayer::new())
            .layer(CorrelationLayer::new().trust(TrustPolicy::nobody())),
    )
    .await;
    let (_, headers, body) = fetch(&client(), addr, "/", &[("x-request-id", b"inbound")]).await;
    assert_generated(&body);
    assert_eq!(request_id(&headers), body, "the outer layer chose the ID");
    wait_for_line(&body, "request completed").await;
    assert_eq!(
        lines_of(&body)
            .iter()
            .filter(|l| l["target"] == "tower_telemetry::access_log")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_plain_hyper_service_fn_stack_works() {
    capture_logs();
    let service = ServiceBuilder::new()
        .layer(CorrelationLayer::new())
        .service_fn(|request: http::Request<hyper::body::Incoming>| async move {
            let id = request.extensions().get::<CorrelationId>().unwrap().clone();
            Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(Bytes::from(
                id.to_string(),
            ))))
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    let (_, headers, body) = fetch(&client(), addr, "/", &[("x-request-id", b"hyper-1")]).await;
    assert_eq!(body, "hyper-1");
    assert_eq!(request_id(&headers), "hyper-1");
    let (_, headers, body) = fetch(&client(), addr, "/", &[]).await;
    assert_generated(&body);
    assert_eq!(request_id(&headers), body);
}

#[tokio::test]
async fn the_service_keeps_readiness_and_errors_of_the_inner_service() {
    capture_logs();
    let mut service = ServiceBuilder::new()
        .layer(CorrelationLayer::new())
        .service_fn(|_: http::Request<()>| async {
            Err::<http::Response<Empty<Bytes>>, _>("inner failure")
        });
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .unwrap();
    let request = http::Request::builder()
        .header("x-request-id", "failing-1")
        .body(())
        .unwrap();
    assert_eq!(service.call(request).await.unwrap_err(), "inner failure");
    let access = wait_for_line("failing-1", "request failed").await;
    assert_eq!(access["outcome"], "failed");
    assert!(access.get("http.response.status_code").is_none());
    let _ = service.get_ref();
    let _ = service.get_mut();
    let _inner = service.into_inner();
}
