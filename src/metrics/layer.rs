//! [`MetricsLayer`] and [`MetricsClientLayer`]: configuration.

use std::marker::PhantomData;
use std::sync::Arc;

use ::metrics::Unit;
use tower_layer::Layer;

use super::labels::LabelSets;
use super::service::BodySizes;
use super::service::Metrics;
use super::shared::{BodySizeHandles, CLIENT, RPC_CLIENT, RPC_SERVER, SERVER, Shared, Side};
use crate::classify::{
    GrpcStatusClassifier, ServerErrorsAsFailures, SharedClassifier, StatusInRangeAsFailures,
    grpc_client_errors, grpc_server_errors,
};
use crate::error_type::ErrorTypeFn;
use crate::request::ExcludedPaths;
use crate::rpc::Methods;
use crate::semconv::Protocol;
use crate::semconv::rpc;
use crate::trust::TrustPolicy;

/// The paths the metrics and trace layers skip by default: `/livez`, `/readyz`, `/metrics`,
/// and the gRPC health protocol's `/grpc.health.v1.Health/Check` and
/// `/grpc.health.v1.Health/Watch`, so that probes and scrapes do not skew success rates,
/// latency histograms or in-flight gauges (a Watch stream lasts as long as its client
/// watches). To measure health checks too, set the list without them with
/// [`MetricsLayer::exclude_paths`] (and [`TraceLayer::exclude_paths`](crate::TraceLayer::exclude_paths)
/// for spans), for example `exclude_paths(["/metrics"])`.
pub const DEFAULT_EXCLUDED_PATHS: [&str; 5] = crate::request::DEFAULT_EXCLUDED_PATHS;

/// The default cap on distinct label sets per metric.
pub const DEFAULT_MAX_LABEL_SETS: usize = 2000;

pub use crate::semconv::metric::{BODY_SIZE_BUCKETS, DURATION_BUCKETS};

/// Settings shared by both layers, turned into [`Shared`] when the layer is built.
#[derive(Clone, Debug)]
struct Settings {
    side: Side,
    protocol: Protocol,
    scheme: &'static str,
    until_first_byte: bool,
    max_label_sets: usize,
    excluded: ExcludedPaths,
    recognized: Option<Arc<[Box<str>]>>,
    target: Option<(Arc<str>, Option<u16>)>,
    error_types: Option<ErrorTypeFn>,
    forwarded: TrustPolicy,
    body_sizes: bool,
}

impl Settings {
    fn new(side: Side, protocol: Protocol) -> Self {
        Self {
            side,
            protocol,
            scheme: "http",
            until_first_byte: false,
            max_label_sets: DEFAULT_MAX_LABEL_SETS,
            excluded: ExcludedPaths::default(),
            recognized: None,
            target: None,
            error_types: None,
            forwarded: TrustPolicy::nobody(),
            body_sizes: false,
        }
    }

