//! [`Metrics`]: the service of both metrics layers.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::part::MetricsPart;
use super::shared::Shared;
use crate::classify::{ErrorType, MakeClassifier};
use crate::engine;

/// Middleware that records request metrics. Made by [`MetricsLayer`](super::MetricsLayer)
/// and [`MetricsClientLayer`](super::MetricsClientLayer).
#[derive(Debug)]
pub struct Metrics<S, M> {
    pub(crate) inner: S,
    pub(crate) classifier: M,
    pub(crate) shared: Arc<Shared>,
}

impl<S: Clone, M: Clone> Clone for Metrics<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            classifier: self.classifier.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S, M> Metrics<S, M> {
    define_inner_service_accessors!();
}

impl<S, M, ReqBody, ResBody> Service<Request<ReqBody>> for Metrics<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
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
        engine::call(&self.shared, classifier, &mut self.inner, request)
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
