//! Every server we ship stops as Kubernetes stops a pod: each example runs as a process, gets a
//! real SIGTERM while a request is in flight, and must turn not ready, answer that request,
//! flush its spans to a real OTLP receiver on loopback, and exit with code 0.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

mod inventory;

use std::time::Duration;

use common::otlp::Collector;
use common::process::{Example, free_addr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// `GET http://{addr}{path}`: the status and the body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    let (status, _, body) =
        common::fetch(&common::client(), addr.parse().unwrap(), path, &[]).await;
    (status.as_u16(), body)
}

/// Asks `/readyz` until it answers 503, at most 10 s.
async fn until_not_ready(addr: &str) {
    common::until("/readyz answering 503 after SIGTERM", async || {
        get(addr, "/readyz").await.0 == 503
    })
    .await;
}

/// The server spans named `name` the collector received.
fn named(collector: &Collector, name: &str) -> usize {
    collector
        .spans()
        .iter()
        .filter(|s| s.span.name == name)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_drains_answers_flushes_and_exits_0_on_sigterm() {
    let collector = Collector::http().await;
    let (addr, metrics) = (free_addr(), free_addr());
    let endpoint = format!("http://{}", collector.addr);
    let mut quickstart = Example::start(
        "quickstart",
        &[],
        &[
            ("ADDR", &addr),
            ("METRICS_ADDR", &metrics),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
            ("SHUTDOWN_DRAIN_MS", "1000"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ],
    );
    quickstart.log("quickstart listening").await;
    assert_eq!(get(&addr, "/users/1").await.0, 200);

    // A login whose body is still on its way: in flight until the rest arrives.
    let mut login = tokio::net::TcpStream::connect(&addr).await.unwrap();
    login
        .write_all(
            format!("POST /login HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 6\r\n\r\nsec")
                .as_bytes(),
        )
        .await
        .unwrap();
    let in_flight =
        r#"http_server_active_requests{http_request_method="POST",url_scheme="http"} 1"#;
    common::until("the login in flight", async || {
        get(&metrics, "/metrics").await.1.contains(in_flight)
    })
    .await;

    quickstart.signal("TERM");
    until_not_ready(&addr).await;
    assert_eq!(
        get(&addr, "/users/2").await.0,
        200,
        "still serving while it drains"
    );
    quickstart
        .log("drain over: stopping; in-flight requests finish")
        .await;

    // The listener has stopped; the request in flight is still answered.
    login.write_all(b"ret").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(20), login.read_to_string(&mut answer))
        .await
        .expect("the in-flight login is answered within 20 s")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    assert_eq!(
        quickstart.exit_code().await,
        Some(0),
        "{:#?}",
        quickstart.seen()
    );
    // Flushed before the exit: the collector already has every span.
    let spans = collector.spans();
    assert_eq!(named(&collector, "POST /login"), 1, "{spans:#?}");
    // Ours, and the readiness check's calls to `/users/1`.
    assert!(named(&collector, "GET /users/{id}") >= 2, "{spans:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_drain_answer_flush_and_exit_0_on_sigterm() {
    let collector = Collector::http().await;
    let (a, b) = (free_addr(), free_addr());
    let endpoint = format!("http://{}", collector.addr);
    let mut example = Example::start(
        "two_services",
        &[],
        &[
            ("ADDR_A", &a),
            ("ADDR_B", &b),
            ("RUST_LOG", "info"),
            ("SHUTDOWN_DRAIN_MS", "300"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ],
    );
    example.log("two services listening").await;
    let slow = {
        let a = a.clone();
        tokio::spawn(async move { get(&a, "/checkout/43?delay_ms=2000").await })
    };
    // Service B is inside the slow lookup: the checkout is in flight in both services.
    example.log("reading stock").await;
    example.signal("TERM");
    until_not_ready(&a).await;
    until_not_ready(&b).await;
    example
        .log("drain over: stopping; in-flight requests finish")
        .await;

    let (status, body) = tokio::time::timeout(Duration::from_secs(20), slow)
        .await
        .expect("the checkout is answered within 20 s")
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""available":true"#), "{body}");
    assert_eq!(example.exit_code().await, Some(0), "{:#?}", example.seen());

    // One trace: A's server span, its client span and B's server span, all flushed.
    let spans = collector.spans();
    let of_trace = |name: &str| {
        spans
            .iter()
            .find(|s| s.span.name == name)
            .unwrap_or_else(|| panic!("no {name} span: {spans:#?}"))
            .trace_id()
    };
    let trace = of_trace("GET /checkout/{order}");
    assert_eq!(of_trace("GET"), trace);
    assert_eq!(of_trace("GET /inventory/{order}"), trace);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_server_turns_not_serving_finishes_its_streams_and_exits_0_on_sigterm() {
    use inventory::ListItemsRequest;
    use inventory::inventory_client::InventoryClient;

    let collector = Collector::grpc().await;
    let (addr, metrics) = (free_addr(), free_addr());
    let endpoint = format!("http://{}", collector.addr);
    let mut server = Example::start(
        "grpc",
        &["server"],
        &[
            ("GRPC_ADDR", &addr),
            ("METRICS_ADDR", &metrics),
            ("RUST_LOG", "info"),
            ("SHUTDOWN_DRAIN_MS", "500"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ],
    );
    server.log("inventory gRPC server listening").await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let check = |name: &str| HealthCheckRequest {
        service: name.to_owned(),
    };
    let mut watch = health.watch(check("")).await.unwrap().into_inner();
    let next = async |watch: &mut tonic::Streaming<_>| -> Option<ServingStatus> {
        let message: Option<tonic_health::pb::HealthCheckResponse> =
            tokio::time::timeout(Duration::from_secs(20), watch.message())
                .await
                .expect("the Watch stream moves within 20 s")
                .unwrap();
        message.map(|m| m.status())
    };
    assert_eq!(next(&mut watch).await, Some(ServingStatus::Serving));

    // A stream of 20 items 100 ms apart, in flight when the signal comes.
    let mut inventory = InventoryClient::new(channel);
    let mut stream = inventory
        .list_items(ListItemsRequest {
            limit: 20,
            fail_after: 0,
            delay_ms: 100,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());

    server.signal("TERM");
    assert_eq!(
        next(&mut watch).await,
        Some(ServingStatus::NotServing),
        "Watch hears of the shutdown"
    );
    assert_eq!(
        health
            .check(check("inventory.v1.Inventory"))
            .await
            .unwrap()
            .get_ref()
            .status(),
        ServingStatus::NotServing
    );
    assert_eq!(
        next(&mut watch).await,
        None,
        "the Watch stream ends after the drain"
    );

    let mut received = 1;
    while let Some(_item) = tokio::time::timeout(Duration::from_secs(20), stream.message())
        .await
        .expect("the stream goes on")
        .unwrap()
    {
        received += 1;
    }
    assert_eq!(received, 20, "the stream in flight finished");
    assert_eq!(server.exit_code().await, Some(0), "{:#?}", server.seen());

    let spans = collector.spans();
    assert_eq!(
        named(&collector, "inventory.v1.Inventory/ListItems"),
        1,
        "{spans:#?}"
    );
    assert!(
        spans.iter().all(|s| !s.span.name.contains("grpc.health")),
        "health checks are not traced: {spans:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_server_answers_in_flight_requests_and_exits_0_on_sigterm() {
    let addr = free_addr();
    let mut server = Example::start("load_server", &[], &[("ADDR", &addr), ("STACK", "fused")]);
    server
        .line("the server listening", |l| l.starts_with("serving fused"))
        .await;
    let slow = {
        let addr = addr.clone();
        tokio::spawn(async move { get(&addr, "/sleep/1500").await })
    };
    server
        .line("the request in flight", |l| l == "sleeping 1500 ms")
        .await;
    server.signal("TERM");
    let answer = tokio::time::timeout(Duration::from_secs(20), slow)
        .await
        .expect("answered within 20 s")
        .unwrap();
    assert_eq!(answer, (200, "slept".to_owned()));
    assert_eq!(server.exit_code().await, Some(0), "{:#?}", server.seen());
    assert!(server.seen().iter().any(|l| l == "stopped"));
}

/// The sequence inside this test process: a real SIGINT starts it, a real SIGTERM during the
/// drain ends the drain early. (Once the sequence is built its handlers catch both signals, so
/// they do not end the test process.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_starts_the_sequence_and_a_second_one_ends_the_drain() {
    use tower_telemetry::health::{Health, Shutdown};
    let health = Health::builder().build();
    let shutdown = Shutdown::builder()
        .health(health.clone())
        .drain_from_env(false)
        .drain(Duration::from_secs(600))
        .build();
    assert_eq!(shutdown.drain(), Duration::from_secs(600));
    assert!(format!("{shutdown:?}").contains("Running"));
    assert!(health.report().await.ready);
    let me = std::process::id().to_string();
    let kill = |signal: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([signal, me.as_str()])
                .status()
                .unwrap()
                .success()
        );
    };
    kill("-INT");
    tokio::time::timeout(Duration::from_secs(10), shutdown.draining())
        .await
        .expect("SIGINT starts the shutdown");
    let report = health.report().await;
    assert!(
        !report.ready && !report.accepting,
        "not ready while draining"
    );
    kill("-TERM");
    tokio::time::timeout(Duration::from_secs(10), shutdown.stopping())
        .await
        .expect("a second signal ends the 600 s drain");
    assert!(format!("{shutdown:?}").contains("Stopped"));
}

/// `Shutdown::new`: signals and the default drain; `trigger` starts the sequence and, called
/// again, ends the drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_starts_the_sequence_and_ends_the_drain() {
    use tower_telemetry::health::{DEFAULT_DRAIN, Health, Shutdown};
    let health = Health::builder().build();
    let shutdown = Shutdown::new(&health);
    if std::env::var_os("SHUTDOWN_DRAIN_MS").is_none() {
        assert_eq!(shutdown.drain(), DEFAULT_DRAIN);
    }
    let draining = shutdown.draining();
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), draining)
        .await
        .expect("trigger starts the shutdown");
    assert!(!health.report().await.ready);
    shutdown.clone().trigger();
    tokio::time::timeout(Duration::from_secs(10), shutdown.stopping())
        .await
        .expect("a second trigger ends the drain");
}
