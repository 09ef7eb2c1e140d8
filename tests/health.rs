//! Health probes with real servers on 127.0.0.1: liveness, readiness from checks (failing,
//! slow, panicking), caching under 100 concurrent probes, the readiness flag, probes kept out
//! of metrics, and the gRPC health service seen by the `tonic-health` client.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use common::prom::{prometheus, samples};
use common::*;
use http::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower_telemetry::MetricsLayer;
use tower_telemetry::health::{Check, Health, HealthLayer, HealthService, Shutdown};

/// A check that passes or fails as the switch says, counting its runs.
fn switch(name: &'static str, up: &Arc<AtomicBool>, runs: &Arc<AtomicUsize>) -> Check {
    let (up, runs) = (Arc::clone(up), Arc::clone(runs));
    Check::new(name, move || {
        let (up, runs) = (Arc::clone(&up), Arc::clone(&runs));
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            if up.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("connection refused")
            }
        }
    })
}

async fn probe(addr: std::net::SocketAddr, path: &str) -> (StatusCode, Value) {
    let (status, _, body) = fetch(&client(), addr, path, &[]).await;
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test]
async fn liveness_is_always_up_and_readiness_follows_critical_checks() {
    let (up, runs) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicUsize::new(0)),
    );
    let optional = Arc::new(AtomicBool::new(false));
    let health = Health::builder()
        .check(switch("database", &up, &runs))
        .check(switch("recommendations", &optional, &Arc::new(AtomicUsize::new(0))).non_critical())
        .cache_for(Duration::ZERO)
        .build();
    let addr = serve(
        Router::new()
            .route("/", get(|| async { "app" }))
            .layer(HealthLayer::new(health.clone())),
    )
    .await;

    assert_eq!(
        probe(addr, "/livez").await,
        (StatusCode::OK, json!({ "status": "alive" }))
    );
    let (status, body) = probe(addr, "/readyz").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a failing non-critical check leaves the service ready"
    );
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"][0]["name"], "database");
    assert_eq!(body["checks"][0]["status"], "pass");
    assert_eq!(body["checks"][1]["status"], "fail");
    assert_eq!(body["checks"][1]["critical"], false);
    assert_eq!(body["checks"][1]["error"], "connection refused");
    assert!(body["checks"][0]["duration_ms"].as_f64().unwrap() >= 0.0);

    up.store(false, Ordering::SeqCst);
    let (status, body) = probe(addr, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "not_ready");
    let failing: Vec<_> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "pass")
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(
        failing,
        [json!("database"), json!("recommendations")],
        "the failing checks are named"
    );
    assert_eq!(
        probe(addr, "/livez").await.0,
        StatusCode::OK,
        "liveness never depends on checks"
    );
    assert_eq!(
        fetch(&client(), addr, "/", &[]).await.2,
        "app",
        "other paths reach the service"
    );
}