    fn build(&self) -> Arc<Shared> {
        let (names, duration_labels, active_labels) = match (self.protocol, self.side) {
            (Protocol::Http, side) => (
                if side == Side::Server { SERVER } else { CLIENT },
                [
                    "http.request.method",
                    "url.scheme",
                    if side == Side::Server {
                        "http.route"
                    } else {
                        "server.address"
                    },
                    "http.response.status_code",
                    "error.type",
                    // Clients only: required there, opt-in on servers.
                    "server.port",
                    "network.protocol.version",
                ],
                [
                    "http.request.method",
                    "url.scheme",
                    // Clients only, as above.
                    "server.address",
                    "server.port",
                ],
            ),
            (Protocol::Grpc, side) => (
                if side == Side::Server {
                    RPC_SERVER
                } else {
                    RPC_CLIENT
                },
                [
                    rpc::SYSTEM_NAME,
                    rpc::METHOD,
                    rpc::STATUS_CODE,
                    "error.type",
                    "server.address",
                    "server.port",
                    // Not recorded for gRPC.
                    "network.protocol.version",
                ],
                [
                    rpc::SYSTEM_NAME,
                    rpc::METHOD,
                    "server.address",
                    "server.port",
                ],
            ),
        };
        let (what, to) = match self.protocol {
            Protocol::Http => ("HTTP requests", "to the end of the response body"),
            Protocol::Grpc => ("gRPC calls", "to the end of the response stream"),
        };
        ::metrics::describe_histogram!(
            names.duration,
            Unit::Seconds,
            format!("Duration of {what}, {to}.")
        );
        ::metrics::describe_gauge!(names.active, format!("Number of {what} in flight."));
        let body_sizes = (self.body_sizes && self.protocol == Protocol::Http).then(|| {
            let (request, response) = (names.request_body_size, names.response_body_size);
            ::metrics::describe_histogram!(
                request,
                Unit::Bytes,
                "Size of HTTP request bodies, as they were read."
            );
            ::metrics::describe_histogram!(
                response,
                Unit::Bytes,
                "Size of HTTP response bodies, as they were sent."
            );
            BodySizeHandles {
                request: LabelSets::new(request, duration_labels, self.max_label_sets),
                response: LabelSets::new(response, duration_labels, self.max_label_sets),
            }
        });
        Arc::new(Shared {
            side: self.side,
            protocol: self.protocol,
            durations: LabelSets::new(names.duration, duration_labels, self.max_label_sets),
            active: LabelSets::new(names.active, active_labels, self.max_label_sets),
            hosts: LabelSets::local(["server.address"], self.max_label_sets),
            names,
            scheme: self.scheme,
            until_first_byte: self.until_first_byte,
            excluded: self.excluded.clone(),
            methods: Methods::new(self.side == Side::Server, self.recognized.as_deref()),
            target: self.target.clone(),
            error_types: self.error_types,
            forwarded: self.forwarded.clone(),
            body_sizes,
        })
    }
}

/// What both layers are: the classifier, the settings, and the handles they built, rebuilt by
/// each setter.
#[derive(Debug)]
pub(crate) struct Inner<M> {
    pub(crate) classifier: M,
    settings: Settings,
    pub(crate) shared: Arc<Shared>,
}

impl<M: Clone> Clone for Inner<M> {
    fn clone(&self) -> Self {
        Self {
            classifier: self.classifier.clone(),
            settings: self.settings.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M> Inner<M> {
    fn new(side: Side, classifier: M, protocol: Protocol) -> Self {
        let settings = Settings::new(side, protocol);
        Self {
            classifier,
            shared: settings.build(),
            settings,
        }
    }

    fn with_settings(self, f: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.settings;
        f(&mut settings);
        Self {
            classifier: self.classifier,
            shared: settings.build(),
            settings,
        }
    }

    fn classifier<N>(self, classifier: N) -> Inner<N> {
        Inner {
            classifier,
            settings: self.settings,
            shared: self.shared,
        }
    }

    fn service<S, Z>(&self, inner: S) -> Metrics<S, M, Z>
    where
        M: Clone,
    {
        Metrics {
            inner,
            classifier: self.classifier.clone(),
            shared: Arc::clone(&self.shared),
            sizes: PhantomData,
        }
    }
}

/// Records the RED metrics of an HTTP server: `http.server.request.duration` (seconds,
/// labelled `http.request.method`, `url.scheme`, `http.route`, `http.response.status_code`,
/// and `error.type` on failures) and `http.server.active_requests`. See the
/// [module docs](super) for names and labels.
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use http::Request;
/// use tower::ServiceExt;
/// use tower_telemetry::MetricsLayer;
///
/// let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
/// let handle = recorder.handle();
/// metrics::with_local_recorder(&recorder, || {
///     let app: Router = Router::new()
///         .route("/users/{id}", get(|| async { "ok" }))
///         .layer(MetricsLayer::new());
///     let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
///     let request = Request::get("/users/7").body(Body::empty()).unwrap();
///     runtime.block_on(app.oneshot(request)).unwrap();
/// });
/// let text = handle.render();
/// assert!(text.contains(r#"http_route="/users/{id}""#), "{text}");
/// assert!(text.contains(r#"http_response_status_code="200""#), "{text}");
/// ```
#[derive(Debug)]
#[must_use]
pub struct MetricsLayer<M = SharedClassifier<ServerErrorsAsFailures>, Z = ()> {
    pub(crate) inner: Inner<M>,
    /// `()`, or [`BodySizes`] once [`body_sizes`](MetricsLayer::body_sizes) is set.
    sizes: PhantomData<fn() -> Z>,
}

/// Records the RED metrics of an HTTP client: `http.client.request.duration` (seconds,
/// labelled `http.request.method`, `url.scheme`, `server.address`,
/// `http.response.status_code`, and `error.type` on failures) and
/// `http.client.active_requests`. Its settings are [`MetricsLayer`]'s, plus
/// [`target`](Self::target).
///
/// ```
/// use http::{Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_telemetry::MetricsClientLayer;
///
/// let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
/// let handle = recorder.handle();
/// metrics::with_local_recorder(&recorder, || {
///     // Stands in for an HTTP client that gets a 503.
///     let client = ServiceBuilder::new()
///         .layer(MetricsClientLayer::new())
///         .service_fn(|_: Request<()>| async {
///             let mut response = Response::new(String::new());
///             *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
///             Ok::<_, std::convert::Infallible>(response)
///         });
///     let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
///     let request = Request::get("http://billing.internal/invoices").body(()).unwrap();
///     runtime.block_on(client.oneshot(request)).unwrap();
/// });
/// let text = handle.render();
/// assert!(text.contains(r#"server_address="billing.internal""#), "{text}");
/// assert!(text.contains(r#"error_type="503""#), "{text}");
/// ```
#[derive(Debug)]
#[must_use]
pub struct MetricsClientLayer<M = SharedClassifier<StatusInRangeAsFailures>, Z = ()> {
    inner: Inner<M>,
    /// `()`, or [`BodySizes`] once [`body_sizes`](MetricsClientLayer::body_sizes) is set.
    sizes: PhantomData<fn() -> Z>,
}

impl<M: Clone, Z> Clone for MetricsLayer<M, Z> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            sizes: PhantomData,
        }
    }
}

