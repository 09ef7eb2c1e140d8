//! [`TracePart`]: the OpenTelemetry span of one request or call, server or client, started as
//! it arrives (the server side's [`Begin`] is here) and ended exactly once.

use std::sync::Arc;

use http::Request;
use opentelemetry::trace::{Link, SpanKind, Tracer};
use tracing::Level;

use super::attributes::{
    UrlPolicy, grpc_server_request, rpc_span_name, server_request, server_span_name,
};
use crate::engine::Begin;
use crate::error_type::ErrorTypeFn;
use crate::propagation::extract;
use crate::request::{ExcludedPaths, RequestContext};
use crate::rpc::Methods;
use crate::semconv::{Protocol, known_method, url_scheme};
use crate::trust::TrustPolicy;
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use crate::classify::CANCELLED;
use crate::engine::End;
use crate::propagation::{InvalidBaggage, InvalidTraceParent, InvalidTraceState};
use crate::rpc::{Call, Outcome};

/// The settings of a [`TraceLayer`](super::TraceLayer), shared by its services.
#[derive(Debug)]
pub(crate) struct Config<T> {
    // Behind its own `Arc` so that setters can copy the rest of the configuration without
    // requiring a `Clone` tracer (the global `BoxedTracer` is not).
    pub(crate) tracer: Arc<T>,
    pub(crate) trust: TrustPolicy,
    pub(crate) span_level: Level,
    pub(crate) scheme: &'static str,
    pub(crate) protocol: Protocol,
    pub(crate) excluded: ExcludedPaths,
    /// Whether server spans carry `url.path` and `url.query`, and what is redacted.
    pub(crate) url: UrlPolicy,
    /// The callers whose forwarded headers say the scheme (`Forwarded: proto=`).
    pub(crate) forwarded: TrustPolicy,
    /// The gRPC methods this server recognizes.
    pub(crate) methods: Arc<Methods>,
    /// The user's names for errors, before the built-in ones.
    pub(crate) error_types: Option<ErrorTypeFn>,
}

impl<T> Clone for Config<T> {
    fn clone(&self) -> Self {
        Self {
            tracer: Arc::clone(&self.tracer),
            trust: self.trust.clone(),
            span_level: self.span_level,
            scheme: self.scheme,
            protocol: self.protocol,
            excluded: self.excluded.clone(),
            url: self.url.clone(),
            forwarded: self.forwarded.clone(),
            methods: Arc::clone(&self.methods),
            error_types: self.error_types,
        }
    }
}

/// The span in its context, ended by the engine exactly once (as cancelled when the request
/// is dropped first).
#[derive(Debug)]
pub(crate) struct HttpSpan {
    cx: Context,
    /// A gRPC call: the span follows the RPC conventions (`rpc.status_code`) rather than the
    /// HTTP ones (`http.response.status_code`).
    rpc: Option<Call>,
    /// What a server span's request carried and the strict parser refused.
    refusals: Option<Refusals>,
    /// The request's log span, when no part outside this one keeps it.
    log_span: tracing::Span,
}

/// The target of the refusal events, for filters (docs/operations/observability.md).
const REFUSALS: &str = "tower_telemetry::trace::service";

/// The inbound headers the strict parser refused, to be logged inside the request's log span.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    pub(crate) traceparent: Option<InvalidTraceParent>,
    pub(crate) tracestate: Option<InvalidTraceState>,
    pub(crate) baggage: Option<InvalidBaggage>,
}

impl HttpSpan {
    pub(crate) fn new(cx: Context, rpc: Option<Call>, refusals: Option<Refusals>) -> Self {
        Self {
            cx,
            rpc,
            refusals,
            log_span: tracing::Span::none(),
        }
    }

    /// Records the response head's status: the HTTP status, or for gRPC the status of a
    /// trailers-only response (recorded when the call ends).
    pub(crate) fn head<B>(&mut self, response: &http::Response<B>) {
        match &mut self.rpc {
            Some(call) => call.head(response.status(), response.headers()),
            None => self.cx.span().set_attribute(KeyValue::new(
                semconv::HTTP_RESPONSE_STATUS_CODE,
                i64::from(response.status().as_u16()),
            )),
        }
    }

    /// The trailers arrived: for gRPC, the status.
    pub(crate) fn trailers(&mut self, trailers: &http::HeaderMap) {
        if let Some(call) = &mut self.rpc {
            call.trailers(trailers);
        }
    }

