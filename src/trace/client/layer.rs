//! [`TraceClientLayer`]: the configuration of client spans.

use std::sync::Arc;

use opentelemetry::global::BoxedTracer;
use tower_layer::Layer;

use super::service::{ClientConfig, Destinations, GrpcClient, TraceClient};
use crate::classify::grpc_client_errors;
use crate::classify::{GrpcStatusClassifier, SharedClassifier, StatusInRangeAsFailures};
use crate::rpc::Methods;
use crate::semconv::Protocol;
use crate::trace::attributes::UrlPolicy;
use crate::trace::layer::SCOPE;
use crate::trust::PropagateTo;

/// Starts a CLIENT span for each outbound request, child of the current context (the server
/// span of the request being handled, when [`TraceLayer`](crate::TraceLayer) runs), and sends
/// the context on: `traceparent`, `tracestate` and `baggage`.
///
/// Wrap any HTTP client that is a `tower::Service<http::Request<B>>`: hyper-util's legacy
/// client, a tonic `Channel`. A `traceparent` or `baggage` header the caller set is left as it
/// is. The correlation ID of the request being handled is sent in `x-request-id` too (feature
/// `correlation`); put [`CorrelationClientLayer`](crate::CorrelationClientLayer) before it for
/// another header name or for IDs on calls made outside requests.
///
/// ```
/// use http::{Request, Response};
/// use opentelemetry::trace::TracerProvider as _;
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_telemetry::{CorrelationClientLayer, CorrelationId, TraceClientLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let provider = SdkTracerProvider::builder().build();
/// // Stands in for an HTTP client (hyper-util's, a tonic `Channel`): it answers with the
/// // headers it was sent.
/// let client = ServiceBuilder::new()
///     .layer(CorrelationClientLayer::new())
///     .layer(TraceClientLayer::with_tracer(provider.tracer("doc")))
///     .service_fn(|request: Request<()>| async move {
///         Ok::<_, std::convert::Infallible>(Response::new(format!(
///             "{} {}",
///             request.headers()["traceparent"].to_str().unwrap(),
///             request.headers()["x-request-id"].to_str().unwrap(),
///         )))
///     });
/// let id: CorrelationId = "req-7".parse().unwrap();
/// let request = Request::get("http://inventory.internal/items/1").body(()).unwrap();
/// let body = id.scope(client.oneshot(request)).await.unwrap().into_body();
/// let sent = http_body_util::BodyExt::collect(body).await.unwrap().to_bytes();
/// let sent = String::from_utf8(sent.to_vec()).unwrap();
/// let (traceparent, request_id) = sent.split_once(' ').unwrap();
/// assert!(traceparent.starts_with("00-") && traceparent.len() == 55, "{traceparent}");
/// assert_eq!(request_id, "req-7");
/// # }
/// ```
///
/// The span is named after the method (`GET`, or `HTTP` for others) and carries
/// `http.request.method`, `server.address`, `server.port`, `url.full` (without user information
/// and query, which may hold secrets), `http.response.status_code`, and `error.type` for 4xx,
/// 5xx, transport errors and cancellation. It ends when the response body ends.
#[derive(Debug)]
#[must_use]
pub struct TraceClientLayer<T = BoxedTracer, M = SharedClassifier<StatusInRangeAsFailures>> {
    config: Arc<ClientConfig<T>>,
    classifier: M,
}

impl<T, M: Clone> Clone for TraceClientLayer<T, M> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            classifier: self.classifier.clone(),
        }
    }
}

impl TraceClientLayer {
    /// The layer with the global tracer provider's tracer (taken now, so install the provider
    /// before building the layer).
    pub fn new() -> Self {
        let scope = opentelemetry::InstrumentationScope::builder(SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        Self::with_tracer(opentelemetry::global::tracer_with_scope(scope))
    }
}

impl TraceClientLayer {
    /// The layer for HTTP clients, per the OpenTelemetry HTTP conventions: the same as
    /// [`new`](Self::new), named beside [`new_for_grpc`](TraceClientLayer::new_for_grpc).
    pub fn new_for_http() -> Self {
        Self::new()
    }
}

impl Default for TraceClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceClientLayer<BoxedTracer, SharedClassifier<GrpcStatusClassifier>> {
    /// The layer for gRPC clients (a tonic `Channel`), per the OpenTelemetry RPC conventions
    /// (semantic-conventions v1.44.0): CLIENT spans named `{rpc.method}` with
    /// `rpc.system.name="grpc"`, `rpc.method` (`package.Service/Method`), `rpc.status_code`,
    /// `server.address` and `server.port` (from the request's URI, or the
    /// [`target`](TraceClientLayer::target) when the URI is path-only, as it is below a tonic
    /// client built with `new(channel)`), and `error.type` (the status name) when the call
    /// failed: any code but OK, by [`grpc_client_errors`](crate::classify::grpc_client_errors).
    /// A response the caller drops before its end is `rpc.status_code="CANCELLED"` with the
    /// span status unset (the caller's choice, not a failure of the call); a call past its
    /// `grpc-timeout` is DEADLINE_EXCEEDED, a failure.
    pub fn new_for_grpc() -> Self {
        TraceClientLayer::new().grpc()
    }
}

impl<T> TraceClientLayer<T> {
    /// The layer with a given tracer.
    pub fn with_tracer(tracer: T) -> Self {
        Self {
            config: Arc::new(ClientConfig {
                tracer: Arc::new(tracer),
                protocol: Protocol::Http,
                destinations: Destinations::default(),
                grpc: GrpcClient::default(),
                url: UrlPolicy::default(),
            }),
            classifier: StatusInRangeAsFailures::new_for_client_and_server_errors()
                .into_make_classifier(),
        }
    }
}

impl<T, M> TraceClientLayer<T, M> {
    fn map(self, f: impl FnOnce(&mut ClientConfig<T>)) -> Self {
        let mut config = Arc::unwrap_or_clone(self.config);
        f(&mut config);
        Self {
            config: Arc::new(config),
            classifier: self.classifier,
        }
    }

