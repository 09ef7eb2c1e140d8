//! Heap allocations per request, counted by a counting global allocator: on the metrics path,
//! once a label set has been seen, recording a request allocates nothing more than the bare
//! service does; the whole fused stack allocates a fixed, recorded number. (Deterministic
//! counts, not timings.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

use std::alloc::System;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Service, ServiceBuilder, service_fn};
use tower_telemetry::metrics::MetricsClientLayer;
use tower_telemetry::{MetricsLayer, OperationLayer};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A recorder whose handles are plain atomics: recording never allocates, so the count below
/// is the layer's alone.
#[derive(Default)]
struct AtomicRecorder {
    recorded: Arc<Samples>,
}

#[derive(Default)]
struct Samples(AtomicU64);

impl HistogramFn for Samples {
    fn record(&self, _value: f64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Recorder for AtomicRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(AtomicU64::new(0)))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(AtomicU64::new(0)))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::clone(&self.recorded))
    }
}

/// Polls a future that is ready at once (no runtime needed).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the service answers at once"),
    }
}

/// Allocations made by `n` calls of `call`: the fewest of five rounds. The allocator counts
/// every thread of the process, and on a busy machine the test harness's own thread can still
/// be allocating when the count starts; what the calls allocate is the same in every round, so
/// the smallest count is theirs.
fn allocations(n: usize, mut call: impl FnMut()) -> usize {
    (0..5)
        .map(|_| {
            let region = Region::new(GLOBAL);
            for _ in 0..n {
                call();
            }
            region.change().allocations
        })
        .min()
        .unwrap_or(0)
}

async fn handler(request: Request<()>) -> Result<Response<Empty<Bytes>>, Infallible> {
    let mut response = Response::new(Empty::new());
    if request.uri().path() == "/fail" {
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
    Ok(response)
}

fn request(path: &'static str) -> Request<()> {
    let mut request = Request::new(());
    *request.uri_mut() = http::Uri::from_static(path);
    request
}

/// One test, so that nothing else in this binary allocates while it counts (the allocator
/// counts every thread).
#[test]
fn allocations_per_request() {
    a_seen_label_set_costs_no_allocation();
    the_fused_stack_allocates_no_more_than_the_stacked_layers();
}

fn a_seen_label_set_costs_no_allocation() {
    let recorder = AtomicRecorder::default();
    let recorded = Arc::clone(&recorder.recorded);
    metrics::with_local_recorder(&recorder, || {
        let mut bare = service_fn(handler);
        let mut measured = ServiceBuilder::new()
            .layer(MetricsLayer::new())
            .service_fn(handler);
        let mut operation = ServiceBuilder::new()
            .layer(OperationLayer::new("alloc.check"))
            .service_fn(handler);
        let mut outbound = ServiceBuilder::new()
            .layer(MetricsClientLayer::new())
            .service_fn(handler);
        let call = |service: &mut dyn FnMut(Request<()>)| {
            for path in ["/ok", "/fail"] {
                service(request(path));
            }
        };
        let mut bare_call = |r: Request<()>| drop(ready(bare.call(r)).unwrap());
        let mut measured_call = |r: Request<()>| drop(ready(measured.call(r)).unwrap());
        let mut operation_call = |r: Request<()>| drop(ready(operation.call(r)).unwrap());
        // Outbound calls to a known host: the host label is shared, not copied.
        let mut outbound_call = |mut r: Request<()>| {
            let absolute = if r.uri().path() == "/fail" {
                "http://api.internal/fail"
            } else {
                "http://api.internal/ok"
            };
            *r.uri_mut() = http::Uri::from_static(absolute);
            drop(ready(outbound.call(r)).unwrap());
        };

        // First sight of each label set registers its handles.
        call(&mut measured_call);
        call(&mut operation_call);
        call(&mut outbound_call);
        let before = recorded.0.load(Ordering::Relaxed);

        let bare = allocations(500, || call(&mut bare_call));
        let measured = allocations(500, || call(&mut measured_call));
        let operation = allocations(500, || call(&mut operation_call));
        let client = allocations(500, || call(&mut outbound_call));
        assert_eq!(
            measured, bare,
            "MetricsLayer: {measured} allocations over 1,000 requests, the bare service {bare}"
        );
        assert_eq!(
            operation, bare,
            "OperationLayer: {operation} allocations over 1,000 calls, the bare service {bare}"
        );
        assert_eq!(
            client, bare,
            "MetricsClientLayer: {client} allocations over 1,000 calls, the bare service {bare}"
        );
        assert_eq!(
            recorded.0.load(Ordering::Relaxed) - before,
            5 * 3000,
            "every request was recorded"
        );
    });
}

/// The whole stack per request, fused and stacked: the count is deterministic for a given
/// build, so a change that adds an allocation to the hot path fails here. The bodies are read
/// to their end, so every part records its outcome.
fn the_fused_stack_allocates_no_more_than_the_stacked_layers() {
    use http_body_util::BodyExt;
    use opentelemetry::trace::TracerProvider as _;
    use tower_telemetry::all_in_one::TelemetryLayer;
    use tower_telemetry::trace::TraceLayer;
    use tower_telemetry::{CorrelationLayer, MetricsLayer};

    let recorder = AtomicRecorder::default();
    // Sampled spans, ended into no processor: the SDK's own work per span, no exporter's.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    metrics::with_local_recorder(&recorder, || {
        let mut bare = service_fn(handler);
        let mut stacked = ServiceBuilder::new()
            .layer(CorrelationLayer::new())
            .layer(TraceLayer::with_tracer(provider.tracer("alloc")))
            .layer(MetricsLayer::new())
            .service_fn(handler);
        let mut fused = ServiceBuilder::new()
            .layer(TelemetryLayer::from_layers(
                CorrelationLayer::new(),
                TraceLayer::with_tracer(provider.tracer("alloc")),
                MetricsLayer::new(),
            ))
            .service_fn(handler);
        let per_request = |service: &mut dyn FnMut(Request<()>)| {
            for path in ["/ok", "/fail"] {
                service(request(path));
            }
            allocations(100, || {
                for path in ["/ok", "/fail"] {
                    service(request(path));
                }
            }) as f64
                / 200.0
        };
        let bare = per_request(&mut |r| drop(ready(bare.call(r)).unwrap()));
        let stacked = per_request(&mut |r| {
            let body = ready(stacked.call(r)).unwrap().into_body();
            ready(body.collect()).unwrap();
        });
        let fused = per_request(&mut |r| {
            let body = ready(fused.call(r)).unwrap().into_body();
            ready(body.collect()).unwrap();
        });
        let (stacked, fused) = (stacked - bare, fused - bare);
        println!("allocations per request over bare: stacked {stacked}, fused {fused}");
        assert!(
            fused <= stacked,
            "fused {fused} allocations per request, stacked {stacked}"
        );
        assert_eq!(fused, FUSED_ALLOCATIONS, "allocations per request, fused");
    });
}

/// Heap allocations per request of the fused stack over the bare service, averaged over a
/// success and a 500 (whose `error.type` attribute is one more): the correlation ID's text
/// and its extension slot, the span's name, attribute list and string attributes (path,
/// route, correlation ID), and the OpenTelemetry SDK's own span, context and span data.
const FUSED_ALLOCATIONS: f64 = 12.5;
