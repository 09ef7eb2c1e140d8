//! [`TraceLayer`]: configuration of the server span.

use std::sync::Arc;

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::Tracer;
use tower_layer::Layer;
use tracing::Level;

use super::attributes::UrlPolicy;
use super::part::Config;
use super::service::Trace;
use crate::classify::{
    GrpcStatusClassifier, ServerErrorsAsFailures, SharedClassifier, grpc_server_errors,
};
use crate::request::ExcludedPaths;
use crate::rpc::Methods;
use crate::semconv::Protocol;
use crate::trust::TrustPolicy;

/// Continues the caller's trace: extracts its W3C context strictly, starts a SERVER span per
/// the OpenTelemetry HTTP semantic conventions, makes it current for the handler (so client
/// layers and the OpenTelemetry API parent on it), records `trace_id` and `span_id` on the
/// request's log span, and ends the span when the response body ends.
///
/// `TraceLayer::new()` takes the globally installed tracer provider's tracer (install it
/// first); `with_tracer` takes one from a provider you hold:
///
/// ```
/// use http::{Request, Response};
/// use opentelemetry::trace::TracerProvider as _;
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_telemetry::TraceLayer;
/// use tower_telemetry::trust::TrustPolicy;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
/// // A public endpoint: a caller's context becomes a link, not the parent.
/// let layer = TraceLayer::with_tracer(provider.tracer("doc")).trust(TrustPolicy::nobody());
/// let service = ServiceBuilder::new().layer(layer).service_fn(|_: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
/// });
/// let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let request = Request::get("/orders").header("traceparent", caller).body(()).unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// // The span ends with the response body.
/// http_body_util::BodyExt::collect(response.into_body()).await.unwrap();
///
/// let spans = exporter.get_finished_spans().unwrap();
/// assert_eq!(spans[0].name, "GET");
/// assert_ne!(spans[0].span_context.trace_id().to_string(), &caller[3..35], "a new trace");
/// assert_eq!(spans[0].links.len(), 1, "linked to the caller's span");
/// # }
/// ```
#[derive(Debug)]
#[must_use]
pub struct TraceLayer<T = BoxedTracer, M = SharedClassifier<ServerErrorsAsFailures>> {
    pub(crate) config: Arc<Config<T>>,
    pub(crate) classifier: M,
}

impl<T, M: Clone> Clone for TraceLayer<T, M> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            classifier: self.classifier.clone(),
        }
    }
}

/// The instrumentation scope name of the spans this crate makes.
pub(crate) const SCOPE: &str = "tower-telemetry";

impl TraceLayer {
    /// The layer with its defaults: the global tracer provider's tracer (taken now, so install
    /// the provider before building the layer), callers' contexts as parents, the log span at
    /// `INFO`, and `http` as the scheme of requests that do not carry one.
    pub fn new() -> Self {
        let scope = opentelemetry::InstrumentationScope::builder(SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        Self::with_tracer(opentelemetry::global::tracer_with_scope(scope))
    }
}

impl TraceLayer {
    /// The layer for HTTP servers, per the OpenTelemetry HTTP conventions: the same as
    /// [`new`](Self::new), named beside [`new_for_grpc`](TraceLayer::new_for_grpc).
    pub fn new_for_http() -> Self {
        Self::new()
    }
}

impl Default for TraceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceLayer<BoxedTracer, SharedClassifier<GrpcStatusClassifier>> {
    /// The layer for gRPC servers, per the OpenTelemetry RPC conventions (semantic-conventions
    /// v1.44.0): spans named `{rpc.method}` (`package.Service/Method`) with
    /// `rpc.system.name="grpc"`, `rpc.method`, `rpc.status_code` (the status name, from the
    /// head or the trailers), `server.address` and `server.port` (from `:authority`), and
    /// `error.type` (the status name) only when the call failed, by the server policy of
    /// [`grpc_server_errors`](crate::classify::grpc_server_errors). A method the server does
    /// not recognize (see [`recognized_methods`](TraceLayer::recognized_methods)) is
    /// `rpc.method="_OTHER"` with `rpc.method_original`, in a span named `grpc`. A client that
    /// cancels the call leaves the span's status unset (`rpc.status_code="CANCELLED"`); a call
    /// past its `grpc-timeout` is DEADLINE_EXCEEDED, a failure.
    pub fn new_for_grpc() -> Self {
        TraceLayer::new().grpc()
    }
}

impl<T> TraceLayer<T> {
    /// The layer with a given tracer, for example an `SdkTracer` from a provider the
    /// application holds (no dynamic dispatch per span, unlike the global tracer).
    pub fn with_tracer(tracer: T) -> Self {
        Self {
            config: Arc::new(Config {
                tracer: Arc::new(tracer),
                trust: TrustPolicy::everyone(),
                span_level: Level::INFO,
                scheme: "http",
                protocol: Protocol::Http,
                excluded: ExcludedPaths::default(),
                url: UrlPolicy::default(),
                forwarded: TrustPolicy::nobody(),
                methods: Methods::new(true, None),
                error_types: None,
            }),
            classifier: ServerErrorsAsFailures::make_classifier(),
        }
    }
}

impl<T, M> TraceLayer<T, M> {
    fn map(self, f: impl FnOnce(&mut Config<T>)) -> Self {
        let mut config = Arc::unwrap_or_clone(self.config);
        f(&mut config);
        Self {
            config: Arc::new(config),
            classifier: self.classifier,
        }
    }

