//! [`Trace`]: the server-side service.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::trace::{Link, SpanKind, TraceContextExt, Tracer};
use tower_service::Service;

use super::ResponseFuture;
use super::attributes::{grpc_server_request, rpc_span_name, server_request, server_span_name};
use super::http_span::{HttpSpan, Part};
use super::layer::Config;
use crate::classify::{ErrorType, MakeClassifier, ServerErrorsAsFailures, SharedClassifier};
use crate::exchange;
use crate::propagation::{Extracted, extract};
use crate::route::Route;
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
        let config = &*self.config;
        let classifier = self.classifier.make_classifier(&request);
        if config.excluded.contains(request.uri().path()) {
            return exchange::call(Part(None), classifier, || self.inner.call(request));
        }
        let (request, started) = start(config, request);
        let log_span = {
            let span = started.cx.span();
            let span_context = span.span_context();
            crate::request_span::open_with(
                config.span_level,
                None,
                Some((&span_context.trace_id(), &span_context.span_id())),
            )
        };
        started.log_refusals(&log_span);
        let span = HttpSpan::new(started.cx, log_span, started.rpc);
        exchange::call(Part(Some(span)), classifier, || self.inner.call(request))
    }
}

/// A server span just started, and what the inbound headers offered.
pub(crate) struct Started {
    /// The caller's context (or none) with the new span in it.
    pub(crate) cx: opentelemetry::Context,
    /// The gRPC call, for a layer set to gRPC.
    pub(crate) rpc: Option<Call>,
    extracted: Extracted,
}

impl Started {
    /// Says at DEBUG, inside the request's span, which inbound headers were refused.
    pub(crate) fn log_refusals(&self, log_span: &tracing::Span) {
        let extracted = &self.extracted;
        if let Some(err) = extracted.traceparent_error() {
            tracing::debug!(parent: log_span, reason = %err.reason(), "refused the inbound traceparent; starting a new trace");
        }
        if let Some(err) = extracted.tracestate_error() {
            tracing::debug!(parent: log_span, reason = %err.reason(), "refused the inbound tracestate");
        }
        if let Some(err) = extracted.baggage_error() {
            tracing::debug!(parent: log_span, reason = %err.reason(), "refused the inbound baggage");
        }
    }
}

/// Extracts the caller's context strictly and starts the SERVER span of `request`, as its
/// child or linked to it per the inbound policy.
pub(crate) fn start<T, B>(config: &Config<T>, request: Request<B>) -> (Request<B>, Started)
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    let extracted = extract(request.headers());
    let (request, as_parent) = config.inbound.is_parent(request);
    let (name, attributes, rpc) = match config.protocol {
        Protocol::Http => {
            let route = Route::from_extensions(request.extensions());
            let method = known_method(request.method());
            (
                server_span_name(method, route.as_ref()),
                server_request(&request, config.scheme, route.as_ref(), config.record_path),
                None,
            )
        }
        Protocol::Grpc => {
            let call = Call::start(&config.methods, &request, Instant::now());
            (
                rpc_span_name(call.method_at_start()),
                grpc_server_request(&request, config.scheme, &call),
                Some(call),
            )
        }
    };
    let mut builder = config
        .tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes);
    let parent = if as_parent {
        extracted.to_context()
    } else {
        if let Some(remote) = extracted.span_context() {
            builder = builder.with_links(vec![Link::with_context(remote)]);
        }
        opentelemetry::Context::new()
    };
    let span = config.tracer.build_with_context(builder, &parent);
    let cx = parent.with_span(span);
    (request, Started { cx, rpc, extracted })
}
