//! [`Metrics`]: the service of both metrics layers.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Buf as _;
use pin_project_lite::pin_project;

use http::{Request, Response};
use tower_service::Service;

use super::part::MetricsPart;
use super::shared::Shared;
use crate::classify::{ErrorType, MakeClassifier};
use crate::engine;
use crate::request::RequestContext;

/// Middleware that records request metrics. Made by [`MetricsLayer`](super::MetricsLayer)
/// and [`MetricsClientLayer`](super::MetricsClientLayer); `Z` is [`BodySizes`] when it also
/// records body sizes.
#[derive(Debug)]
pub struct Metrics<S, M, Z = ()> {
    pub(crate) inner: S,
    pub(crate) classifier: M,
    pub(crate) shared: Arc<Shared>,
    pub(crate) sizes: PhantomData<fn() -> Z>,
}

/// The metrics layers' mark that they record body sizes
/// ([`MetricsLayer::body_sizes`](super::MetricsLayer::body_sizes)): the request body then
/// reaches the wrapped service as a [`RequestBody`].
#[derive(Clone, Copy, Debug, Default)]
pub struct BodySizes;

impl<S: Clone, M: Clone, Z> Clone for Metrics<S, M, Z> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            classifier: self.classifier.clone(),
            shared: Arc::clone(&self.shared),
            sizes: PhantomData,
        }
    }
}

impl<S, M, Z> Metrics<S, M, Z> {
    define_inner_service_accessors!();
}

/// What a metrics service hands the wrapped service as the request body: the body itself
/// (`()`, the default), or a [`RequestBody`] that counts its bytes ([`BodySizes`]).
///
/// Sealed: implemented for `()` and [`BodySizes`] only.
pub trait RequestBodies<B>: sealed::Sealed {
    /// The body the wrapped service receives.
    type Body;

    /// The request as the wrapped service receives it, and the counter of its body's bytes
    /// when they are counted.
    fn prepare(request: Request<B>) -> (Request<Self::Body>, Option<Arc<AtomicU64>>);
}

#[allow(unreachable_pub)] // the sealed-trait pattern: nameable by nobody outside this crate
mod sealed {
    pub trait Sealed {}
    impl Sealed for () {}
    impl Sealed for super::BodySizes {}
}

impl<B> RequestBodies<B> for () {
    type Body = B;

    fn prepare(request: Request<B>) -> (Request<B>, Option<Arc<AtomicU64>>) {
        (request, None)
    }
}

impl<B> RequestBodies<B> for BodySizes {
    type Body = RequestBody<B>;

    fn prepare(request: Request<B>) -> (Request<RequestBody<B>>, Option<Arc<AtomicU64>>) {
        let read = Arc::new(AtomicU64::new(0));
        let request = request.map(|inner| RequestBody {
            inner,
            read: Arc::clone(&read),
        });
        (request, Some(read))
    }
}

impl<S, M, Z, ReqBody, ResBody> Service<Request<ReqBody>> for Metrics<S, M, Z>
where
    Z: RequestBodies<ReqBody>,
    S: Service<Request<Z::Body>, Response = Response<ResBody>>,
    S::Error: 'static,
    ResBody: http_body::Body,
    M: MakeClassifier,
    M::FailureClass: ErrorType,
{
    type Response = Response<ResponseBody<ResBody, M::ClassifyEos>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, M::Classifier>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let classifier = self.classifier.make_classifier(&request);
        let (request, read) = Z::prepare(request);
        let mut cx = RequestContext::new();
        if let Some(read) = read {
            cx.count_request_body(read);
        }
        engine::call_in(cx, &self.shared, classifier, &mut self.inner, request)
    }
}

pin_project! {
    /// The request body a metrics layer that records body sizes hands on: the same frames, their
    /// bytes counted as they are read.
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        read: Arc<AtomicU64>,
    }
}

impl<B: http_body::Body> http_body::Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(Ok(data)) = frame
            .as_ref()
            .map(|f| f.as_ref().map(http_body::Frame::data_ref))
            && let Some(data) = data
        {
            this.read
                .fetch_add(data.remaining() as u64, Ordering::Relaxed);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B> RequestBody<B> {
    /// The body inside.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B> std::fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody")
            .field("read", &self.read.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Response future of [`Metrics`].
pub type ResponseFuture<F, C> = engine::ResponseFuture<F, MetricsPart, C>;

/// Response body of [`Metrics`].
///
/// Passes every frame through unchanged. At the end of the stream it classifies the trailers
/// when the policy asked to wait for them (gRPC) and records the request; on a body error it
/// records the error's type; dropped before the end, it records `error.type="cancelled"`.
pub type ResponseBody<B, E> = engine::ResponseBody<B, MetricsPart, crate::classify::Verdict<E>>;

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use tower::{ServiceExt, service_fn};
    use tower_layer::Layer;

    use super::*;
    use crate::metrics::part::start;
    use crate::metrics::{MetricsClientLayer, MetricsLayer};
    use crate::request::RequestContext;

    /// Polls a future that is ready at once.
    fn ready<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let poll = future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        let Poll::Ready(output) = poll else { panic!() };
        output
    }

    #[test]
    fn a_client_request_without_a_host_has_no_server_labels() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        ::metrics::with_local_recorder(&recorder, || {
            let answering = service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Empty::<
                    bytes::Bytes,
                >::new()))
            });
            let client = MetricsClientLayer::default().layer(answering);
            let request = Request::get("/path/only").body(()).unwrap();
            drop(ready(client.oneshot(request)).unwrap());
        });
        let text = handle.render();
        assert!(
            text.contains(r#"http_client_request_duration_count{http_request_method="GET",url_scheme="http",http_response_status_code="200",network_protocol_version="1.1"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn a_service_error_is_a_failure_named_by_its_type_and_excluded_paths_are_not_recorded() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        ::metrics::with_local_recorder(&recorder, || {
            let failing = service_fn(|_: Request<()>| async {
                Err::<Response<http_body_util::Empty<bytes::Bytes>>, _>(std::fmt::Error)
            });
            let server = MetricsLayer::new().layer(failing);
            assert!(ready(server.oneshot(Request::new(()))).is_err());

            let client = MetricsClientLayer::default()
                .exclude_paths(["/skip"])
                .layer(failing);
            let skipped = Request::get("http://api.internal/skip").body(()).unwrap();
            assert!(ready(client.oneshot(skipped)).is_err());
        });
        let text = handle.render();
        assert!(
            text.contains(r#"error_type="_OTHER""#),
            "a standard-library type is no error.type: {text}"
        );
        let part = ::metrics::with_local_recorder(&recorder, || {
            let request = Request::new(());
            MetricsPart(start(
                &MetricsLayer::new().inner.shared,
                &request,
                &mut RequestContext::new(),
            ))
        });
        assert_eq!(
            format!("{part:?}"),
            "MetricsPart(Some(Record { side: Server, .. }))"
        );
        assert!(!text.contains("http_client_request_duration"), "{text}");
    }
}