    /// Switches the layer to gRPC (see [`TraceLayer::new_for_grpc`]), keeping its tracer and
    /// settings, with the server policy of
    /// [`grpc_server_errors`](crate::classify::grpc_server_errors).
    pub fn grpc(self) -> TraceLayer<T, SharedClassifier<GrpcStatusClassifier>> {
        self.map(|c| c.protocol = Protocol::Grpc)
            .classifier(grpc_server_errors())
    }

    /// Sets the gRPC methods this server recognizes: full names (`package.Service/Method`) or
    /// service names (every method of the service, e.g. tonic's `InventoryServer::<S>::NAME`).
    /// Any other method is `rpc.method="_OTHER"`.
    ///
    /// Defaults to learning them: a method is recognized once the server has answered a call
    /// to it with a status other than UNIMPLEMENTED (what tonic answers for a method it does
    /// not have), up to 1,000 methods; until then the span starts without `rpc.method` and
    /// gets it when the call ends: the name, or `_OTHER` for a method answered UNIMPLEMENTED.
    pub fn recognized_methods<I, N>(self, methods: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<Box<str>>,
    {
        let list: Vec<Box<str>> = methods.into_iter().map(Into::into).collect();
        self.map(|c| c.methods = Methods::new(true, Some(&list)))
    }

    /// Sets the success/failure policy that decides the span status and `error.type`: the same
    /// [`classify`](crate::classify) policies the metrics use, so a span is an error exactly
    /// when the request counts as a failure.
    ///
    /// Defaults to `ServerErrorsAsFailures` (5xx), as the semantic conventions have it.
    pub fn classifier<N>(self, classifier: N) -> TraceLayer<T, N> {
        TraceLayer {
            config: self.config,
            classifier,
        }
    }

    /// Sets whose inbound trace context is continued: a trusted caller's becomes the parent
    /// of the server span (its baggage kept); an untrusted caller's becomes a link of a new
    /// trace (its baggage dropped), so that it chooses neither the trace ID nor the sampling
    /// decision.
    ///
    /// Defaults to [`TrustPolicy::everyone`].
    pub fn trust(self, trust: TrustPolicy) -> Self {
        self.map(|c| c.trust = trust)
    }

    /// Sets the level of the `request` log span this layer opens when no outer layer of this
    /// crate opened it (see [`CorrelationLayer::span_level`](crate::CorrelationLayer)).
    ///
    /// Defaults to `INFO`.
    pub fn span_level(self, level: Level) -> Self {
        self.map(|c| c.span_level = level)
    }

    /// Sets the request paths that get no span (exact matches).
    ///
    /// Defaults to `metrics::DEFAULT_EXCLUDED_PATHS`: `/livez`, `/readyz`, `/metrics`, and the gRPC health protocol's
    /// `/grpc.health.v1.Health/Check` and `/grpc.health.v1.Health/Watch`: probes and scrapes.
    /// Pass the list without the health methods to trace health checks too.
    pub fn exclude_paths<I, P>(self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<Box<str>>,
    {
        let paths = ExcludedPaths::new(paths);
        self.map(|c| c.excluded = paths)
    }

    /// Sets whether server spans carry `url.path`. Turn it off when paths carry secrets or
    /// personal data (`/reset/<token>`, `/users/<email>`): spans keep `http.route`, the
    /// template, and the span name.
    ///
    /// Defaults to `true`.
    pub fn record_path(self, record_path: bool) -> Self {
        self.map(|c| c.url.path = record_path)
    }

    /// Sets the callers whose `Forwarded: proto=` (or `X-Forwarded-Proto`) header gives
    /// `url.scheme`: the proxy or load balancer in front of the service, which saw the
    /// client's own request. Anyone else could write the header, so by default nobody is
    /// trusted. Set the same policy on `MetricsLayer::forwarded_scheme`, so that spans and
    /// metrics agree.
    ///
    /// ```
    /// use tower_telemetry::TraceLayer;
    /// use tower_telemetry::trust::TrustPolicy;
    ///
    /// // Every caller is the load balancer: the service is not reachable otherwise.
    /// let layer = TraceLayer::new().forwarded_scheme(TrustPolicy::everyone());
    /// ```
    ///
    /// Defaults to [`TrustPolicy::nobody`].
    pub fn forwarded_scheme(self, trust: TrustPolicy) -> Self {
        self.map(|c| c.forwarded = trust)
    }

    /// Sets whether server spans carry `url.query` (when the request has a query), with the
    /// values of the [sensitive parameters](Self::sensitive_query_parameters) replaced by
    /// `REDACTED`. Turn it off when queries carry personal data the list cannot name.
    ///
    /// Defaults to `true`, as the conventions require.
    pub fn record_query(self, record_query: bool) -> Self {
        self.map(|c| c.url.query = record_query)
    }

    /// Sets the query parameters whose values are redacted in `url.query` (matched
    /// case-sensitively, keys kept: `q=rust&sig=REDACTED`). The list replaces the default, as
    /// the conventions' `sensitive_query_parameters` does; to add to it, chain it:
    ///
    /// ```
    /// use tower_telemetry::trace::{DEFAULT_SENSITIVE_QUERY_PARAMETERS, TraceLayer};
    ///
    /// let layer = TraceLayer::new().sensitive_query_parameters(
    ///     DEFAULT_SENSITIVE_QUERY_PARAMETERS.into_iter().chain(["token", "api_key"]),
    /// );
    /// ```
    ///
    /// Defaults to [`DEFAULT_SENSITIVE_QUERY_PARAMETERS`](crate::trace::DEFAULT_SENSITIVE_QUERY_PARAMETERS):
    /// the conventions' list (`AWSAccessKeyId`, `Signature`, `sig`, `X-Goog-Signature`,
    /// `X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`) and the common names of
    /// credentials (`access_token`, `token`, `password`, `api_key`, ...).
    pub fn sensitive_query_parameters<I, K>(self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<Box<str>>,
    {
        let keys = UrlPolicy::sensitive_keys(keys);
        self.map(|c| c.url.sensitive = keys)
    }

    /// Sets `url.scheme` for requests whose URI has no scheme (origin-form requests, which is
    /// most of them) and no trusted forwarded header: `https` behind a TLS terminator or with a
    /// TLS acceptor.
    ///
    /// The scheme recorded is, in order: the `proto` of `Forwarded` (else `X-Forwarded-Proto`)
    /// when [`forwarded_scheme`](Self::forwarded_scheme) trusts the caller; the request URI's
    /// (absolute-form requests, HTTP/2's `:scheme`); this one. Only `http` and `https` are
    /// taken from requests.
    ///
    /// Defaults to `http`.
    pub fn scheme(self, scheme: &'static str) -> Self {
        self.map(|c| c.scheme = scheme)
    }

    /// Sets the user's names for the errors of the wrapped service and of response bodies
    /// (`error.type`), tried before the built-in ones
    /// ([`error_type_of`](crate::classify::error_type_of) lists them); `None` from the
    /// function leaves an error to them.
    ///
    /// ```
    /// use tower_telemetry::TraceLayer;
    /// use tower_telemetry::classify::ErrorRef;
    ///
    /// let layer = TraceLayer::new().error_types(|error: &ErrorRef<'_>| {
    ///     let io = error.downcast_ref::<std::io::Error>()?;
    ///     (io.kind() == std::io::ErrorKind::StorageFull).then_some("disk_full")
    /// });
    /// ```
    pub fn error_types(self, error_types: crate::classify::ErrorTypeFn) -> Self {
        self.map(|c| c.error_types = Some(error_types))
    }
}

impl<S, T, M> Layer<S> for TraceLayer<T, M>
where
    T: Tracer,
    M: Clone,
{
    type Service = Trace<S, T, M>;

    fn layer(&self, inner: S) -> Self::Service {
        Trace {
            inner,
            config: Arc::clone(&self.config),
            classifier: self.classifier.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::noop::NoopTracer;

    use super::*;

    #[test]
    fn setters_on_a_shared_layer_leave_the_other_copy_alone() {
        let first = TraceLayer::with_tracer(NoopTracer::new());
        let second = first
            .clone()
            .exclude_paths(["/internal/health"])
            .record_path(false)
            .span_level(Level::DEBUG)
            .scheme("https")
            .trust(TrustPolicy::default());
        assert!(first.config.excluded.contains("/livez"));
        assert!(!second.config.excluded.contains("/livez"));
        assert!(second.config.excluded.contains("/internal/health"));
        assert!(first.config.url.path && !second.config.url.path);
        let third = second
            .clone()
            .record_query(false)
            .sensitive_query_parameters(["token"])
            .error_types(|_| Some("mapped"))
            .forwarded_scheme(TrustPolicy::everyone());
        assert!(third.config.forwarded.trusts(&http::Request::new(())));
        assert!(third.config.error_types.is_some() && second.config.error_types.is_none());
        assert!(!third.config.url.query && !third.config.url.path);
        assert_eq!(&*third.config.url.sensitive, [Box::from("token")]);
        assert_eq!(
            (second.config.span_level, second.config.scheme),
            (Level::DEBUG, "https")
        );
    }
}