impl MetricsLayer {
    /// The layer with its defaults: 5xx are failures, durations to the end of the response
    /// body, scheme `http`, at most 2,000 label sets per metric.
    pub fn new() -> Self {
        Self {
            inner: Inner::new(
                Side::Server,
                ServerErrorsAsFailures::make_classifier(),
                Protocol::Http,
            ),
            sizes: PhantomData,
        }
    }

    /// The layer for HTTP: the same as [`new`](Self::new), named beside
    /// [`new_for_grpc`](MetricsLayer::new_for_grpc).
    pub fn new_for_http() -> Self {
        Self::new()
    }
}

impl Default for MetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsLayer<SharedClassifier<GrpcStatusClassifier>> {
    /// The layer for gRPC servers, per the OpenTelemetry RPC conventions (semantic-conventions
    /// v1.44.0): the metric is `rpc.server.call.duration` labelled `rpc.system.name="grpc"`,
    /// `rpc.method` (`package.Service/Method`; `_OTHER` for a method not recognized, see
    /// [`recognized_methods`](Self::recognized_methods)), `rpc.status_code` (the status name,
    /// from the head or the trailers) and `error.type` (the status name) only on failures. A
    /// call its caller cancels is `rpc.status_code="CANCELLED"` without `error.type`; one past
    /// its `grpc-timeout` is DEADLINE_EXCEEDED, a failure. The in-flight gauge
    /// `rpc.server.active_calls` (this crate's own: the conventions define none) is labelled
    /// `rpc.system.name` and `rpc.method`.
    ///
    /// Failures are the codes the conventions call server errors: UNKNOWN, DEADLINE_EXCEEDED,
    /// UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS; NOT_FOUND, INVALID_ARGUMENT and the
    /// other caller-caused codes are successes. Change it with
    /// [`classifier`](Self::classifier).
    pub fn new_for_grpc() -> Self {
        Self {
            inner: Inner::new(Side::Server, grpc_server_errors(), Protocol::Grpc),
            sizes: PhantomData,
        }
    }
}

impl<M, Z> MetricsLayer<M, Z> {
    /// Sets the success/failure policy: any `tower_http` classifier whose failure class has a
    /// bounded [`ErrorType`](crate::classify::ErrorType), such as those in
    /// [`classify`](crate::classify).
    ///
    /// Defaults to `ServerErrorsAsFailures` (5xx are failures); see
    /// [`new_for_grpc`](MetricsLayer::new_for_grpc) for gRPC's.
    pub fn classifier<N>(self, classifier: N) -> MetricsLayer<N, Z> {
        MetricsLayer {
            inner: self.inner.classifier(classifier),
            sizes: PhantomData,
        }
    }

