//! [`Trace`]: the server-side service.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use opentelemetry::trace::{Link, SpanKind, TraceContextExt, Tracer};
use tower_service::Service;

use super::ResponseFuture;
use super::attributes::{grpc_server_request, rpc_span_name, server_request, server_span_name};
use super::http_span::{HttpSpan, Refusals, TracePart};
use super::layer::Config;
use crate::classify::{ErrorType, MakeClassifier, ServerErrorsAsFailures, SharedClassifier};
use crate::engine::{self, Begin};
use crate::propagation::extract;
use crate::request::RequestContext;
use crate::rpc::Call;
use crate::semconv::Protocol;
use crate::semconv::known_method;

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

impl<T> Begin for Config<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    type Part = TracePart;

    /// Extracts the caller's context strictly and starts the SERVER span of `request`, as its
    /// child or linked to it as the trust policy says; nothing for an excluded path.
    fn begin<B>(&self, request: &mut Request<B>, cx: &mut RequestContext) -> TracePart {
        if self.excluded.contains(request.uri().path()) {
            return TracePart(None);
        }
        let extracted = extract(request.headers());
        let (name, attributes, rpc) = match self.protocol {
            Protocol::Http => {
                let method = known_method(request.method());
                (
                    server_span_name(method, cx.route(request)),
                    server_request(request, self.scheme, cx, self.record_path),
                    None,
                )
            }
            Protocol::Grpc => {
                let call = Call::start(&self.methods, request, cx.start());
                (
                    rpc_span_name(call.method_at_start()),
                    grpc_server_request(request, self.scheme, &call, cx),
                    Some(call),
                )
            }
        };
        let mut builder = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attributes);
        let parent = if self.trust.trusts(request) {
            extracted.to_context()
        } else {
            if let Some(remote) = extracted.span_context() {
                builder = builder.with_links(vec![Link::with_context(remote)]);
            }
            opentelemetry::Context::new()
        };
        let span = self.tracer.build_with_context(builder, &parent);
        let cx_with_span = parent.with_span(span);
        cx.started_span(cx_with_span.span().span_context());
        cx.want_log_span(self.span_level);
        let refusals = Refusals {
            traceparent: extracted.traceparent_error().copied(),
            tracestate: extracted.tracestate_error().copied(),
            baggage: extracted.baggage_error().copied(),
        };
        TracePart(Some(HttpSpan::new(cx_with_span, rpc, Some(refusals))))
    }
}
