//! Instructions per request, counted by callgrind: the same variants as `benches/stack.rs`,
//! without timing. The machine is shared and noisy; instruction counts are not, so this is
//! the figure to compare two builds with. Run through `scripts/bench`, which counts only the
//! request loop (`--toggle-collect=*measured*`) on the thread that serves the requests; the
//! batch span processor's thread is not in the count (the time benchmarks include it).
//!
//! By hand: `cargo bench --bench instructions -- fused plain 1000` runs 1,000 requests.

#![allow(clippy::expect_used)] // a benchmark that cannot set up should stop loudly
#![allow(missing_docs)]

use std::hint::black_box;

use http::{HeaderValue, Request};
use http_body_util::BodyExt;
use tower::ServiceExt;

mod stacks;

fn main() {
    // `cargo bench` passes `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let [variant, kind, count] = args.as_slice() else {
        eprintln!("usage: instructions VARIANT plain|inbound|failure COUNT");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("a request count");
    let provider = stacks::install();
    let (_, router) = stacks::variants(&provider)
        .into_iter()
        .find(|(name, _)| name == variant)
        .expect("a known variant");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    // Warm up outside the count: label sets, thread-locals, allocator pools.
    warm_up(&runtime, &router, kind, 100);
    measured(&runtime, &router, kind, count);
    // Export what is queued, so that every span's export is in the count.
    provider.force_flush().ok();
    provider.shutdown().ok();
}

/// The requests callgrind counts (`--toggle-collect=*measured*`).
#[inline(never)]
fn measured(runtime: &tokio::runtime::Runtime, router: &axum::Router, kind: &str, count: usize) {
    send(runtime, router, kind, count);
}

/// The same requests, not counted.
#[inline(never)]
fn warm_up(runtime: &tokio::runtime::Runtime, router: &axum::Router, kind: &str, count: usize) {
    send(runtime, router, kind, count);
}

fn send(runtime: &tokio::runtime::Runtime, router: &axum::Router, kind: &str, count: usize) {
    runtime.block_on(async {
        for _ in 0..count {
            let mut request = Request::get(if kind == "failure" {
                "/fail/42"
            } else {
                "/users/42"
            })
            .body(axum::body::Body::empty())
            .expect("a valid request");
            if kind == "inbound" {
                request.headers_mut().insert(
                    "traceparent",
                    HeaderValue::from_static(
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    ),
                );
                request.headers_mut().insert(
                    "x-request-id",
                    HeaderValue::from_static("0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e"),
                );
            }
            let response = router.clone().oneshot(request).await.expect("infallible");
            black_box(response.into_body().collect().await.expect("a body"));
        }
    });
}