    /// Measures durations to the response head (time to first byte) instead of the end of the
    /// body. The outcome is still decided at the end of the body.
    ///
    /// Defaults to `false`.
    pub fn until_first_byte(self, until_first_byte: bool) -> Self {
        self.map(|s| s.until_first_byte = until_first_byte)
    }

    /// Sets the `url.scheme` label.
    ///
    /// Defaults to `http`.
    pub fn scheme(self, scheme: &'static str) -> Self {
        self.map(|s| s.scheme = scheme)
    }

    /// Sets the request paths this layer does not record (exact matches).
    ///
    /// Defaults to [`DEFAULT_EXCLUDED_PATHS`]: `/livez`, `/readyz`, `/metrics` and the gRPC
    /// health protocol's Check and Watch.
    pub fn exclude_paths<I, P>(self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<Box<str>>,
    {
        let paths = ExcludedPaths::new(paths);
        self.map(|s| s.excluded = paths)
    }

    /// Sets the gRPC methods recognized: full names (`package.Service/Method`) or service
    /// names (every method of the service); any other method is `rpc.method="_OTHER"`.
    ///
    /// Defaults to learning them: a method is recognized once it was answered with a status
    /// other than UNIMPLEMENTED (what tonic answers for a method it does not have), up to 1,000
    /// methods.
    pub fn recognized_methods<I, N>(self, methods: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<Box<str>>,
    {
        let list: Arc<[Box<str>]> = methods.into_iter().map(Into::into).collect();
        self.map(|s| s.recognized = Some(list))
    }

    /// Sets the most distinct label sets each metric of this layer may hold in the process;
    /// the rest share the overflow series labelled `otel.metric.overflow="true"`, one per
    /// outcome (`error.type="_OTHER"` for failures, `error.type="cancelled"`, none for
    /// successes).
    ///
    /// The cap is per metric name and process-wide: layer values recording into the same
    /// metric (clones, or layers built separately) share it. Defaults to 2,000.
    pub fn max_label_sets(self, max: usize) -> Self {
        self.map(|s| s.max_label_sets = max)
    }

    /// Sets the callers whose `Forwarded: proto=` (or `X-Forwarded-Proto`) header gives the
    /// `url.scheme` label, as [`TraceLayer::forwarded_scheme`](crate::TraceLayer::forwarded_scheme)
    /// does for spans: set the same policy on both. The label is, in order, the trusted
    /// forwarded header's, the request URI's, the layer's [`scheme`](Self::scheme).
    ///
    /// Defaults to [`TrustPolicy::nobody`].
    pub fn forwarded_scheme(self, trust: TrustPolicy) -> Self {
        self.map(|s| s.forwarded = trust)
    }

    /// Sets the user's names for the errors of the wrapped service and of response bodies
    /// (`error.type`), tried before the built-in ones
    /// ([`error_type_of`](crate::classify::error_type_of) lists them); `None` from the
    /// function leaves an error to them. A plain function: it costs nothing per request.
    pub fn error_types(self, error_types: ErrorTypeFn) -> Self {
        self.map(|s| s.error_types = Some(error_types))
    }

    /// Also records the size of each request and response body, counted as it streams:
    /// `http.server.request.body.size` and `http.server.response.body.size` (bytes, with the
    /// labels of the duration histogram), opt-in as in the conventions. A body the client
    /// gives up on is recorded with what was read or sent, as cancelled.
    ///
    /// The wrapped service then receives the request body as a
    /// [`RequestBody`](super::RequestBody): the same frames, counted. An axum `Router` and a
    /// tonic server take any body; give the histograms buckets in bytes
    /// ([`BODY_SIZE_BUCKETS`](super::BODY_SIZE_BUCKETS); `setup` does).
    ///
    /// ```
    /// use axum::{Router, routing::post};
    /// use tower_telemetry::MetricsLayer;
    ///
    /// let app: Router = Router::new()
    ///     .route("/upload", post(|body: String| async move { body.len().to_string() }))
    ///     .layer(MetricsLayer::new().body_sizes());
    /// ```
    pub fn body_sizes(self) -> MetricsLayer<M, BodySizes> {
        MetricsLayer {
            inner: self.inner.with_settings(|s| s.body_sizes = true),
            sizes: PhantomData,
        }
    }

    fn map(self, f: impl FnOnce(&mut Settings)) -> Self {
        Self {
            inner: self.inner.with_settings(f),
            sizes: PhantomData,
        }
    }
}

impl<S, M: Clone, Z> Layer<S> for MetricsLayer<M, Z> {
    type Service = Metrics<S, M, Z>;

    fn layer(&self, inner: S) -> Self::Service {
        self.inner.service(inner)
    }
}

impl<M: Clone, Z> Clone for MetricsClientLayer<M, Z> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            sizes: PhantomData,
        }
    }
}

