//! [`TelemetryLayer`]: correlation ID, trace context, server span and RED metrics in one
//! service, one response future and one body.
//!
//! It behaves exactly like stacking [`CorrelationLayer`] (outermost), [`TraceLayer`] and
//! [`MetricsLayer`] (innermost), and costs less: one request span opened with its fields set,
//! one clock read at the start shared by the access log and the histogram, one extension
//! insert, one classification shared by the span and the metrics, one future and one body
//! wrapper instead of three of each.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_telemetry::stack::TelemetryLayer;
//!
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "hello" }))
//!     .layer(TelemetryLayer::new());
//! # let _ = app;
//! ```
//!
//! Each part is configured with the setters of its own layer:
//!
//! ```
//! use tower_telemetry::stack::TelemetryLayer;
//! use tower_telemetry::trace::{InboundTrace, TraceLayer};
//! use tower_telemetry::{CorrelationLayer, MetricsLayer};
//!
//! let layer = TelemetryLayer::from_layers(
//!     CorrelationLayer::new().access_log(None),
//!     TraceLayer::new().inbound(InboundTrace::link()),
//!     MetricsLayer::new().max_label_sets(500),
//! );
//! # let _ = layer;
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{TraceContextExt, Tracer};
use tower_layer::Layer;
use tower_service::Service;

use crate::classify::{
    ErrorType, GrpcStatusClassifier, MakeClassifier, ServerErrorsAsFailures, SharedClassifier,
};
use crate::correlation::{self, CorrelationId, CorrelationLayer, MakeCorrelationId, UuidV7};
use crate::exchange;
use crate::metrics_layer::{self, MetricsLayer};
use crate::trace::{self, TraceLayer};

/// The all-in-one server layer: see the [module docs](self).
#[derive(Debug)]
#[must_use]
pub struct TelemetryLayer<T = BoxedTracer, M = SharedClassifier<ServerErrorsAsFailures>, G = UuidV7>
{
    correlation: Arc<correlation::layer::Config<G>>,
    trace: Arc<trace::layer::Config<T>>,
    metrics: Arc<metrics_layer::layer::Shared>,
    classifier: M,
}

impl<T, M: Clone, G> Clone for TelemetryLayer<T, M, G> {
    fn clone(&self) -> Self {
        Self {
            correlation: Arc::clone(&self.correlation),
            trace: Arc::clone(&self.trace),
            metrics: Arc::clone(&self.metrics),
            classifier: self.classifier.clone(),
        }
    }
}

impl TelemetryLayer {
    /// The layer with the defaults of each part: [`CorrelationLayer::new`],
    /// [`TraceLayer::new`] (the global tracer provider's tracer, taken now) and
    /// [`MetricsLayer::new`], with the 5xx-are-failures policy.
    pub fn new() -> Self {
        Self::from_layers(
            CorrelationLayer::new(),
            TraceLayer::new(),
            MetricsLayer::new(),
        )
    }
}

impl Default for TelemetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl TelemetryLayer<BoxedTracer, SharedClassifier<GrpcStatusClassifier>> {
    /// The layer for gRPC servers: [`TraceLayer::new_for_grpc`] and
    /// [`MetricsLayer::new_for_grpc`], with the server policy of
    /// [`grpc_server_errors`](crate::classify::grpc_server_errors).
    pub fn new_for_grpc() -> Self {
        Self::from_layers(
            CorrelationLayer::new(),
            TraceLayer::new_for_grpc(),
            MetricsLayer::new_for_grpc(),
        )
    }
}

impl<T> TelemetryLayer<T> {
    /// The layer with a given tracer, for example an `SdkTracer` from a provider the
    /// application holds (no box and no dynamic call per span, unlike the global tracer), and
    /// the defaults of [`new`](TelemetryLayer::new) otherwise.
    pub fn with_tracer(tracer: T) -> Self {
        Self::from_layers(
            CorrelationLayer::new(),
            TraceLayer::with_tracer(tracer),
            MetricsLayer::new(),
        )
    }
}

impl<T, M, G> TelemetryLayer<T, M, G> {
    /// The layer made of these three, each with its own settings. The success/failure
    /// policy is the trace layer's, and decides the span status and the metrics alike; the
    /// metrics layer's own policy is not used (set one for both with
    /// [`classifier`](Self::classifier)).
    pub fn from_layers<N>(
        correlation: CorrelationLayer<G>,
        trace: TraceLayer<T, M>,
        metrics: MetricsLayer<N>,
    ) -> Self {
        Self {
            correlation: correlation.config,
            trace: trace.config,
            metrics: metrics.shared,
            classifier: trace.classifier,
        }
    }

    /// Sets the success/failure policy of the span and the metrics.
    ///
    /// Defaults to `ServerErrorsAsFailures` (5xx); `new_for_grpc` uses
    /// [`grpc_server_errors`](crate::classify::grpc_server_errors).
    pub fn classifier<N>(self, classifier: N) -> TelemetryLayer<T, N, G> {
        TelemetryLayer {
            correlation: self.correlation,
            trace: self.trace,
            metrics: self.metrics,
            classifier,
        }
    }
}

impl<S, T, M: Clone, G> Layer<S> for TelemetryLayer<T, M, G> {
    type Service = Telemetry<S, T, M, G>;

    fn layer(&self, inner: S) -> Self::Service {
        Telemetry {
            inner,
            layer: self.clone(),
        }
    }
}

