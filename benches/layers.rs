//! In-process cost of the layers, as ratios against a bare service measured in the same run
//! (the machine is shared and noisy; absolute times are not comparable across runs).
//!
//! Run: `cargo bench --bench layers`. Each group prints the time per request of the bare
//! service and of the layered variants; divide to get the ratio, subtract for the added time.
//!
//! No `tracing` subscriber is installed, so the `request` span and the access log are
//! disabled, which is what a service pays when its filter is above INFO. The metrics group
//! records into the real Prometheus recorder, installed once.

#![allow(clippy::expect_used)] // a benchmark that cannot set up should stop loudly

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_telemetry::metrics::DURATION_BUCKETS;
use tower_telemetry::{CorrelationClientLayer, CorrelationLayer, MetricsLayer, OperationLayer};

async fn handler(_: Request<()>) -> Result<Response<String>, Infallible> {
    Ok(Response::new(String::new()))
}

fn request(id: Option<&'static str>) -> Request<()> {
    let mut request = Request::new(());
    if let Some(id) = id {
        request
            .headers_mut()
            .insert("x-request-id", HeaderValue::from_static(id));
    }
    request
}

fn server(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let mut group = c.benchmark_group("server");
    let bare = service_fn(handler);
    let layered = ServiceBuilder::new()
        .layer(CorrelationLayer::new())
        .service_fn(handler);

    group.bench_function("bare", |b| {
        b.to_async(&runtime)
            .iter(|| bare.oneshot(black_box(request(None))))
    });
    group.bench_function("correlation/generated", |b| {
        b.to_async(&runtime)
            .iter(|| layered.clone().oneshot(black_box(request(None))))
    });
    group.bench_function("correlation/inbound", |b| {
        b.to_async(&runtime).iter(|| {
            layered.clone().oneshot(black_box(request(Some(
                "0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e",
            ))))
        })
    });
    group.bench_function("correlation/refused", |b| {
        b.to_async(&runtime).iter(|| {
            layered
                .clone()
                .oneshot(black_box(request(Some("bad value"))))
        })
    });
    group.finish();
}

fn client(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let mut group = c.benchmark_group("client");
    let mut bare = service_fn(handler);
    let mut layered = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .service_fn(handler);
    let id: tower_telemetry::CorrelationId = "0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e"
        .parse()
        .expect("a valid ID");

    group.bench_function("bare", |b| {
        b.to_async(&runtime)
            .iter(|| bare.call(black_box(request(None))))
    });
    group.bench_function("correlation/current", |b| {
        b.to_async(&runtime)
            .iter(|| id.in_scope(|| layered.call(black_box(request(None)))))
    });
    group.bench_function("correlation/generated", |b| {
        b.to_async(&runtime)
            .iter(|| layered.call(black_box(request(None))))
    });
    group.finish();
}

fn metrics(c: &mut Criterion) {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_recommended_naming(true)
        .set_buckets(&DURATION_BUCKETS)
        .expect("valid buckets")
        .install_recorder()
        .expect("no other recorder");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let mut group = c.benchmark_group("metrics");
    let bare = service_fn(handler);
    let layered = ServiceBuilder::new()
        .layer(MetricsLayer::new())
        .service_fn(handler);
    let operation = ServiceBuilder::new()
        .layer(OperationLayer::new("bench.op"))
        .service_fn(handler);
    group.bench_function("bare", |b| {
        b.to_async(&runtime)
            .iter(|| bare.oneshot(black_box(request(None))))
    });
    group.bench_function("metrics", |b| {
        b.to_async(&runtime)
            .iter(|| layered.clone().oneshot(black_box(request(None))))
    });
    group.bench_function("operation", |b| {
        b.to_async(&runtime)
            .iter(|| operation.clone().oneshot(black_box(request(None))))
    });
    group.finish();
}

criterion_group!(benches, server, client, metrics);
criterion_main!(benches);
