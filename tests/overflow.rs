//! Past the label-set cap, requests keep their outcome: a flood of more label sets than the cap
//! with half of them failing reads a 0.5 error ratio in a real Prometheus, through the
//! generated SLO rules and the documented success-rate query; and the cap holds for an
//! `OperationLayer` built for every call. A test binary of its own: the cap is process-wide
//! and the ratio is over every series of the metric.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use axum::Router;
use axum::routing::get;
use common::prom::{prometheus, samples};
use common::prometheus_server::{PrometheusServer, scalar};
use common::*;
use http::StatusCode;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_telemetry::MetricsLayer;
use tower_telemetry::metrics::OperationLayer;
use tower_telemetry::slo::{RuleGenerator, Slo, Target};

const DURATION: &str = "http_server_request_duration_seconds_count";

/// The sum of the `_count` samples of `metric`: all of them, and the failed ones.
fn totals(metric: &str) -> (f64, f64, usize) {
    let series: Vec<_> = samples(&prometheus().render())
        .into_iter()
        .filter(|s| s.name == metric)
        .collect();
    let total = series.iter().map(|s| s.value).sum();
    let failed = series
        .iter()
        .filter(|s| s.labels.contains_key("error_type"))
        .map(|s| s.value)
        .sum();
    (total, failed, series.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_past_the_cap_with_half_failing_reads_half_failing() {
    const ROUTES: usize = 64;
    const CAP: usize = 8;
    const ROUNDS: usize = 10;
    let handle = prometheus();
    // 64 routes, every other one failing, under a cap of 8 label sets: 56 routes overflow,
    // half of them failures.
    let mut router = Router::new();
    for i in 0..ROUTES {
        let path = format!("/r{i}");
        router = if i % 2 == 0 {
            router.route(&path, get(|| async { "ok" }))
        } else {
            router.route(&path, get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        };
    }
    let app = serve(router.layer(MetricsLayer::new().max_label_sets(CAP))).await;
    let metrics =
        serve(Router::new().route("/metrics", get(move || async move { handle.render() }))).await;
    let client = client();
    let round = async || {
        for i in 0..ROUTES {
            fetch(&client, app, &format!("/r{i}"), &[]).await;
        }
    };
    // Every series exists, the overflow ones included, before Prometheus first scrapes.
    round().await;
    let (total, failed, series) = totals(DURATION);
    assert_eq!((total, failed), (64.0, 32.0), "every request counted once");
    assert_eq!(
        series,
        CAP + 2,
        "the cap, plus one overflow series per outcome"
    );
    let text = handle.render();
    assert!(
        text.contains(r#"http_server_request_duration_seconds_count{otel_metric_overflow="true",error_type="_OTHER"} 28"#),
        "{text}"
    );

    let slo = Slo::availability("all", Target::all_routes(), 0.99).unwrap();
    let rules = RuleGenerator::new([slo]).job("app").to_yaml().unwrap();
    let server = PrometheusServer::start_with_rules(metrics, &rules);
    let count = format!("sum({DURATION})");
    server
        .wait_for(&client, &count, |r| {
            r.first().is_some_and(|s| scalar(s) == 64.0)
        })
        .await;
    let seen = server.scrapes(&client).await;
    server.wait_for_scrapes(&client, seen + 1.0).await;

    for _ in 0..ROUNDS {
        round().await;
    }
    let requests = (ROUTES * (ROUNDS + 1)) as f64;
    server
        .wait_for(&client, &count, |r| {
            r.first().is_some_and(|s| scalar(s) == requests)
        })
        .await;
    let seen = server.scrapes(&client).await;
    server.wait_for_scrapes(&client, seen + 1.0).await;

    // The generated recording rule, evaluated by Prometheus itself (every second).
    let ratio = server
        .wait_for(
            &client,
            r#"slo:error_ratio:rate5m{slo="all",job="app"}"#,
            |r| r.first().is_some_and(|s| scalar(s) > 0.0),
        )
        .await;
    let ratio = scalar(&ratio[0]);
    assert!(
        (ratio - 0.5).abs() < 1e-9,
        "half the requests failed: {ratio}"
    );
    // The documented success rate reads the other half.
    let success = server
        .wait_for(
            &client,
            r#"sum(rate(http_server_request_duration_seconds_count{error_type=""}[5m])) / sum(rate(http_server_request_duration_seconds_count{error_type!="cancelled"}[5m]))"#,
            |r| !r.is_empty(),
        )
        .await;
    let success = scalar(&success[0]);
    assert!((success - 0.5).abs() < 1e-9, "half succeeded: {success}");
}

#[tokio::test]
async fn an_operation_layer_built_for_every_call_stays_capped() {
    const CALLS: u32 = 20_000;
    prometheus();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..CALLS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // A fresh layer for each call, as a handler that names its operation per request does.
        let service = ServiceBuilder::new()
            .layer(OperationLayer::new(format!("flood.{seed:x}")))
            .service(service_fn(move |()| async move {
                if i % 2 == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::from(std::io::ErrorKind::TimedOut))
                }
            }));
        let _ = service.oneshot(()).await;
    }
    let (total, failed, series) = totals("operation_duration_seconds_count");
    assert_eq!(total, f64::from(CALLS), "every call counted once");
    assert_eq!(
        failed,
        f64::from(CALLS / 2),
        "no failure counted as a success"
    );
    assert!(
        series <= tower_telemetry::metrics::DEFAULT_MAX_LABEL_SETS + 2,
        "the cap holds across 20,000 layer values: {series} series"
    );
    let text = prometheus().render();
    assert!(
        text.contains(
            r#"operation_duration_seconds_count{otel_metric_overflow="true",error_type="_OTHER"}"#
        ),
        "{text}"
    );
}
