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
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//! use tower::ServiceExt;
//! use tower_telemetry::all_in_one::TelemetryLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "hello" }))
//!     .layer(TelemetryLayer::new());
//! let request = Request::get("/users/7").header("x-request-id", "req-7").body(Body::empty());
//! let response = app.oneshot(request.unwrap()).await.unwrap();
//! assert_eq!(response.headers()["x-request-id"], "req-7");
//! # }
//! ```
//!
//! Each part is configured with the setters of its own layer:
//!
//! ```
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_telemetry::all_in_one::TelemetryLayer;
//! use tower_telemetry::trust::TrustPolicy;
//! use tower_telemetry::{CorrelationLayer, MetricsLayer, TraceLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // A public endpoint: callers choose neither the correlation ID nor the trace.
//! let layer = TelemetryLayer::from_layers(
//!     CorrelationLayer::new().access_log(None).trust(TrustPolicy::nobody()),
//!     TraceLayer::new().trust(TrustPolicy::nobody()),
//!     MetricsLayer::new().max_label_sets(500),
//! );
//! let service = ServiceBuilder::new().layer(layer).service_fn(|_: Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
//! });
//! let request = Request::get("/").header("x-request-id", "chosen-by-caller").body(());
//! let response = service.oneshot(request.unwrap()).await.unwrap();
//! assert_ne!(response.headers()["x-request-id"], "chosen-by-caller");
//! # }
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::Tracer;
use tower_layer::Layer;
use tower_service::Service;

use crate::classify::{
    ErrorType, GrpcStatusClassifier, MakeClassifier, ServerErrorsAsFailures, SharedClassifier,
};
use crate::correlation::{self, CorrelationLayer, MakeCorrelationId, UuidV7};
use crate::engine::{self, Layered};
use crate::metrics::{self, MetricsLayer};
use crate::trace::{self, TraceLayer};

/// The all-in-one server layer: see the [module docs](self).
#[derive(Debug)]
#[must_use]
pub struct TelemetryLayer<T = BoxedTracer, M = SharedClassifier<ServerErrorsAsFailures>, G = UuidV7>
{
    capabilities: Capabilities<T, G>,
    classifier: M,
}

/// The three capabilities, outermost first, nested in pairs as their layers would stack.
type Capabilities<T, G> = (
    Arc<correlation::part::Config<G>>,
    (Arc<trace::part::Config<T>>, Arc<metrics::shared::Shared>),
);

impl<T, M: Clone, G> Clone for TelemetryLayer<T, M, G> {
    fn clone(&self) -> Self {
        let (correlation, (trace, metrics)) = &self.capabilities;
        Self {
            capabilities: (
                Arc::clone(correlation),
                (Arc::clone(trace), Arc::clone(metrics)),
            ),
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

impl TelemetryLayer {
    /// The layer for HTTP servers: the same as [`new`](Self::new), named beside
    /// [`new_for_grpc`](TelemetryLayer::new_for_grpc).
    pub fn new_for_http() -> Self {
        Self::new()
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
            capabilities: (correlation.config, (trace.config, metrics.inner.shared)),
            classifier: trace.classifier,
        }
    }

    /// Sets the success/failure policy of the span and the metrics.
    ///
    /// Defaults to `ServerErrorsAsFailures` (5xx); `new_for_grpc` uses
    /// [`grpc_server_errors`](crate::classify::grpc_server_errors).
    pub fn classifier<N>(self, classifier: N) -> TelemetryLayer<T, N, G> {
        TelemetryLayer {
            capabilities: self.capabilities,
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

/// The parts of [`Telemetry`], outermost first, nested as the layers would stack.
pub type Parts =
    Layered<correlation::CorrelationPart, Layered<trace::TracePart, metrics::MetricsPart>>;

/// Response future of [`Telemetry`].
pub type ResponseFuture<F, C> = engine::ResponseFuture<F, Parts, C>;

/// Response body of [`Telemetry`]: ends the span, records the metrics and writes the access
/// log once, at the end of the stream, on a body error, or as cancelled when dropped first.
pub type ResponseBody<B, E> = engine::ResponseBody<B, Parts, crate::classify::Verdict<E>>;

impl<S, T, M, G, ReqBody, ResBody> Service<Request<ReqBody>> for Telemetry<S, T, M, G>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: 'static,
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
        let classifier = self.layer.classifier.make_classifier(&request);
        engine::call(
            &self.layer.capabilities,
            classifier,
            &mut self.inner,
            request,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semconv::Protocol;

    #[test]
    fn the_http_presets_are_the_defaults() {
        let (_, (trace, metrics)) = &TelemetryLayer::new_for_http().capabilities;
        assert_eq!(
            (trace.protocol, metrics.protocol),
            (Protocol::Http, Protocol::Http)
        );
        let trace = crate::TraceLayer::new_for_http();
        assert_eq!(trace.config.protocol, Protocol::Http);
        let client = crate::TraceClientLayer::new_for_http();
        // A setter on a shared layer copies the settings, leaving the other copy alone.
        let inside = client
            .clone()
            .propagate_to(crate::trust::PropagateTo::hosts([".internal"]));
        assert!(
            format!("{client:?}").contains("context: PropagateTo::all()"),
            "{client:?}"
        );
        assert!(format!("{inside:?}").contains("internal"), "{inside:?}");
    }

    #[test]
    fn the_grpc_preset_sets_both_parts_to_grpc() {
        let layer = TelemetryLayer::new_for_grpc();
        let (_, (trace, metrics)) = &layer.capabilities;
        assert_eq!(trace.protocol, Protocol::Grpc);
        assert_eq!(metrics.protocol, Protocol::Grpc);
        let http = TelemetryLayer::default();
        let (_, (trace, metrics)) = &http.capabilities;
        assert_eq!(trace.protocol, Protocol::Http);
        assert_eq!(metrics.protocol, Protocol::Http);
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