/// Middleware that instruments every request. Made by [`TelemetryLayer`].
#[derive(Debug)]
pub struct Telemetry<S, T = BoxedTracer, M = SharedClassifier<ServerErrorsAsFailures>, G = UuidV7> {
    inner: S,
    layer: TelemetryLayer<T, M, G>,
}

impl<S: Clone, T, M: Clone, G> Clone for Telemetry<S, T, M, G> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, T, M, G> Telemetry<S, T, M, G> {
    define_inner_service_accessors!();
}

/// Where the request's correlation ID comes from.
enum Id<'a> {
    /// Chosen here: a valid inbound one, or a new one.
    Chosen(correlation::service::Chosen<'a>),
    /// Chosen by an outer layer of this crate.
    Outer(CorrelationId),
}

/// The parts of [`Telemetry`], outermost first, as the layers would stack.
pub type Parts = (correlation::Part, trace::Part, metrics_layer::Part);

/// Response future of [`Telemetry`].
pub type ResponseFuture<F, C> = exchange::ResponseFuture<F, Parts, C>;

/// Response body of [`Telemetry`]: ends the span, records the metrics and writes the access
/// log once, at the end of the stream, on a body error, or as cancelled when dropped first.
pub type ResponseBody<B, E> = exchange::ResponseBody<B, Parts, crate::classify::Verdict<E>>;

impl<S, T, M, G, ReqBody, ResBody> Service<Request<ReqBody>> for Telemetry<S, T, M, G>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    M: MakeClassifier,
    M::FailureClass: ErrorType,
    G: MakeCorrelationId,
{
    type Response = Response<ResponseBody<ResBody, M::ClassifyEos>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, M::Classifier>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let layer = &self.layer;
        let correlation = &*layer.correlation;
        let classifier = layer.classifier.make_classifier(&request);

        // An outer layer of ours already chose the ID, opened the span and writes the access
        // log: keep its ID, as a stacked `CorrelationLayer` would.
        let (mut request, id) = match request.extensions().get::<CorrelationId>() {
            Some(outer) => {
                let outer = outer.clone();
                (request, Id::Outer(outer))
            }
            None => {
                let (request, chosen) = correlation::service::choose(correlation, request);
                (request, Id::Chosen(chosen))
            }
        };
        if let Id::Chosen(chosen) = &id {
            request.extensions_mut().insert(chosen.id.clone());
        }

        let (request, started) = if layer.trace.excluded.contains(request.uri().path()) {
            (request, None)
        } else {
            let (request, started) = trace::service::start(&layer.trace, request);
            (request, Some(started))
        };
        let trace_ids = started.as_ref().map(|started| {
            let span = started.cx.span();
            let span_context = span.span_context();
            (span_context.trace_id(), span_context.span_id())
        });
        let log_span = crate::request_span::open_with(
            correlation.span_level,
            match &id {
                Id::Chosen(chosen) => Some(&chosen.id as &dyn std::fmt::Display),
                Id::Outer(_) => None,
            },
            trace_ids
                .as_ref()
                .map(|(t, s)| (t as &dyn std::fmt::Display, s as &dyn std::fmt::Display)),
        );
        if let Id::Chosen(chosen) = &id {
            chosen.log_refusal(&log_span);
        }
        if let Some(started) = &started {
            // Inside the span, where a stacked `TraceLayer` says it.
            let _entered = log_span.enter();
            started.log_refusals(&log_span);
        }

        let header_name = correlation.header_names[0].clone();
        let (correlation_part, trace_log_span) = match id {
            Id::Chosen(chosen) => {
                let log = correlation::access_log::RequestLog::start(
                    log_span,
                    (correlation.access_log, correlation.log_path),
                    &request,
                    Some(start),
                );
                let part = correlation::Part::new(chosen.id, header_name, log);
                (part, tracing::Span::none())
            }
            // The outer layer's span is entered by that layer; enter it here too, as a
            // stacked `TraceLayer` would.
            Id::Outer(id) => (
                correlation::Part::new(
                    id,
                    header_name,
                    correlation::access_log::RequestLog::none(),
                ),
                log_span,
            ),
        };
        let trace_part = trace::Part(started.map(|started| {
            trace::http_span::HttpSpan::new(started.cx, trace_log_span, started.rpc)
        }));
        let metrics_part = metrics_layer::Part(metrics_layer::service::start(
            &layer.metrics,
            &request,
            Some(start),
        ));
        exchange::call(
            (correlation_part, trace_part, metrics_part),
            classifier,
            || self.inner.call(request),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semconv::Protocol;

    #[test]
    fn the_grpc_preset_sets_both_parts_to_grpc() {
        let layer = TelemetryLayer::new_for_grpc();
        assert_eq!(layer.trace.protocol, Protocol::Grpc);
        assert_eq!(layer.metrics.protocol, Protocol::Grpc);
        let http = TelemetryLayer::default();
        assert_eq!(http.trace.protocol, Protocol::Http);
        assert_eq!(http.metrics.protocol, Protocol::Http);
    }

    #[test]
    fn the_service_gives_access_to_the_inner_service() {
        let layer = TelemetryLayer::with_tracer(opentelemetry::trace::noop::NoopTracer::new());
        let mut service = layer.layer(7_u8);
        assert_eq!(*service.get_ref(), 7);
        *service.get_mut() = 8;
        assert_eq!(service.clone().into_inner(), 8);
        assert!(format!("{service:?}").starts_with("Telemetry"));
    }
}
