//! [`HttpSpan`]: the OpenTelemetry span of one HTTP request, server or client, ended exactly
//! once.

use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, ContextGuard, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;

/// How the request ended, as far as its span is concerned.
#[derive(Clone, Copy, Debug)]
pub(crate) enum End {
    /// The response body reached its end.
    Completed,
    /// The service or the body failed; the error's type name becomes `error.type`.
    Failed(&'static str),
    /// The future or the body was dropped first: the client went away.
    Cancelled,
}

/// The `error.type` of a request whose client went away before the response ended.
pub(crate) const CANCELLED: &str = "cancelled";

/// Which side of the call the span stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// A SERVER span: 5xx responses are errors.
    Server,
    /// A CLIENT span: 4xx and 5xx responses are errors.
    Client,
}

/// The span in its context, plus the log span to enter while polling. Dropping it before
/// [`HttpSpan::end`] ends the span as cancelled.
#[derive(Debug)]
pub(crate) struct HttpSpan {
    cx: Context,
    log_span: tracing::Span,
    side: Side,
    ended: bool,
}

impl HttpSpan {
    pub(crate) fn new(cx: Context, log_span: tracing::Span, side: Side) -> Self {
        Self {
            cx,
            log_span,
            side,
            ended: false,
        }
    }

    /// Enters the log span and makes the OpenTelemetry context current, until the guards drop.
    pub(crate) fn enter(&self) -> (tracing::span::Entered<'_>, ContextGuard) {
        (self.log_span.enter(), self.cx.clone().attach())
    }

    /// Records the response status: a 5xx (and for a client, a 4xx) marks the span as an error.
    pub(crate) fn response(&mut self, status: http::StatusCode) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            semconv::HTTP_RESPONSE_STATUS_CODE,
            i64::from(status.as_u16()),
        ));
        if status.is_server_error() || (self.side == Side::Client && status.is_client_error()) {
            span.set_attribute(KeyValue::new(
                semconv::ERROR_TYPE,
                status.as_str().to_owned(),
            ));
            span.set_status(Status::error(""));
        }
    }

    /// Ends the span, once.
    pub(crate) fn end(&mut self, end: End) {
        if self.ended {
            return;
        }
        self.ended = true;
        let span = self.cx.span();
        let error_type = match end {
            End::Completed => None,
            End::Failed(type_name) => Some(type_name),
            End::Cancelled => Some(CANCELLED),
        };
        if let Some(error_type) = error_type {
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
            span.set_status(Status::error(""));
        }
        span.end();
    }
}

impl Drop for HttpSpan {
    fn drop(&mut self) {
        self.end(End::Cancelled);
    }
}