impl MetricsClientLayer {
    /// The layer with its defaults: 4xx and 5xx are failures, durations to the end of the
    /// response body, scheme `http`, at most 2,000 label sets per metric.
    pub fn new() -> Self {
        Self {
            inner: Inner::new(
                Side::Client,
                StatusInRangeAsFailures::new_for_client_and_server_errors().into_make_classifier(),
                Protocol::Http,
            ),
            sizes: PhantomData,
        }
    }

    /// The layer for HTTP: the same as [`new`](Self::new), named beside
    /// [`new_for_grpc`](MetricsClientLayer::new_for_grpc).
    pub fn new_for_http() -> Self {
        Self::new()
    }
}

impl Default for MetricsClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsClientLayer<SharedClassifier<GrpcStatusClassifier>> {
    /// The layer for gRPC clients: `rpc.client.call.duration` and `rpc.client.active_calls`,
    /// labelled as [`MetricsLayer::new_for_grpc`]'s, plus `server.address` and `server.port`
    /// (see [`target`](Self::target)). Every code but OK is a failure of the call.
    pub fn new_for_grpc() -> Self {
        Self {
            inner: Inner::new(Side::Client, grpc_client_errors(), Protocol::Grpc),
            sizes: PhantomData,
        }
    }
}

impl<M, Z> MetricsClientLayer<M, Z> {
    /// Sets the success/failure policy: any `tower_http` classifier whose failure class has a
    /// bounded [`ErrorType`](crate::classify::ErrorType), such as those in
    /// [`classify`](crate::classify).
    ///
    /// Defaults to `StatusInRangeAsFailures` over 400–599 (4xx and 5xx are failures); see
    /// [`new_for_grpc`](MetricsClientLayer::new_for_grpc) for gRPC's.
    pub fn classifier<N>(self, classifier: N) -> MetricsClientLayer<N, Z> {
        MetricsClientLayer {
            inner: self.inner.classifier(classifier),
            sizes: PhantomData,
        }
    }

    /// Measures durations to the response head (time to first byte) instead of the end of the
    /// body. The outcome is still decided at the end of the body.
    ///
    /// Defaults to `false`.
    pub fn until_first_byte(self, until_first_byte: bool) -> Self {
        self.map(|s| s.until_first_byte = until_first_byte)
    }

    /// Sets the `url.scheme` label.
    ///
    /// Defaults to `http`.
    pub fn scheme(self, scheme: &'static str) -> Self {
        self.map(|s| s.scheme = scheme)
    }