#[tokio::test]
async fn a_slow_check_times_out_and_a_panicking_one_fails_without_breaking_the_endpoint() {
    let health = Health::builder()
        .check(
            Check::new("slow", || async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok::<_, String>(())
            })
            .timeout(Duration::from_millis(200)),
        )
        .check(Check::new("panics", || async {
            if true {
                panic!("a bug in a check");
            }
            Ok::<_, String>(())
        }))
        .build();
    let addr = serve(Router::new().route_service("/readyz", HealthService::new(health))).await;
    let start = Instant::now();
    let (status, body) = probe(addr, "/readyz").await;
    let took = start.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["checks"][0]["status"], "timeout");
    assert_eq!(body["checks"][1]["status"], "panic");
    assert!(
        took < Duration::from_millis(200) + Duration::from_millis(800),
        "answered within the timeout plus a margin: {took:?}"
    );
    assert_eq!(
        probe(addr, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "still answering"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_probes_run_the_checks_once_per_interval() {
    let (up, runs) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicUsize::new(0)),
    );
    let health = Health::builder()
        .check(switch("database", &up, &runs))
        .cache_for(Duration::from_secs(60))
        .build();
    let addr = serve(Router::new().layer(HealthLayer::new(health))).await;
    let mut probes = tokio::task::JoinSet::new();
    for _ in 0..100 {
        probes.spawn(async move { probe(addr, "/readyz").await.0 });
    }
    while let Some(status) = probes.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_readiness_flag_and_details() {
    let health = Health::builder().starting().build();
    let addr = serve(
        Router::new().layer(
            HealthLayer::new(health.clone())
                .details(false)
                .readiness_path("/ready"),
        ),
    )
    .await;
    assert_eq!(
        probe(addr, "/ready").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "not_ready" })
        ),
        "starting"
    );
    health.set_ready(true);
    assert_eq!(
        probe(addr, "/ready").await,
        (StatusCode::OK, json!({ "status": "ready" })),
        "started; no details"
    );
    health.set_ready(false);
    assert_eq!(
        probe(addr, "/ready").await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "shutdown began"
    );
    assert_eq!(
        fetch(&client(), addr, "/readyz", &[]).await.0,
        StatusCode::NOT_FOUND,
        "the path moved"
    );
}

#[tokio::test]
async fn probes_and_scrapes_stay_out_of_the_metrics() {
    prometheus();
    let health = Health::builder().build();
    let addr = serve(
        Router::new()
            .route("/work", get(|| async { "done" }))
            .route_service("/livez", HealthService::new(health.clone()))
            .route_service("/readyz", HealthService::new(health))
            .route("/metrics", get(|| async { prometheus().render() }))
            .layer(MetricsLayer::new()),
    )
    .await;
    for path in ["/livez", "/readyz", "/metrics", "/work"] {
        assert_eq!(
            fetch(&client(), addr, path, &[]).await.0,
            StatusCode::OK,
            "{path}"
        );
    }
    let routes: Vec<String> = samples(&prometheus().render())
        .into_iter()
        .filter(|s| s.name == "http_server_request_duration_seconds_count")
        .filter_map(|s| s.labels.get("http_route").cloned())
        .collect();
    assert!(routes.contains(&"/work".to_owned()), "{routes:?}");
    for excluded in ["/livez", "/readyz", "/metrics"] {
        assert!(
            !routes.contains(&excluded.to_owned()),
            "{excluded} is not recorded: {routes:?}"
        );
    }
}

/// A tonic server with the gRPC health service of `health`, and a health client on it.
async fn grpc_health(
    health: &Health,
    every: Duration,
) -> (
    tower_telemetry::health::GrpcHealthService,
    HealthClient<tonic::transport::Channel>,
    Shutdown,
) {
    let service = health.grpc_service(["inventory.v1.Inventory"], every).await;
    let shutdown = Shutdown::builder()
        .health(health.clone())
        .signals(false)
        .drain_from_env(false)
        .drain(Duration::from_millis(300))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service.clone())
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                shutdown.stopping(),
            ),
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (service, HealthClient::new(channel), shutdown)
}

