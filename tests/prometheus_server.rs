//! A real Prometheus server (the Debian package `prometheus`, which `scripts/test` installs) on
//! 127.0.0.1 scrapes a real instrumented server every second; after a known mix of successes
//! and failures, the PromQL queries README.md documents give the expected success rate and
//! latency. The Prometheus process and its storage are removed at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

mod inventory;
#[path = "../examples/grpc/service.rs"]
#[allow(dead_code)]
mod service;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::prom::prometheus;
use common::prometheus_server::{PrometheusServer, scalar};
use common::*;
use http::StatusCode;
use tower_telemetry::MetricsLayer;

/// The queries of README.md and docs/operations/observability.md, word for word (the first test
/// below checks both documents still carry them).
const SUCCESS_RATE: &str = r#"sum(rate(http_server_request_duration_seconds_count{error_type=""}[5m])) / sum(rate(http_server_request_duration_seconds_count{error_type!="cancelled"}[5m]))"#;
const P50_BY_ROUTE: &str = r#"histogram_quantile(0.5, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket[5m])))"#;

#[test]
fn the_documents_carry_the_queries_tested_here() {
    for doc in ["README.md", "docs/operations/observability.md"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
        let text = std::fs::read_to_string(&path).unwrap();
        for query in [SUCCESS_RATE, P50_BY_ROUTE] {
            assert!(
                text.contains(query),
                "{doc} no longer shows the tested query {query}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_queries_give_the_success_rate_and_latency() {
    let handle = prometheus();
    let app = serve(
        Router::new()
            .route(
                "/fast",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    "fast"
                }),
            )
            .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .layer(MetricsLayer::new()),
    )
    .await;
    let metrics =
        serve(Router::new().route("/metrics", get(move || async move { handle.render() }))).await;
    let client = client();

    // Create both series, then let Prometheus see them before the measured traffic.
    fetch(&client, app, "/fast", &[]).await;
    fetch(&client, app, "/fail", &[]).await;
    let server = PrometheusServer::start(metrics);
    server
        .wait_for(
            &client,
            "count(http_server_request_duration_seconds_count)",
            |r| r.first().is_some_and(|s| scalar(s) >= 2.0),
        )
        .await;
    server.wait_for_scrapes(&client, 2.0).await;

    // The known mix: 30 successes, 10 failures.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..40 {
        let client = client.clone();
        let path = if i % 4 == 3 { "/fail" } else { "/fast" };
        calls.spawn(async move { fetch(&client, app, path, &[]).await.0 });
    }
    let mut failures = 0;
    while let Some(status) = calls.join_next().await {
        failures += usize::from(status.unwrap() == StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(failures, 10);

    // Wait until the scrapes have seen all 42 requests, then ask the documented queries.
    server
        .wait_for(
            &client,
            "sum(http_server_request_duration_seconds_count)",
            |r| r.first().is_some_and(|s| scalar(s) == 42.0),
        )
        .await;
    // One more scrape of every series after the last request.
    let seen = server.scrapes(&client).await;
    server.wait_for_scrapes(&client, seen + 1.0).await;
    let rate = server
        .wait_for(&client, SUCCESS_RATE, |r| !r.is_empty())
        .await;
    let rate = scalar(&rate[0]);
    // `rate()` extrapolates at the edges of series younger than the window, by an amount that
    // depends on each series' values, so a ratio over seconds-old series is close, not exact
    // (it is exact once the series are older than the window).
    assert!((rate - 0.75).abs() < 0.02, "30 of 40 succeeded: {rate}");

    let p50 = server
        .wait_for(&client, P50_BY_ROUTE, |r| !r.is_empty())
        .await;
    let fast = p50
        .iter()
        .find(|s| s["metric"]["http_route"] == "/fast")
        .map(scalar)
        .unwrap();
    assert!(
        (0.025..=0.05).contains(&fast),
        "30 ms requests fall in the 25-50 ms bucket: {fast}"
    );
}

/// The PromQL of the "gRPC, per method" section of docs/operations/observability.md: the
/// lines of its first fenced block that are not comments.
fn documented_grpc_queries() -> Vec<String> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations/observability.md");
    let text = std::fs::read_to_string(path).unwrap();
    let section = text
        .split_once("### gRPC, per method")
        .expect("the reference has a gRPC section")
        .1;
    let block = section
        .split_once("```")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("the gRPC section has a query block")
        .0;
    block
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_grpc_query_returns_data_from_a_real_scrape() {
    use inventory::inventory_client::InventoryClient;
    use inventory::inventory_server::InventoryServer;
    use inventory::{GetItemRequest, ListItemsRequest};
    use tower::{ServiceBuilder, ServiceExt};
    use tower_telemetry::metrics::MetricsClientLayer;

    let handle = prometheus();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(MetricsLayer::new_for_grpc())
            .add_service(InventoryServer::new(service::InventoryService::default()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut inventory = InventoryClient::new(
        ServiceBuilder::new()
            .layer(MetricsClientLayer::new_for_grpc().target(&addr.to_string()))
            .service(channel.clone()),
    );
    let metrics =
        serve(Router::new().route("/metrics", get(move || async move { handle.render() }))).await;
    let client = client();

    // Successes, a caller's NOT_FOUND, a stream that fails in its trailers, a stream the
    // client ends early, and a method the server does not have.
    for sku in ["sku-1", "sku-2", "sku-404"] {
        let _ = inventory.get_item(GetItemRequest { sku: sku.into() }).await;
    }
    let mut failing = inventory
        .list_items(ListItemsRequest {
            limit: 5,
            fail_after: 2,
            delay_ms: 0,
        })
        .await
        .unwrap()
        .into_inner();
    while let Ok(Some(_)) = failing.message().await {}
    let mut ended = inventory
        .list_items(ListItemsRequest {
            limit: 100,
            fail_after: 0,
            delay_ms: 10,
        })
        .await
        .unwrap()
        .into_inner();
    ended.message().await.unwrap();
    drop(ended);
    let scan = http::Request::post("/made.up.Service/Method")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::empty())
        .unwrap();
    channel.oneshot(scan).await.unwrap();

    let server = PrometheusServer::start(metrics);
    let queries = documented_grpc_queries();
    assert!(queries.len() >= 8, "{queries:?}");
    for query in &queries {
        // Each needs two scrapes of the same series to give a rate: wait for it, bounded.
        let result = server.wait_for(&client, query, |r| !r.is_empty()).await;
        assert!(!result.is_empty(), "{query}");
    }
    let unknown = server
        .wait_for(
            &client,
            r#"sum(rpc_server_call_duration_seconds_count{rpc_method="_OTHER",rpc_status_code="UNIMPLEMENTED"})"#,
            |r| !r.is_empty(),
        )
        .await;
    assert!(scalar(&unknown[0]) >= 1.0);
}

/// The quickstart as a process, exporting its spans to a real OTLP receiver, scraped by a
/// real Prometheus that stores exemplars: a latency bucket links to a trace the receiver got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_bucket_links_to_an_exported_trace_through_its_exemplar() {
    use common::otlp::Collector;
    use common::process::quickstart;

    let collector = Collector::start().await;
    let endpoint = format!("http://{}", collector.addr);
    let (mut quickstart, addr, metrics) =
        quickstart(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]).await;
    let client = client();
    let (app, metrics): (SocketAddr, SocketAddr) =
        (addr.parse().unwrap(), metrics.parse().unwrap());
    // A scraper that does not ask for OpenMetrics gets the classic text, without exemplars.
    fetch(&client, app, "/users/42", &[]).await;
    let (_, headers, text) = fetch(&client, metrics, "/metrics", &[]).await;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(
        text.contains("http_server_request_duration_seconds_bucket") && !text.contains("trace_id"),
        "{text}"
    );

    let server = PrometheusServer::start_with(metrics, &["--enable-feature=exemplar-storage"]);
    server
        .wait_for(
            &client,
            "count(http_server_request_duration_seconds_count)",
            |r| !r.is_empty(),
        )
        .await;
    for _ in 0..5 {
        fetch(&client, app, "/users/42", &[]).await;
    }
    let exemplars = within(async || {
        let series = server
            .api(
                &client,
                "query_exemplars",
                "http_server_request_duration_seconds_bucket",
                "&start=0&end=9999999999",
            )
            .await?;
        let ids: Vec<String> = series
            .iter()
            .flat_map(|s| s["exemplars"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
            .collect();
        (!ids.is_empty()).then_some(ids)
    })
    .await
    .expect("Prometheus stored exemplars from the OpenMetrics scrape");
    let spans = collector
        .wait_until(|spans| spans.iter().any(|s| exemplars.contains(&s.trace_id())))
        .await;
    let linked = spans
        .iter()
        .find(|s| exemplars.contains(&s.trace_id()))
        .unwrap();
    assert_eq!(
        linked.span.name, "GET /users/{id}",
        "the exemplar is the request's server span"
    );
    quickstart.signal("TERM");
    assert_eq!(quickstart.exit_code().await, Some(0));
}