    /// Sets the request paths this layer does not record (exact matches).
    ///
    /// Defaults to [`DEFAULT_EXCLUDED_PATHS`]: `/livez`, `/readyz`, `/metrics` and the gRPC
    /// health protocol's Check and Watch.
    pub fn exclude_paths<I, P>(self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<Box<str>>,
    {
        let paths = ExcludedPaths::new(paths);
        self.map(|s| s.excluded = paths)
    }

    /// Sets the gRPC methods recognized: full names (`package.Service/Method`) or service
    /// names (every method of the service); any other method is `rpc.method="_OTHER"`.
    ///
    /// Defaults to every well-formed method.
    pub fn recognized_methods<I, N>(self, methods: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<Box<str>>,
    {
        let list: Arc<[Box<str>]> = methods.into_iter().map(Into::into).collect();
        self.map(|s| s.recognized = Some(list))
    }

    /// Sets the most distinct label sets each metric of this layer may hold in the process;
    /// the rest share the overflow series labelled `otel.metric.overflow="true"`, one per
    /// outcome (`error.type="_OTHER"` for failures, `error.type="cancelled"`, none for
    /// successes).
    ///
    /// The cap is per metric name and process-wide: layer values recording into the same
    /// metric (clones, or layers built separately) share it. Defaults to 2,000.
    pub fn max_label_sets(self, max: usize) -> Self {
        self.map(|s| s.max_label_sets = max)
    }

    /// Sets the gRPC target the channel was built for (`inventory.internal:50051`,
    /// `dns:///inventory.internal:50051`, `unix:///run/app.sock`), read as the conventions read
    /// gRPC target strings, for the `server.address` and `server.port` labels of calls whose
    /// URI carries no authority (a tonic `Channel` adds it only below this layer). A URI with
    /// an authority wins.
    ///
    /// Defaults to none: such calls then have no `server.address`.
    pub fn target(self, target: &str) -> Self {
        let (address, port) = crate::semconv::grpc_target(target);
        self.map(|s| s.target = Some((Arc::from(address), port)))
    }

    /// Sets the user's names for the errors of the wrapped service and of response bodies
    /// (`error.type`), tried before the built-in ones
    /// ([`error_type_of`](crate::classify::error_type_of) lists them); `None` from the
    /// function leaves an error to them. A plain function: it costs nothing per request.
    pub fn error_types(self, error_types: ErrorTypeFn) -> Self {
        self.map(|s| s.error_types = Some(error_types))
    }

    /// Also records the size of each request and response body, counted as it streams:
    /// `http.client.request.body.size` and `http.client.response.body.size` (bytes, with the
    /// labels of the duration histogram), as [`MetricsLayer::body_sizes`] does for servers.
    ///
    /// The wrapped client then receives the request body as a
    /// [`RequestBody`](super::RequestBody), so a hyper-util client is built for that body type:
    /// `Client<HttpConnector, RequestBody<Full<Bytes>>>`.
    pub fn body_sizes(self) -> MetricsClientLayer<M, BodySizes> {
        MetricsClientLayer {
            inner: self.inner.with_settings(|s| s.body_sizes = true),
            sizes: PhantomData,
        }
    }

    fn map(self, f: impl FnOnce(&mut Settings)) -> Self {
        Self {
            inner: self.inner.with_settings(f),
            sizes: PhantomData,
        }
    }
}

impl<S, M: Clone, Z> Layer<S> for MetricsClientLayer<M, Z> {
    type Service = Metrics<S, M, Z>;

    fn layer(&self, inner: S) -> Self::Service {
        self.inner.service(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::ServerErrorsAsFailures;

    #[test]
    fn both_layers_take_every_setting_and_rebuild_their_handles() {
        let server = MetricsLayer::new_for_http()
            .until_first_byte(true)
            .scheme("https")
            .exclude_paths(["/internal"])
            .recognized_methods(["shop.v1.Inventory"])
            .max_label_sets(10)
            .error_types(|_| Some("mapped"));
        assert!(server.inner.shared.error_types.is_some());
        let copy = server
            .clone()
            .classifier(ServerErrorsAsFailures::make_classifier());
        let shared = &copy.inner.shared;
        assert_eq!(shared.side, Side::Server);
        assert!(shared.until_first_byte);
        assert_eq!(shared.scheme, "https");
        assert!(shared.excluded.contains("/internal") && !shared.excluded.contains("/livez"));
        assert!(format!("{server:?}").starts_with("MetricsLayer"));
        assert_eq!(MetricsLayer::default().inner.shared.scheme, "http");

        let client = MetricsClientLayer::new_for_http()
            .until_first_byte(true)
            .scheme("https")
            .exclude_paths(["/skip"])
            .recognized_methods(["shop.v1.Inventory/Get"])
            .max_label_sets(10)
            .error_types(|_| None)
            .target("dns:///inventory.internal:50051");
        assert!(client.inner.shared.error_types.is_some());
        let copy = client
            .clone()
            .classifier(ServerErrorsAsFailures::make_classifier());
        let shared = &copy.inner.shared;
        assert_eq!(shared.side, Side::Client);
        assert!(shared.until_first_byte && shared.excluded.contains("/skip"));
        assert_eq!(
            shared.target.as_ref().map(|(host, port)| (&**host, *port)),
            Some(("inventory.internal", Some(50051)))
        );
        assert_eq!(
            MetricsClientLayer::default().inner.shared.side,
            Side::Client
        );
        let grpc = MetricsClientLayer::new_for_grpc();
        assert_eq!(grpc.inner.shared.protocol, Protocol::Grpc);
    }
}
