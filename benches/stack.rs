//! In-process cost of a fully instrumented axum router: our layers alone, stacked and fused,
//! against the stack users assemble from peers today, each as a ratio to the bare router
//! measured in the same run (the machine is shared and noisy; absolute times are not
//! comparable across runs).
//!
//! Run: `cargo bench --bench stack`, or `scripts/bench` for the table of ratios.
//!
//! Every variant is one `oneshot` through an axum `Router` with the body collected. The
//! recorders and exporters are real and shared by all variants: the Prometheus recorder
//! with the same buckets for both stacks; an OpenTelemetry SDK provider with the always-on
//! sampler and the SDK's batch processor feeding an exporter that discards; a `tracing`
//! registry with the `tracing-opentelemetry` layer the peer stack needs for its spans. The
//! groups `plain`, `inbound` and `failure` run with that alone; the group `logs` adds the JSON
//! log layer `setup` installs (writing to `io::sink`, at `warn`, our `request` span enabled
//! so that log lines would carry the IDs, no access log).
//!
//! The peer stack: tower-http's `SetRequestIdLayer` + `PropagateRequestIdLayer` (UUID v4),
//! axum-tracing-opentelemetry's `OtelAxumLayer`, axum-prometheus's `PrometheusMetricLayer`.

#![allow(clippy::expect_used)] // a benchmark that cannot set up should stop loudly
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request};
use http_body_util::BodyExt;
use tower::ServiceExt;

mod stacks;

use stacks::{install, variants, with_logs};

/// The request kinds: no inbound headers; inbound `traceparent` and `x-request-id`; a request
/// the server answers with a 500.
const KINDS: [&str; 3] = ["plain", "inbound", "failure"];

fn request(kind: &str) -> Request<axum::body::Body> {
    let path = if kind == "failure" {
        "/fail/42"
    } else {
        "/users/42"
    };
    let mut request = Request::get(path)
        .body(axum::body::Body::empty())
        .expect("a valid request");
    if kind == "inbound" {
        let headers = request.headers_mut();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        headers.insert(
            "x-request-id",
            HeaderValue::from_static("0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e"),
        );
    }
    request
}

fn stack(c: &mut Criterion) {
    let provider = install();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let variants = variants(&provider);
    let mut measure = |group_name: &str, kind: &str| {
        let mut group = c.benchmark_group(group_name);
        for (name, router) in &variants {
            group.bench_function(*name, |b| {
                b.to_async(&runtime).iter(|| async {
                    let response = router
                        .clone()
                        .oneshot(black_box(request(kind)))
                        .await
                        .expect("infallible");
                    black_box(response.into_body().collect().await.expect("a body"))
                })
            });
        }
        group.finish();
    };
    for kind in KINDS {
        measure(kind, kind);
    }
    tracing::dispatcher::with_default(&with_logs(&provider), || measure("logs", "plain"));
    provider.shutdown().ok();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = stack
}
criterion_main!(benches);
