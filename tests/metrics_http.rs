//! Request metrics through the real Prometheus exporter: a real axum server on 127.0.0.1 with
//! `MetricsLayer`, a real hyper client behind `MetricsClientLayer`, named operations, and the
//! cardinality cap under a scan of 100,000 random hosts, paths and methods.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::{any, get};
use common::prom::{prometheus, samples, value};
use common::*;
use http::StatusCode;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_telemetry::classify::{
    Failure, GrpcErrorsAsFailures, ServerErrorsAsFailures, StatusClassifier,
};
use tower_telemetry::metrics::{MetricsClientLayer, MetricsLayer, OperationLayer};

const DURATION: &str = "http_server_request_duration_seconds_count";
const ACTIVE: &str = "http_server_active_requests";

/// A router whose routes carry a unique prefix, so tests sharing the recorder do not mix.
fn app<M>(prefix: &str, layer: MetricsLayer<M>) -> Router
where
    M: tower_telemetry::classify::MakeClassifier + Clone + Send + Sync + 'static,
    M::FailureClass: tower_telemetry::classify::ErrorType + Send + 'static,
    M::Classifier: Send + 'static,
    M::ClassifyEos: Send + 'static,
{
    prometheus();
    Router::new()
        .route(&format!("/{prefix}/users/{{id}}"), get(|| async { "user" }))
        .route(
            &format!("/{prefix}/fail"),
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            &format!("/{prefix}/missing"),
            get(|| async { StatusCode::NOT_FOUND }),
        )
        .route(&format!("/{prefix}/any"), any(|| async { "any" }))
        .route(
            &format!("/{prefix}/not-modified"),
            get(|| async { (StatusCode::NOT_MODIFIED, "a body hyper drops") }),
        )
        .route(
            &format!("/{prefix}/no-content"),
            get(|| async { (StatusCode::NO_CONTENT, "a body hyper drops") }),
        )
        .route(
            &format!("/{prefix}/stream/{{chunks}}"),
            get(|Path(chunks): Path<usize>| async move {
                Body::new(SlowBody::new(chunks, Duration::from_millis(40)))
            }),
        )
        .layer(layer)
}

fn labels<'a>(
    method: &'a str,
    route: &'a str,
    status: &'a str,
    error: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut labels = vec![
        ("http_request_method", method),
        ("url_scheme", "http"),
        ("http_route", route),
        ("http_response_status_code", status),
        ("network_protocol_version", "1.1"),
    ];
    if let Some(error) = error {
        labels.push(("error_type", error));
    }
    labels
}

