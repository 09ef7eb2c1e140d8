//! [`HttpSpan`]: the OpenTelemetry span of one HTTP request, server or client, ended exactly
//! once.

use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, ContextGuard, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use crate::classify::CANCELLED;
use crate::exchange::End;
use crate::rpc::{Call, Outcome};

/// The span in its context, plus the log span to enter while polling. Dropping it before
/// [`HttpSpan::end`] ends the span as cancelled.
#[derive(Debug)]
pub(crate) struct HttpSpan {
    cx: Context,
    log_span: tracing::Span,
    /// A gRPC call: the span follows the RPC conventions (`rpc.status_code`) rather than the
    /// HTTP ones (`http.response.status_code`).
    rpc: Option<Call>,
    ended: bool,
}

impl HttpSpan {
    pub(crate) fn new(cx: Context, log_span: tracing::Span, rpc: Option<Call>) -> Self {
        Self {
            cx,
            log_span,
            rpc,
            ended: false,
        }
    }

    /// Enters the log span and makes the OpenTelemetry context current, until the guards drop.
    pub(crate) fn enter(&self) -> (tracing::span::Entered<'_>, ContextGuard) {
        (self.log_span.enter(), self.cx.clone().attach())
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

    /// Records how the exchange ended and ends the span, once.
    pub(crate) fn finish(&mut self, end: Option<End<'_>>) {
        if self.ended {
            return;
        }
        self.ended = true;
        match (&self.rpc, end) {
            (Some(call), end) => {
                let named = call.method_recorded_at_start();
                let outcome = match end {
                    Some(end) => call.end(end),
                    None => call.dropped(),
                };
                self.record_rpc(&outcome, named);
            }
            (None, Some(End::Success)) => {}
            (None, Some(End::Failure(error_type)))
            | (None, Some(End::ServiceError(error_type)))
            | (None, Some(End::BodyError(error_type))) => self.fail(error_type),
            (None, None) => self.fail(CANCELLED),
        }
        self.cx.span().end();
    }
}

impl Drop for HttpSpan {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// The per-request state of [`Trace`](super::Trace) and [`TraceClient`](super::TraceClient)
/// inside their [`ResponseFuture`](super::ResponseFuture) and
/// [`ResponseBody`](super::ResponseBody): the span, or nothing for a request the layer does
/// not trace.
#[derive(Debug)]
pub struct Part(pub(crate) Option<HttpSpan>);

impl crate::exchange::sealed::Part for Part {}

impl crate::exchange::Part for Part {
    fn enter(&mut self) -> impl Sized + '_ {
        self.0.as_ref().map(HttpSpan::enter)
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
            span.finish(Some(end));
        }
    }
}
