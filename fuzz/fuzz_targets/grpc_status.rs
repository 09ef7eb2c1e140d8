//! gRPC status in a response head or its trailers, as a server sends it: any bytes as
//! `grpc-status` (and `grpc-message`) are recorded with a bounded label or none; never a
//! panic, never an unbounded series.
#![no_main]

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt, service_fn};
use tower_telemetry::MetricsLayer;

fn poll<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match Pin::as_mut(&mut future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("ready at once"),
    }
}

fuzz_target!(|data: &[u8]| {
    let (in_trailers, value) = match data.split_first() {
        Some((&first, rest)) => (first % 2 == 0, rest),
        None => return,
    };
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut status = HeaderMap::new();
    status.insert("grpc-status", value.clone());
    status.insert("grpc-message", value);
    let service = MetricsLayer::new_for_grpc().layer(service_fn(move |_: Request<()>| {
        let status = status.clone();
        async move {
            let mut response = Response::builder().header("content-type", "application/grpc");
            let trailers = if in_trailers {
                Some(status)
            } else {
                for (name, value) in &status {
                    response = response.header(name, value);
                }
                None
            };
            Ok::<_, Infallible>(response.body(Trailers(trailers)).expect("a valid response"))
        }
    }));
    let request = Request::post("/shop.v1.Inventory/Get")
        .body(())
        .expect("a valid request");
    let response = poll(service.oneshot(request)).expect("infallible");
    let _ = poll(response.into_body().collect());
});

/// A body that is only trailers (or nothing: a trailers-only response).
struct Trailers(Option<HeaderMap>);

impl http_body::Body for Trailers {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|trailers| Ok(Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }
}