#[tokio::test]
async fn server_requests_are_counted_by_route_status_and_outcome() {
    // Before any layer is built, so that its metric descriptions (units) reach it.
    prometheus();
    let addr = serve(app("red", MetricsLayer::new())).await;
    let client = client();
    for _ in 0..3 {
        fetch(&client, addr, "/red/users/7", &[]).await;
    }
    fetch(&client, addr, "/red/fail", &[]).await;
    fetch(&client, addr, "/red/missing", &[]).await;
    let purge = http::Request::builder()
        .method("PURGE")
        .uri(format!("http://{addr}/red/any"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    client.request(purge).await.unwrap();

    assert_eq!(
        value(DURATION, &labels("GET", "/red/users/{id}", "200", None)),
        Some(3.0)
    );
    assert_eq!(
        value(DURATION, &labels("GET", "/red/fail", "500", Some("500"))),
        Some(1.0),
        "5xx fails"
    );
    assert_eq!(
        value(DURATION, &labels("GET", "/red/missing", "404", None)),
        Some(1.0),
        "4xx does not"
    );
    assert_eq!(
        value(DURATION, &labels("_OTHER", "/red/any", "200", None)),
        Some(1.0)
    );
    assert_eq!(
        value(
            ACTIVE,
            &[("http_request_method", "GET"), ("url_scheme", "http")]
        ),
        Some(0.0)
    );
    let text = prometheus().render();
    assert!(
        text.contains("# TYPE http_server_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains(r#"http_server_request_duration_seconds_bucket{http_request_method="GET",url_scheme="http",http_route="/red/users/{id}",http_response_status_code="200",network_protocol_version="1.1",le="0.005"}"#),
        "conventional buckets: {text}"
    );
}

#[tokio::test]
async fn four_xx_can_count_as_failures() {
    // Before any layer is built, so that its metric descriptions (units) reach it.
    prometheus();
    let layer = MetricsLayer::new().classifier(StatusClassifier::new(|s: StatusCode| {
        s.is_client_error() || s.is_server_error()
    }));
    let addr = serve(app("strict", layer)).await;
    fetch(&client(), addr, "/strict/missing", &[]).await;
    assert_eq!(
        value(
            DURATION,
            &labels("GET", "/strict/missing", "404", Some("404"))
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn duration_covers_the_body_or_only_the_head() {
    // Before any layer is built, so that its metric descriptions (units) reach it.
    prometheus();
    let full = serve(app("full", MetricsLayer::new())).await;
    let head = serve(app("head", MetricsLayer::new().until_first_byte(true))).await;
    let client = client();
    fetch(&client, full, "/full/stream/3", &[]).await;
    fetch(&client, head, "/head/stream/3", &[]).await;
    let sum = |route: &str| {
        value(
            "http_server_request_duration_seconds_sum",
            &labels("GET", route, "200", None),
        )
        .unwrap()
    };
    let (full, head) = (sum("/full/stream/{chunks}"), sum("/head/stream/{chunks}"));
    assert!(full >= 0.12, "three chunks 40 ms apart: {full}");
    // The head comes before the first chunk: the body's 120 ms are not in the measure (compared
    // with a margin rather than an absolute bound, so a loaded machine does not flake it).
    assert!(head + 0.1 <= full, "head {head} s, full {full} s");
}

#[tokio::test]
async fn a_client_that_goes_away_is_cancelled_and_the_gauge_returns_to_zero() {
    // Before any layer is built, so that its metric descriptions (units) reach it.
    prometheus();
    let addr = serve(app("gone", MetricsLayer::new().scheme("https"))).await;
    let client = client();
    let request = http::Request::get(format!("http://{addr}/gone/stream/1000000"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    let mut body = response.into_body();
    http_body_util::BodyExt::frame(&mut body)
        .await
        .unwrap()
        .unwrap();
    let active = [("http_request_method", "GET"), ("url_scheme", "https")];
    assert_eq!(
        value(ACTIVE, &active),
        Some(1.0),
        "in flight while streaming"
    );
    drop(body);
    drop(client);
    let cancelled = [
        ("http_request_method", "GET"),
        ("url_scheme", "https"),
        ("http_route", "/gone/stream/{chunks}"),
        ("http_response_status_code", "200"),
        ("error_type", "cancelled"),
        ("network_protocol_version", "1.1"),
    ];
    for _ in 0..200 {
        if value(DURATION, &cancelled) == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(value(DURATION, &cancelled), Some(1.0));
    assert_eq!(value(ACTIVE, &active), Some(0.0));
}

#[tokio::test]
async fn client_calls_are_recorded_with_the_server_address() {
    // Before any layer is built, so that its metric descriptions (units) reach it.
    prometheus();
    let addr = serve(app("upstream", MetricsLayer::new())).await;
    let client = ServiceBuilder::new()
        .layer(MetricsClientLayer::new())
        .service(client());
    for path in ["/upstream/users/1", "/upstream/missing"] {
        let request = http::Request::get(format!("http://localhost:{}{path}", addr.port()))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
    }
    let port: &str = Box::leak(addr.port().to_string().into_boxed_str());
    let client_labels = |status: &'static str, error: Option<&'static str>| {
        let mut labels = vec![
            ("http_request_method", "GET"),
            ("url_scheme", "http"),
            ("server_address", "localhost"),
            ("server_port", port),
            ("http_response_status_code", status),
            ("network_protocol_version", "1.1"),
        ];
        labels.extend(error.map(|e| ("error_type", e)));
        labels
    };
    let name = "http_client_request_duration_seconds_count";
    assert_eq!(value(name, &client_labels("200", None)), Some(1.0));
    assert_eq!(
        value(
            "http_client_active_requests",
            &[
                ("http_request_method", "GET"),
                ("url_scheme", "http"),
                ("server_address", "localhost"),
                ("server_port", port),
            ]
        ),
        Some(0.0),
        "the in-flight gauge of a client names its server"
    );
    assert_eq!(
        value(name, &client_labels("404", Some("404"))),
        Some(1.0),
        "4xx fails a client call"
    );
}

#[tokio::test]
async fn grpc_status_in_trailers_decides_the_outcome() {
    prometheus();
    let service = ServiceBuilder::new()
        .layer(MetricsLayer::new().classifier(GrpcErrorsAsFailures::make_classifier()))
        .service(service_fn(|request: http::Request<()>| async move {
            let code = request
                .uri()
                .path()
                .trim_start_matches("/grpc-trailers/")
                .to_owned();
            let body = http_body_util::BodyExt::with_trailers(
                http_body_util::Full::new(bytes::Bytes::from_static(b"message")),
                async move {
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", code.parse().unwrap());
                    Some(Ok::<_, std::convert::Infallible>(trailers))
                },
            );
            Ok::<_, std::convert::Infallible>(
                http::Response::builder()
                    .header("content-type", "application/grpc")
                    .body(body)
                    .unwrap(),
            )
        }));
    for code in ["0", "5"] {
        let request = http::Request::post(format!("/grpc-trailers/{code}"))
            .body(())
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
    }
    let text = prometheus().render();
    let outcomes: Vec<_> = samples(&text)
        .into_iter()
        .filter(|s| {
            s.name == DURATION
                && s.labels.get("http_request_method").map(String::as_str) == Some("POST")
                && !s.labels.contains_key("http_route")
        })
        .map(|s| (s.labels.get("error_type").cloned(), s.value))
        .collect();
    assert!(
        outcomes.contains(&(None, 1.0)),
        "grpc-status 0 is a success: {outcomes:?}"
    );
    assert!(
        outcomes.contains(&(Some("NOT_FOUND".to_owned()), 1.0)),
        "grpc-status 5 in trailers fails: {outcomes:?}"
    );
}

#[tokio::test]
async fn named_operations_record_duration_and_outcome() {
    prometheus();
    // A background job: `Err` fails.
    let job = ServiceBuilder::new()
        .layer(OperationLayer::new("billing.sync"))
        .service(service_fn(|batch: u32| async move {
            if batch.is_multiple_of(4) {
                Err("ledger unavailable")
            } else {
                Ok(batch)
            }
        }));
    for batch in 1..=8 {
        let _ = job.clone().oneshot(batch).await;
    }
    // An outbound call that times out is a failure although it returned `Ok`.
    let ai = ServiceBuilder::new()
        .layer(
            OperationLayer::new("ai.request").classifier(|answer: &Option<&str>| {
                answer.is_none().then_some(Failure::Named("timeout"))
            }),
        )
        .service(service_fn(|prompt: &'static str| async move {
            Ok::<_, std::convert::Infallible>((!prompt.is_empty()).then_some("answer"))
        }));
    ai.clone().oneshot("hello").await.unwrap();
    ai.clone().oneshot("").await.unwrap();
    // A route: 5xx fails.
    let login = ServiceBuilder::new()
        .layer(OperationLayer::new("auth.login").classifier(ServerErrorsAsFailures::new()))
        .service(service_fn(|ok: bool| async move {
            let status = if ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            Ok::<_, std::convert::Infallible>(
                http::Response::builder().status(status).body(()).unwrap(),
            )
        }));
    login.clone().oneshot(true).await.unwrap();
    login.clone().oneshot(false).await.unwrap();
    // A call dropped before it completes.
    let slow = ServiceBuilder::new()
        .layer(OperationLayer::new("slow.call"))
        .service(service_fn(|()| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, std::convert::Infallible>(())
        }));
    assert!(
        tokio::time::timeout(Duration::from_millis(20), slow.oneshot(()))
            .await
            .is_err()
    );

    let count = "operation_duration_seconds_count";
    assert_eq!(value(count, &[("operation", "billing.sync")]), Some(6.0));
    assert_eq!(
        value(
            count,
            &[("operation", "billing.sync"), ("error_type", "_OTHER")]
        ),
        Some(2.0),
        "a `&str` error is no type name"
    );
    assert_eq!(value(count, &[("operation", "ai.request")]), Some(1.0));
    assert_eq!(
        value(
            count,
            &[("operation", "ai.request"), ("error_type", "timeout")]
        ),
        Some(1.0)
    );
    assert_eq!(value(count, &[("operation", "auth.login")]), Some(1.0));
    assert_eq!(
        value(count, &[("operation", "auth.login"), ("error_type", "503")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            count,
            &[("operation", "slow.call"), ("error_type", "cancelled")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_scan_of_100000_random_hosts_paths_and_methods_stays_bounded() {
    prometheus();
    const MAX: usize = 50;
    // A server behind an axum router: raw paths never become labels.
    let router = app("scan", MetricsLayer::new().max_label_sets(MAX));
    // A client: every host is a label value, so only the cap bounds it.
    let transport = service_fn(|_: http::Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(
            http_body_util::Empty::<bytes::Bytes>::new(),
        ))
    });
    let client = ServiceBuilder::new()
        .layer(MetricsClientLayer::new().max_label_sets(MAX))
        .service(transport);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..100_000u32 {
        let n = next();
        let method = http::Method::from_bytes(format!("M{:X}", n % 100_000).as_bytes()).unwrap();
        let request = http::Request::builder()
            .method(method.clone())
            .uri(format!("/scan/{n:x}/{i}"))
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert!(response.status().is_client_error());
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://h{n:x}.example/"))
            .body(())
            .unwrap();
        client.clone().oneshot(request).await.unwrap();
    }
    let text = prometheus().render();
    let server_series = samples(&text)
        .into_iter()
        .filter(|s| {
            s.name == DURATION
                && s.labels.get("url_scheme").map(String::as_str) == Some("http")
                && !s.labels.contains_key("http_route")
                && s.labels
                    .get("http_response_status_code")
                    .map(String::as_str)
                    == Some("404")
        })
        .count();
    assert!(
        server_series <= 2,
        "random paths and methods map to _OTHER and no route: {server_series}"
    );
    let client_series: Vec<_> = samples(&text)
        .into_iter()
        .filter(|s| {
            s.name == "http_client_request_duration_seconds_count"
                && s.labels
                    .get("server_address")
                    .is_some_and(|a| a.ends_with(".example"))
        })
        .collect();
    // The cap is process-wide: client label sets of other tests in this binary count too.
    assert!(
        (MAX - 10..=MAX).contains(&client_series.len()),
        "the cap holds: {}",
        client_series.len()
    );
    let overflow = value(
        "http_client_request_duration_seconds_count",
        &[("otel_metric_overflow", "true")],
    )
    .unwrap();
    let counted: f64 = client_series.iter().map(|s| s.value).sum::<f64>() + overflow;
    assert_eq!(counted, 100_000.0, "every call is still counted");
}

/// `error.type` of failed operations: bounded names for well-known errors, a user type's own
/// name, `_OTHER` for primitives and standard types, and the user's own mapping first.
#[tokio::test]
async fn operation_errors_are_named_by_what_they_are() {
    #[derive(Debug)]
    enum LedgerError {
        Unavailable,
    }
    impl std::fmt::Display for LedgerError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("ledger unavailable")
        }
    }
    impl std::error::Error for LedgerError {}

    prometheus();
    async fn fail<E: 'static>(layer: OperationLayer, error: impl Fn() -> E) {
        let service = ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(|()| std::future::ready(Err::<(), E>(error()))));
        assert!(service.oneshot(()).await.is_err());
    }
    fail(OperationLayer::new("named.io"), || {
        std::io::Error::from(std::io::ErrorKind::ConnectionRefused)
    })
    .await;
    fail(OperationLayer::new("named.user"), || {
        LedgerError::Unavailable
    })
    .await;
    fail(OperationLayer::new("named.string"), || "down".to_owned()).await;
    fail(OperationLayer::new("named.boxed"), || {
        Box::<dyn std::error::Error + Send + Sync>::from(LedgerError::Unavailable)
    })
    .await;
    fn ledger(error: &tower_telemetry::classify::ErrorRef<'_>) -> Option<&'static str> {
        error
            .downcast_ref::<LedgerError>()
            .map(|LedgerError::Unavailable| "ledger_unavailable")
    }
    fail(
        OperationLayer::new("named.mapped").error_types(ledger),
        || Box::<dyn std::error::Error + Send + Sync>::from(LedgerError::Unavailable),
    )
    .await;
    // tower's timeout, boxed as tower boxes it.
    let slow = ServiceBuilder::new()
        .layer(OperationLayer::new("named.timeout"))
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(1)))
        .service(service_fn(|()| {
            std::future::pending::<Result<(), std::io::Error>>()
        }));
    assert!(slow.oneshot(()).await.is_err());

    let count = |operation, error_type| {
        value(
            "operation_duration_seconds_count",
            &[("operation", operation), ("error_type", error_type)],
        )
    };
    assert_eq!(count("named.io", "connection_refused"), Some(1.0));
    assert_eq!(count("named.user", "LedgerError"), Some(1.0));
    assert_eq!(count("named.string", "_OTHER"), Some(1.0));
    assert_eq!(
        count("named.boxed", "_OTHER"),
        Some(1.0),
        "a box hides its type"
    );
    assert_eq!(count("named.mapped", "ledger_unavailable"), Some(1.0));
    assert_eq!(count("named.timeout", "timeout"), Some(1.0));
}

/// Transport errors of a real hyper-util client have bounded names: a port nobody listens on is
/// `connect`; a server that hangs up before answering is hyper's `incomplete_message`, one that
/// hangs up in the middle of a body `unexpected_eof`.
#[tokio::test]
async fn client_transport_errors_are_named_by_what_went_wrong() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    prometheus();
    let outbound = ServiceBuilder::new()
        .layer(MetricsClientLayer::new())
        .service(client());
    let get = |port: u16, path: &str| {
        http::Request::get(format!("http://127.0.0.1:{port}{path}"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap()
    };
    // A port that was free a moment ago: nobody listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert!(outbound.clone().oneshot(get(closed, "/")).await.is_err());

    // Reads each request head, then hangs up: at once on the first connection, after half a
    // body on the second.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        for answer in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf",
        ] {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = [0; 1024];
            let _ = stream.read(&mut head).await;
            let _ = stream.write_all(answer).await;
        }
    });
    assert!(
        outbound
            .clone()
            .oneshot(get(port, "/hang-up"))
            .await
            .is_err()
    );
    let response = outbound.clone().oneshot(get(port, "/half")).await.unwrap();
    assert!(
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .is_err()
    );

    let errors = |port: u16| -> Vec<(Option<String>, String)> {
        samples(&prometheus().render())
            .into_iter()
            .filter(|s| {
                s.name == "http_client_request_duration_seconds_count"
                    && s.labels.get("server_port") == Some(&port.to_string())
            })
            .map(|s| {
                (
                    s.labels.get("http_response_status_code").cloned(),
                    s.labels["error_type"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(errors(closed), [(None, "connect".to_owned())]);
    let mut cut = errors(port);
    cut.sort();
    assert_eq!(
        cut,
        [
            (None, "incomplete_message".to_owned()),
            (Some("200".to_owned()), "unexpected_eof".to_owned())
        ]
    );
}

/// `url.scheme` comes from a forwarded header only when the layer trusts the caller (the
/// proxy in front of the service); otherwise from the request or the layer's setting.
#[tokio::test]
async fn a_trusted_proxy_says_the_scheme_and_nobody_else_does() {
    use tower_telemetry::trust::TrustPolicy;
    prometheus();
    let trusting = serve(app(
        "behind-proxy",
        MetricsLayer::new().forwarded_scheme(TrustPolicy::everyone()),
    ))
    .await;
    let wary = serve(app("exposed", MetricsLayer::new())).await;
    let client = client();
    let proxied: &[(&str, &[u8])] = &[("x-forwarded-proto", b"https")];
    fetch(&client, trusting, "/behind-proxy/users/1", proxied).await;
    fetch(&client, wary, "/exposed/users/1", proxied).await;
    let scheme_of = |route: &str| {
        samples(&prometheus().render())
            .into_iter()
            .find(|s| {
                s.name == DURATION && s.labels.get("http_route").map(String::as_str) == Some(route)
            })
            .map(|s| s.labels["url_scheme"].clone())
    };
    assert_eq!(
        scheme_of("/behind-proxy/users/{id}").as_deref(),
        Some("https")
    );
    assert_eq!(
        scheme_of("/exposed/users/{id}").as_deref(),
        Some("http"),
        "an untrusted caller cannot set the label"
    );
}

/// Opt-in body sizes, server and client: the bytes of each request and response body as they
/// stream, with the duration's labels; a response the client abandons is recorded with what was
/// sent, as cancelled.
#[tokio::test]
async fn body_sizes_count_what_streams_server_and_client() {
    use axum::routing::post;
    use http_body_util::{BodyExt, Full};
    use tower_telemetry::metrics::RequestBody;

    prometheus();
    let router = Router::new()
        .route(
            "/sizes/upload",
            post(|body: bytes::Bytes| async move { "x".repeat(body.len() / 10) }),
        )
        .route(
            "/sizes/stream/{chunks}",
            get(|Path(chunks): Path<usize>| async move {
                Body::new(SlowBody::new(chunks, Duration::from_millis(40)))
            }),
        )
        .layer(MetricsLayer::new().body_sizes());
    let addr = serve(router).await;
    // A client whose request bodies the client layer counts.
    let hyper_client: hyper_util::client::legacy::Client<_, RequestBody<Full<bytes::Bytes>>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let outbound = ServiceBuilder::new()
        .layer(MetricsClientLayer::new().body_sizes())
        .service(hyper_client);
    let upload = http::Request::post(format!("http://localhost:{}/sizes/upload", addr.port()))
        .body(Full::new(bytes::Bytes::from(vec![b'a'; 10_000])))
        .unwrap();
    let response = outbound.clone().oneshot(upload).await.unwrap();
    assert_eq!(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .len(),
        1_000
    );

    let sum = |name: &str, route: (&str, &str)| -> Option<(f64, f64)> {
        let series = samples(&prometheus().render());
        let find = |suffix: &str| {
            series
                .iter()
                .find(|s| {
                    s.name == format!("{name}{suffix}")
                        && s.labels.get(route.0).map(String::as_str) == Some(route.1)
                })
                .map(|s| s.value)
        };
        Some((find("_sum")?, find("_count")?))
    };
    let route = ("http_route", "/sizes/upload");
    until("the upload recorded", async || {
        sum("http_server_request_body_size_bytes", route).is_some()
    })
    .await;
    assert_eq!(
        sum("http_server_request_body_size_bytes", route),
        Some((10_000.0, 1.0))
    );
    assert_eq!(
        sum("http_server_response_body_size_bytes", route),
        Some((1_000.0, 1.0))
    );
    let host = ("server_address", "localhost");
    assert_eq!(
        sum("http_client_request_body_size_bytes", host),
        Some((10_000.0, 1.0))
    );
    assert_eq!(
        sum("http_client_response_body_size_bytes", host),
        Some((1_000.0, 1.0))
    );

    // A stream the client drops after its first chunk: what was sent, as cancelled.
    let request = http::Request::get(format!("http://{addr}/sizes/stream/1000000"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let client = client();
    let mut body = client.request(request).await.unwrap().into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    drop(client);
    let cancelled = |name: &str| {
        samples(&prometheus().render())
            .into_iter()
            .find(|s| {
                s.name == format!("{name}_sum")
                    && s.labels.get("http_route").map(String::as_str)
                        == Some("/sizes/stream/{chunks}")
                    && s.labels.get("error_type").map(String::as_str) == Some("cancelled")
            })
            .map(|s| s.value)
    };
    let sent = until_value("the abandoned stream recorded", async || {
        cancelled("http_server_response_body_size_bytes")
    })
    .await;
    assert!(sent >= 1.0, "at least the first chunk was sent: {sent}");
    assert_eq!(cancelled("http_server_request_body_size_bytes"), Some(0.0));
}

/// Responses without content by definition (HEAD, 204, 304), whose bodies hyper drops
/// unread, are recorded with their own outcome, not as cancelled; a client that hangs up
/// part-way through a body still is.
#[tokio::test]
async fn bodyless_responses_are_not_cancellations() {
    prometheus();
    let addr = serve(app("bodyless", MetricsLayer::new())).await;
    let client = client();
    for _ in 0..3 {
        let head = http::Request::head(format!("http://{addr}/bodyless/users/7"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = client.request(head).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-length"], "4");
    }
    let (status, _, _) = fetch(&client, addr, "/bodyless/not-modified", &[]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, _, _) = fetch(&client, addr, "/bodyless/no-content", &[]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let count = |method, route: &str, status, error| {
        let route = format!("/bodyless/{route}");
        value(DURATION, &labels(method, &route, status, error))
    };
    until("the three HEAD requests recorded", async || {
        count("HEAD", "users/{id}", "200", None) == Some(3.0)
    })
    .await;
    assert_eq!(count("HEAD", "users/{id}", "200", Some("cancelled")), None);
    assert_eq!(count("GET", "not-modified", "304", None), Some(1.0));
    assert_eq!(count("GET", "no-content", "204", None), Some(1.0));

    // A client that hangs up in the middle of a body is still a cancellation.
    let request = http::Request::get(format!("http://{addr}/bodyless/stream/1000000"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let mut body = client.request(request).await.unwrap().into_body();
    http_body_util::BodyExt::frame(&mut body)
        .await
        .unwrap()
        .unwrap();
    drop(body);
    drop(client);
    until("the abandoned stream recorded", async || {
        count("GET", "stream/{chunks}", "200", Some("cancelled")) == Some(1.0)
    })
    .await;
}

/// A user callback that panics inside the layer (here the classifier, on 404s) fails that
/// request only: the connection is dropped, the request is counted as cancelled, the
/// in-flight gauge comes back down, and the layer's shared label sets keep working for every
/// request after it.
#[tokio::test]
async fn a_panicking_classifier_fails_one_request_and_poisons_nothing() {
    // Installed before the layer is built, so that the layer's unit descriptions reach it.
    prometheus();
    let layer = MetricsLayer::new().classifier(StatusClassifier::new(|s: StatusCode| {
        assert!(s != StatusCode::NOT_FOUND, "a classifier bug");
        s.is_server_error()
    }));
    let addr = serve(app("panicky", layer)).await;
    let http = client();
    let request = http::Request::get(format!("http://{addr}/panicky/missing"))
        .body(http_body_util::Empty::new())
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), http.request(request))
        .await
        .expect("the connection ends within 10 s");
    assert!(answer.is_err(), "the panicking request gets no response");
    for _ in 0..3 {
        let (status, _, _) = fetch(&http, addr, "/panicky/users/1", &[]).await;
        assert_eq!(status, StatusCode::OK);
        fetch(&http, addr, "/panicky/fail", &[]).await;
    }
    assert_eq!(
        value(DURATION, &labels("GET", "/panicky/users/{id}", "200", None)),
        Some(3.0)
    );
    assert_eq!(
        value(
            DURATION,
            &labels("GET", "/panicky/fail", "500", Some("500"))
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            DURATION,
            &labels("GET", "/panicky/missing", "404", Some("cancelled"))
        ),
        Some(1.0),
        "the request whose classification panicked is counted, as cancelled"
    );
}

/// What real HTTP requests emit, spans and metric labels, server and client, is the
/// checked-in list (docs/reference/emitted-http.tsv): nothing unlisted, every required
/// attribute present, nothing the registry deprecated; the query is recorded with its
/// sensitive values redacted.
#[tokio::test]
async fn what_the_http_layers_emit_is_the_checked_in_list() {
    use std::collections::BTreeSet;

    use opentelemetry::trace::{SpanKind, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tower_telemetry::trace::{TraceClientLayer, TraceLayer};

    prometheus();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let router = app("emitted", MetricsLayer::new())
        .layer(TraceLayer::with_tracer(provider.tracer("server")))
        .layer(tower_telemetry::CorrelationLayer::new());
    let addr = serve(router).await;
    let outbound = ServiceBuilder::new()
        .layer(TraceClientLayer::with_tracer(provider.tracer("client")))
        .layer(MetricsClientLayer::new())
        .service(client());
    for (method, path) in [
        (
            "GET",
            "/emitted/users/7?q=rust&sig=abc&X-Goog-Signature=def",
        ),
        ("GET", "/emitted/fail"),
        ("GET", "/emitted/missing"),
        ("PURGE", "/emitted/any"),
        ("HEAD", "/emitted/users/8"),
    ] {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://localhost:{}{path}", addr.port()))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = outbound.clone().oneshot(request).await.unwrap();
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
    }
    let spans = until_value("ten spans", async || {
        let spans = exporter.get_finished_spans().unwrap();
        (spans.len() >= 10).then_some(spans)
    })
    .await;

    let list = common::emitted::Emitted::read("emitted-http.tsv");
    let check = |what: &str, keys: BTreeSet<String>, allowed, required| {
        common::emitted::assert_listed(what, &[(String::new(), keys)], &allowed, &required);
    };
    for (kind, instrument) in [(SpanKind::Server, "server"), (SpanKind::Client, "client")] {
        let mine: Vec<_> = spans.iter().filter(|s| s.span_kind == kind).collect();
        assert_eq!(mine.len(), 5, "{instrument} spans: {mine:#?}");
        for span in mine {
            let keys = span
                .attributes
                .iter()
                .map(|kv| kv.key.as_str().to_owned())
                .collect();
            check(
                &format!("{instrument} span {}", span.name),
                keys,
                list.listed("span", instrument),
                list.required("span", instrument),
            );
        }
    }
    let attribute = |kind: SpanKind, key: &str| -> Vec<String> {
        spans
            .iter()
            .filter(|s| s.span_kind == kind)
            .filter_map(|s| {
                s.attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == key)
                    .map(|kv| kv.value.to_string())
            })
            .collect()
    };
    assert_eq!(
        attribute(SpanKind::Server, "url.query"),
        ["q=rust&sig=REDACTED&X-Goog-Signature=REDACTED"],
        "the query, once, its sensitive values redacted"
    );
    assert!(
        attribute(SpanKind::Client, "url.full")
            .iter()
            .any(|full| full
                .ends_with("/emitted/users/7?q=rust&sig=REDACTED&X-Goog-Signature=REDACTED")),
        "{:?}",
        attribute(SpanKind::Client, "url.full")
    );

    let exposition = prometheus().render();
    for (metric, opt_in) in [
        ("http_server_request_duration_seconds", false),
        ("http_server_active_requests", false),
        ("http_client_request_duration_seconds", false),
        ("http_client_active_requests", false),
        // Recorded when a test of this binary turned them on.
        ("http_server_request_body_size_bytes", true),
        ("http_server_response_body_size_bytes", true),
        ("http_client_request_body_size_bytes", true),
        ("http_client_response_body_size_bytes", true),
    ] {
        let series = common::prom::samples_of(&exposition, metric);
        assert!(opt_in || !series.is_empty(), "{metric} in {exposition}");
        for sample in series {
            let keys: BTreeSet<String> = sample
                .labels
                .keys()
                .filter(|label| *label != "le")
                .cloned()
                .collect();
            // The overflow series carry the outcome alone.
            let required = if keys.contains("otel_metric_overflow") {
                BTreeSet::new()
            } else {
                list.required("metric", metric)
            };
            check(
                &format!("{sample:?}"),
                keys,
                list.listed("metric", metric),
                required,
            );
        }
    }

    // The names the registry deprecated appear nowhere.
    let everything = format!("{spans:?}{exposition}");
    for deprecated in [
        "\"http.method\"",
        "\"http.status_code\"",
        "\"http.url\"",
        "\"http.target\"",
        "\"http.scheme\"",
        "\"http.flavor\"",
        "\"net.peer.name\"",
        "\"net.host.name\"",
        "\"http.user_agent\"",
        "\"correlation_id\"",
        "http_method=",
        "http_status_code=",
    ] {
        assert!(
            !everything.contains(deprecated),
            "{deprecated} is deprecated"
        );
    }
}