fn named(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

type Watch = tonic::Streaming<tonic_health::pb::HealthCheckResponse>;

/// The next message of a Watch stream, within 10 s.
async fn next(watch: &mut Watch) -> ServingStatus {
    tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("a Watch message within 10 s")
        .unwrap()
        .expect("the stream is open")
        .status()
}

/// Asserts that a Watch stream sends nothing for `period`.
async fn silent(watch: &mut Watch, period: Duration) {
    if let Ok(message) = tokio::time::timeout(period, watch.message()).await {
        panic!("Watch sent {message:?} although the status did not change");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_health_service_follows_the_same_checks_and_watch_sends_changes_only() {
    let (up, runs) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicUsize::new(0)),
    );
    let health = Health::builder()
        .check(switch("database", &up, &runs))
        .cache_for(Duration::ZERO)
        .build();
    let (_service, mut client, _shutdown) = grpc_health(&health, Duration::from_millis(20)).await;

    let mut watch = client
        .watch(named("inventory.v1.Inventory"))
        .await
        .unwrap()
        .into_inner();
    // Registered from a first report before the service was returned: no UNKNOWN phase.
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);
    assert_eq!(
        client.check(named("")).await.unwrap().get_ref().status(),
        ServingStatus::Serving
    );
    // Checks run every 20 ms; the status stays SERVING, so Watch stays silent.
    let before = runs.load(Ordering::SeqCst);
    silent(&mut watch, Duration::from_millis(400)).await;
    assert!(
        runs.load(Ordering::SeqCst) > before,
        "the checks ran meanwhile"
    );

    up.store(false, Ordering::SeqCst);
    assert_eq!(
        next(&mut watch).await,
        ServingStatus::NotServing,
        "Watch sees the change"
    );
    assert_eq!(
        client.check(named("")).await.unwrap().get_ref().status(),
        ServingStatus::NotServing
    );
    silent(&mut watch, Duration::from_millis(200)).await;
    up.store(true, Ordering::SeqCst);
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);
    // The readiness flag reaches watchers without waiting for a tick.
    health.set_ready(false);
    assert_eq!(next(&mut watch).await, ServingStatus::NotServing);
    health.set_ready(true);
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_name_is_not_found_for_check_and_service_unknown_for_watch_until_registered() {
    let health = Health::builder().build();
    let (service, mut client, _shutdown) = grpc_health(&health, Duration::from_secs(60)).await;

    let status = client.check(named("billing.v1.Billing")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    let mut watch = client
        .watch(named("billing.v1.Billing"))
        .await
        .expect("Watch on an unknown name is not refused")
        .into_inner();
    assert_eq!(next(&mut watch).await, ServingStatus::ServiceUnknown);
    silent(&mut watch, Duration::from_millis(200)).await;

    service.register("billing.v1.Billing");
    assert_eq!(
        next(&mut watch).await,
        ServingStatus::Serving,
        "the name appeared"
    );
    assert_eq!(
        client
            .check(named("billing.v1.Billing"))
            .await
            .unwrap()
            .get_ref()
            .status(),
        ServingStatus::Serving
    );
    service.unregister("billing.v1.Billing");
    assert_eq!(next(&mut watch).await, ServingStatus::ServiceUnknown);
    service.unregister("");
    assert_eq!(
        client.check(named("")).await.unwrap().get_ref().status(),
        ServingStatus::Serving,
        "the overall status stays"
    );
    assert!(format!("{service:?}").contains("GrpcHealthService"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_turns_every_name_not_serving_then_ends_the_watch_streams() {
    let health = Health::builder().build();
    let (_service, mut client, shutdown) = grpc_health(&health, Duration::from_secs(60)).await;
    let mut overall = client.watch(named("")).await.unwrap().into_inner();
    let mut inventory = client
        .watch(named("inventory.v1.Inventory"))
        .await
        .unwrap()
        .into_inner();
    let mut unknown = client.watch(named("nope")).await.unwrap().into_inner();
    assert_eq!(next(&mut overall).await, ServingStatus::Serving);
    assert_eq!(next(&mut inventory).await, ServingStatus::Serving);
    assert_eq!(next(&mut unknown).await, ServingStatus::ServiceUnknown);

    shutdown.trigger();
    assert_eq!(next(&mut overall).await, ServingStatus::NotServing);
    assert_eq!(next(&mut inventory).await, ServingStatus::NotServing);
    // During the drain the server still answers, NOT_SERVING.
    assert_eq!(
        client.check(named("")).await.unwrap().get_ref().status(),
        ServingStatus::NotServing
    );
    health.set_ready(true);
    silent(&mut overall, Duration::from_millis(100)).await;
    assert_eq!(
        client.check(named("")).await.unwrap().get_ref().status(),
        ServingStatus::NotServing,
        "shutdown wins over the readiness flag"
    );
    // After the drain, each stream ends with status OK, so the server can stop.
    for watch in [&mut overall, &mut inventory, &mut unknown] {
        let end = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .expect("the stream ends within 10 s");
        assert!(matches!(end, Ok(None)), "{end:?}");
    }
}

/// The reference client of the protocol, `grpcio-health-checking` (the gRPC project's own
/// Python package), against our service: Check, Watch on a registered and an unknown name,
/// and the shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_projects_own_health_client_agrees() {
    // scripts/test installs the client into this virtualenv and says so in GRPC_HEALTH_PYTHON.
    let venv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/grpc-health-venv/bin/python"
    );
    let python = std::env::var("GRPC_HEALTH_PYTHON").unwrap_or_else(|_| venv.to_owned());
    let health = Health::builder().build();
    let service = health
        .grpc_service(["inventory.v1.Inventory"], Duration::from_secs(60))
        .await;
    let shutdown = Shutdown::builder()
        .health(health.clone())
        .signals(false)
        .drain_from_env(false)
        .drain(Duration::from_millis(500))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service.clone())
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                shutdown.stopping(),
            ),
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/grpc_health_client.py");
    let mut child = tokio::process::Command::new(&python)
        .arg(script)
        .arg(addr.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{python} runs (scripts/test installs grpcio-health-checking): {e}")
        });
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut line = async || {
        tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the client says something within 30 s")
            .unwrap()
            .expect("the client is still running")
    };
    assert_eq!(line().await, "check '' SERVING");
    assert_eq!(line().await, "check 'inventory.v1.Inventory' SERVING");
    assert_eq!(line().await, "check 'nope' NOT_FOUND");
    assert_eq!(line().await, "watch 'inventory.v1.Inventory' SERVING");
    assert_eq!(line().await, "watch 'later.v1.Later' SERVICE_UNKNOWN");
    service.register("later.v1.Later");
    assert_eq!(line().await, "watch 'later.v1.Later' SERVING");
    shutdown.trigger();
    assert_eq!(line().await, "watch 'inventory.v1.Inventory' NOT_SERVING");
    assert_eq!(line().await, "watch 'later.v1.Later' NOT_SERVING");
    assert_eq!(line().await, "watch 'inventory.v1.Inventory' ended OK");
    assert_eq!(line().await, "watch 'later.v1.Later' ended OK");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the client exits 0");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops promptly once the watches ended")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readiness_change_during_a_slow_check_is_published_at_once() {
    let slow = Arc::new(AtomicBool::new(false));
    let started = Arc::new(tokio::sync::Notify::new());
    let (is_slow, has_started) = (Arc::clone(&slow), Arc::clone(&started));
    let health = Health::builder()
        .check(
            Check::new("slow", move || {
                let slow = is_slow.load(Ordering::SeqCst);
                let started = Arc::clone(&has_started);
                async move {
                    if slow {
                        started.notify_one();
                        // Never answers: only the check's timeout (60 s) would end it.
                        std::future::pending::<()>().await;
                    }
                    Ok::<_, String>(())
                }
            })
            .timeout(Duration::from_secs(60)),
        )
        .cache_for(Duration::ZERO)
        .build();
    let every = Duration::from_secs(3);
    let (_service, mut client, _shutdown) = grpc_health(&health, every).await;
    let mut watch = client.watch(named("")).await.unwrap().into_inner();
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);
    // The next tick's check hangs; while it runs, the service stops taking traffic.
    slow.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(20), started.notified())
        .await
        .expect("a tick runs the slow check");
    health.set_ready(false);
    // Well before the next tick (3 s away), and the check never ends by itself.
    let message = tokio::time::timeout(Duration::from_millis(1500), watch.message())
        .await
        .expect("NOT_SERVING is published at once");
    assert_eq!(
        message.unwrap().unwrap().status(),
        ServingStatus::NotServing
    );
}
