//! [`Trace`]: the server-side service.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use opentelemetry::trace::Tracer;
use tower_service::Service;

use super::ResponseFuture;
use super::part::Config;
use crate::classify::{ErrorType, MakeClassifier, ServerErrorsAsFailures, SharedClassifier};
use crate::engine;

/// Middleware that makes a SERVER span per request. Made by [`TraceLayer`](super::TraceLayer).
#[derive(Debug)]
pub struct Trace<S, T, M = SharedClassifier<ServerErrorsAsFailures>> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config<T>>,
    pub(crate) classifier: M,
}

impl<S: Clone, T, M: Clone> Clone for Trace<S, T, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S, T, M> Trace<S, T, M> {
    define_inner_service_accessors!();
}

impl<S, T, M, ReqBody, ResBody> Service<Request<ReqBody>> for Trace<S, T, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: 'static,
    ResBody: http_body::Body,
    T: Tracer,
    T::Span: Send + Sync + 'static,
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
        let classifier = self.classifier.make_classifier(&request);
        engine::call(&self.config, classifier, &mut self.inner, request)
    }
}
