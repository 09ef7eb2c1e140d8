//! A whole inbound request head through the fused layer: arbitrary `x-request-id`,
//! `traceparent`, `tracestate` and `baggage` lines (the input split at NUL bytes, each line
//! going to the header chosen by its first byte). The request is answered, the response
//! carries exactly one valid correlation ID, and nothing panics.
#![no_main]

use std::convert::Infallible;
use std::task::{Context, Poll, Waker};

use http::{HeaderName, HeaderValue, Request, Response};
use libfuzzer_sys::fuzz_target;
use tower::{Layer as _, ServiceExt, service_fn};
use tower_telemetry::{CorrelationId, TelemetryLayer};

const NAMES: [&str; 4] = ["x-request-id", "traceparent", "tracestate", "baggage"];

fuzz_target!(|data: &[u8]| {
    let mut request = Request::new(http_body_util::Empty::<bytes::Bytes>::new());
    for line in data.split(|&b| b == 0) {
        let Some((&selector, value)) = line.split_first() else {
            continue;
        };
        let Ok(value) = HeaderValue::from_bytes(value) else {
            continue;
        };
        let name = HeaderName::from_static(NAMES[usize::from(selector) % NAMES.len()]);
        request.headers_mut().append(name, value);
    }
    let service = TelemetryLayer::new().layer(service_fn(|request: Request<_>| async move {
        // The handler sees the ID the layer chose.
        assert!(request.extensions().get::<CorrelationId>().is_some());
        Ok::<_, Infallible>(Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    }));
    let mut future = std::pin::pin!(service.oneshot(request));
    let Poll::Ready(Ok(response)) = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    else {
        panic!("the service answers at once");
    };
    let ids: Vec<_> = response.headers().get_all("x-request-id").iter().collect();
    assert_eq!(ids.len(), 1);
    assert!(CorrelationId::try_from(ids[0]).is_ok());
});