    /// Switches the layer to gRPC (see [`TraceClientLayer::new_for_grpc`]), keeping its tracer.
    pub fn grpc(self) -> TraceClientLayer<T, SharedClassifier<GrpcStatusClassifier>> {
        self.map(|c| c.protocol = Protocol::Grpc)
            .classifier(grpc_client_errors())
    }

    /// Sets the gRPC target the channel was built for (`inventory.internal:50051`,
    /// `dns:///inventory.internal:50051`, `http://10.0.0.7:50051`, `unix:///run/app.sock`),
    /// read as the conventions read gRPC target strings, for `server.address` and
    /// `server.port` of calls whose URI carries no authority (a tonic `Channel` adds it only
    /// below this layer). A URI with an authority wins.
    ///
    /// Defaults to none: such calls then have no `server.address`.
    pub fn target(self, target: &str) -> Self {
        let target = crate::semconv::grpc_target(target);
        self.map(|c| c.grpc.target = Some(target))
    }

    /// Sets the gRPC methods recognized (full names `package.Service/Method` or service
    /// names); others are `rpc.method="_OTHER"` with `rpc.method_original`.
    ///
    /// Defaults to every well-formed method the client's stubs call.
    pub fn recognized_methods<I, N>(self, methods: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<Box<str>>,
    {
        let list: Vec<Box<str>> = methods.into_iter().map(Into::into).collect();
        self.map(|c| c.grpc.methods = Methods::new(false, Some(&list)))
    }

    /// Sets the success/failure policy that decides the span status and `error.type`.
    ///
    /// Defaults to `StatusInRangeAsFailures` over 400–599, as the semantic conventions have it
    /// for clients.
    pub fn classifier<N>(self, classifier: N) -> TraceClientLayer<T, N> {
        TraceClientLayer {
            config: self.config,
            classifier,
        }
    }

    /// Sets the destinations that get the trace context (`traceparent`, `tracestate`) and the
    /// `x-request-id` this layer adds; calls elsewhere still get a CLIENT span, as the root of
    /// nothing they can see. `baggage` is not covered: restrict it with
    /// [`baggage_to`](Self::baggage_to). See [`PropagateTo`].
    ///
    /// Defaults to [`PropagateTo::all`].
    pub fn propagate_to(self, destinations: PropagateTo) -> Self {
        self.map(|c| c.destinations.context = destinations)
    }

    /// Sets the destinations that get the `baggage` header, which may carry personal data
    /// (user IDs, tenants): restrict it to your own services when a client also calls third
    /// parties. See [`PropagateTo`].
    ///
    /// Defaults to [`PropagateTo::all`].
    pub fn baggage_to(self, destinations: PropagateTo) -> Self {
        self.map(|c| c.destinations.baggage = destinations)
    }

    /// Sets whether `url.full` carries the request's query, with the values of the
    /// [sensitive parameters](Self::sensitive_query_parameters) replaced by `REDACTED`.
    /// Credentials in the URI are always replaced (`https://REDACTED:REDACTED@host/`).
    ///
    /// Defaults to `true`.
    pub fn record_query(self, record_query: bool) -> Self {
        self.map(|c| c.url.query = record_query)
    }

    /// Sets the query parameters whose values are redacted in `url.full`, as
    /// [`TraceLayer::sensitive_query_parameters`](crate::TraceLayer::sensitive_query_parameters)
    /// does for `url.query`.
    ///
    /// Defaults to [`DEFAULT_SENSITIVE_QUERY_PARAMETERS`](crate::trace::DEFAULT_SENSITIVE_QUERY_PARAMETERS).
    pub fn sensitive_query_parameters<I, K>(self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<Box<str>>,
    {
        let keys = UrlPolicy::sensitive_keys(keys);
        self.map(|c| c.url.sensitive = keys)
    }
}

impl<S, T, M: Clone> Layer<S> for TraceClientLayer<T, M> {
    type Service = TraceClient<S, T, M>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceClient::new(inner, Arc::clone(&self.config), self.classifier.clone())
    }
}
