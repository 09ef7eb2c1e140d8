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
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower_telemetry::MetricsLayer;
use tower_telemetry::health::{Check, Health, HealthLayer, HealthService};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_health_service_follows_the_same_checks() {
    let (up, runs) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicUsize::new(0)),
    );
    let health = Health::builder()
        .check(switch("database", &up, &runs))
        .cache_for(Duration::ZERO)
        .build();
    let grpc = health
        .grpc_service(["inventory.v1.Inventory"], Duration::from_millis(50))
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(grpc)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let status = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };

    let mut watch = client
        .watch(status("inventory.v1.Inventory"))
        .await
        .unwrap()
        .into_inner();
    async fn next(
        watch: &mut tonic::Streaming<tonic_health::pb::HealthCheckResponse>,
    ) -> ServingStatus {
        tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .status()
    }
    // Registered from a first report before the service was returned: no UNKNOWN phase.
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);
    assert_eq!(
        client.check(status("")).await.unwrap().get_ref().status(),
        ServingStatus::Serving
    );

    up.store(false, Ordering::SeqCst);
    assert_eq!(
        next(&mut watch).await,
        ServingStatus::NotServing,
        "Watch sees the change"
    );
    assert_eq!(
        client.check(status("")).await.unwrap().get_ref().status(),
        ServingStatus::NotServing
    );
    up.store(true, Ordering::SeqCst);
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);
    health.set_ready(false);
    assert_eq!(
        next(&mut watch).await,
        ServingStatus::NotServing,
        "shutdown flips gRPC too"
    );
}