    /// Marks the span as failed, with `error_type` (the same value the metrics record).
    fn fail(&self, error_type: &str) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type.to_owned()));
        span.set_status(Status::error(""));
    }

    /// Records how a gRPC call ended: `rpc.status_code`, `error.type` only on a failure, and
    /// the method when it was not known as the call arrived (the span then takes its name).
    fn record_rpc(&self, outcome: &Outcome<'_>, named: bool) {
        use crate::semconv::rpc;
        let span = self.cx.span();
        if !named {
            span.set_attribute(KeyValue::new(rpc::METHOD, outcome.method.to_owned()));
            match outcome.original {
                Some(original) => {
                    span.set_attribute(KeyValue::new(rpc::METHOD_ORIGINAL, original.to_owned()))
                }
                None => span.update_name(outcome.method.to_owned()),
            }
        }
        if let Some(status) = outcome.status {
            span.set_attribute(KeyValue::new(rpc::STATUS_CODE, status));
        }
        if let Some(error_type) = outcome.error_type {
            self.fail(error_type);
        }
    }

    /// Records how the exchange ended and ends the span.
    pub(crate) fn finish(&mut self, end: End<'_>) {
        match (&self.rpc, end) {
            (Some(call), end) => {
                let named = call.method_recorded_at_start();
                self.record_rpc(&call.end(end), named);
            }
            (None, End::Success) => {}
            (None, End::Failure(error_type))
            | (None, End::ServiceError(error_type))
            | (None, End::BodyError(error_type)) => self.fail(error_type),
            // The caller went away: not an error of this side, so the status stays unset.
            (None, End::Cancelled) => self
                .cx
                .span()
                .set_attribute(KeyValue::new(semconv::ERROR_TYPE, CANCELLED)),
        }
        self.cx.span().end();
    }
}

/// The per-request state of [`Trace`](super::Trace) and [`TraceClient`](super::TraceClient)
/// inside their [`ResponseFuture`](super::ResponseFuture) and
/// [`ResponseBody`](super::ResponseBody): the span, or nothing for a request the layer does
/// not trace.
#[derive(Debug)]
pub struct TracePart(pub(crate) Option<HttpSpan>);

impl crate::engine::sealed::Part for TracePart {}

impl crate::engine::Part for TracePart {
    fn log_refusals(&self) {
        let Some(refusals) = self.0.as_ref().and_then(|span| span.refusals.as_ref()) else {
            return;
        };
        if let Some(err) = refusals.traceparent {
            tracing::debug!(target: REFUSALS, reason = %err.reason(), "refused the inbound traceparent; starting a new trace");
        }
        if let Some(err) = refusals.tracestate {
            tracing::debug!(target: REFUSALS, reason = %err.reason(), "refused the inbound tracestate");
        }
        if let Some(err) = refusals.baggage {
            tracing::debug!(target: REFUSALS, reason = %err.reason(), "refused the inbound baggage");
        }
    }

    /// A server span keeps the log span when no correlation part outside it did (the trace
    /// layer on its own); a client span, which has no log span, hands it back.
    fn keep_log_span(&mut self, log_span: tracing::Span) -> Option<tracing::Span> {
        match &mut self.0 {
            Some(span) if span.refusals.is_some() => {
                span.log_span = log_span;
                None
            }
            _ => Some(log_span),
        }
    }

    fn enter(&mut self) -> impl Sized + '_ {
        self.0
            .as_ref()
            .map(|span| (span.log_span.enter(), span.cx.clone().attach()))
    }

    fn head<B>(&mut self, response: &mut http::Response<B>) {
        if let Some(span) = &mut self.0 {
            span.head(response);
        }
    }

    fn trailers(&mut self, trailers: &http::HeaderMap) {
        if let Some(span) = &mut self.0 {
            span.trailers(trailers);
        }
    }

    fn end(&mut self, end: End<'_>) {
        if let Some(span) = &mut self.0 {
            span.finish(end);
        }
    }
}

impl<T> Begin for Config<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    type Part = TracePart;

    fn error_types(&self) -> Option<ErrorTypeFn> {
        self.error_types
    }

    /// Extracts the caller's context strictly and starts the SERVER span of `request`, as its
    /// child or linked to it as the trust policy says; nothing for an excluded path.
    fn begin<B>(&self, request: &mut Request<B>, cx: &mut RequestContext) -> TracePart {
        if self.excluded.contains(request.uri().path()) {
            return TracePart(None);
        }
        let extracted = extract(request.headers());
        let scheme = url_scheme(request, self.scheme, &self.forwarded);
        let (name, attributes, rpc) = match self.protocol {
            Protocol::Http => {
                let method = known_method(request.method());
                (
                    server_span_name(method, cx.route(request)),
                    server_request(request, scheme, cx, &self.url),
                    None,
                )
            }
            Protocol::Grpc => {
                let call = Call::start(&self.methods, request, cx.start());
                (
                    rpc_span_name(call.method_at_start()),
                    grpc_server_request(request, scheme, &call, cx),
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
