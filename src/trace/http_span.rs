//! [`HttpSpan`]: the OpenTelemetry span of one HTTP request, server or client, ended exactly
//! once.

use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, ContextGuard, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use crate::classify::CANCELLED;

/// The span in its context, plus the log span to enter while polling. Dropping it before
/// [`HttpSpan::end`] ends the span as cancelled.
#[derive(Debug)]
pub(crate) struct HttpSpan {
    cx: Context,
    log_span: tracing::Span,
    grpc: bool,
    ended: bool,
}

impl HttpSpan {
    /// `grpc`: the span follows the RPC conventions (`rpc.grpc.status_code`) rather than the
    /// HTTP ones (`http.response.status_code`).
    pub(crate) fn new(cx: Context, log_span: tracing::Span, grpc: bool) -> Self {
        Self {
            cx,
            log_span,
            grpc,
            ended: false,
        }
    }

    /// Enters the log span and makes the OpenTelemetry context current, until the guards drop.
    pub(crate) fn enter(&self) -> (tracing::span::Entered<'_>, ContextGuard) {
        (self.log_span.enter(), self.cx.clone().attach())
    }

    /// Records the response head's status: the HTTP status, or for gRPC the `grpc-status`
    /// of a trailers-only response.
    pub(crate) fn head<B>(&self, response: &http::Response<B>) {
        if self.grpc {
            self.grpc_status(response.headers());
        } else {
            self.cx.span().set_attribute(KeyValue::new(
                semconv::HTTP_RESPONSE_STATUS_CODE,
                i64::from(response.status().as_u16()),
            ));
        }
    }

    /// Records `rpc.grpc.status_code` when `headers` (the head or the trailers) carry one.
    pub(crate) fn grpc_status(&self, headers: &http::HeaderMap) {
        if !self.grpc {
            return;
        }
        if let Some(code) = headers
            .get(crate::semconv::GRPC_STATUS)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
        {
            self.cx
                .span()
                .set_attribute(KeyValue::new(crate::semconv::rpc::GRPC_STATUS_CODE, code));
        }
    }

    /// Marks the span as failed, with `error_type` (the same value the metrics record).
    pub(crate) fn fail(&self, error_type: &str) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type.to_owned()));
        span.set_status(Status::error(""));
    }

    /// Ends the span, once.
    pub(crate) fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            self.cx.span().end();
        }
    }
}

impl Drop for HttpSpan {
    fn drop(&mut self) {
        if !self.ended {
            self.fail(CANCELLED);
            self.end();
        }
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
        if let Some(span) = &self.0 {
            span.head(response);
        }
    }

    fn trailers(&mut self, trailers: &http::HeaderMap) {
        if let Some(span) = &self.0 {
            span.grpc_status(trailers);
        }
    }

    fn end(&mut self, end: crate::exchange::End<'_>) {
        use crate::exchange::End;
        if let Some(span) = &mut self.0 {
            match end {
                End::Success => {}
                End::Failure(error_type) => span.fail(error_type),
                End::ServiceError(error_type) | End::BodyError(error_type) => {
                    span.fail(error_type);
                }
            }
            span.end();
        }
    }
}
