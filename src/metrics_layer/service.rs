//! [`Metrics`]: the service of both metrics layers.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::{Protocol, Shared, Side};
use super::record::{Record, Subject, Target};
use crate::classify::{ErrorType, MakeClassifier};
use crate::route::Route;
use crate::semconv::known_method;

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
    ResBody: http_body::Body,
    M: MakeClassifier,
    M::FailureClass: ErrorType,
{
    type Response = Response<super::ResponseBody<ResBody, M::ClassifyEos>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, M::Classifier>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if self.shared.excluded.contains(request.uri().path()) {
            return ResponseFuture::unrecorded(self.inner.call(request));
        }
        let classifier = self.classifier.make_classifier(&request);
        let subject = match self.shared.protocol {
            Protocol::Http => Subject::Http {
                method: known_method(request.method()).unwrap_or("_OTHER"),
                target: match self.shared.side {
                    Side::Server => Route::from_extensions(request.extensions()).map(Target::Route),
                    Side::Client => request
                        .uri()
                        .host()
                        .map(|host| Target::Host(self.shared.host(host))),
                },
            },
            Protocol::Grpc => Subject::Rpc(
                request
                    .uri()
                    .path_and_query()
                    .cloned()
                    .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
            ),
        };
        let record = Record::start(Arc::clone(&self.shared), subject);
        ResponseFuture::new(self.inner.call(request), classifier, record)
    }
}
