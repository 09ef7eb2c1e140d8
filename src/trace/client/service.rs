//! [`TraceClient`]: the client-side service, and the start of a CLIENT span.

use std::borrow::Cow;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, Uri};
use opentelemetry::KeyValue;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use opentelemetry_semantic_conventions::attribute as semconv;
use tower_service::Service;

use crate::classify::{ErrorType, MakeClassifier, SharedClassifier, StatusInRangeAsFailures};
use crate::engine::Begin;
use crate::propagation::{inject, inject_in};
use crate::request::RequestContext;
use crate::rpc::{Call, Methods};
use crate::semconv::Protocol;
use crate::semconv::{known_method, server_of};
use crate::trace::ResponseFuture;
use crate::trace::attributes::{UrlPolicy, push_method, push_rpc, push_server, rpc_span_name};
use crate::trace::part::{HttpSpan, TracePart};
use crate::trust::PropagateTo;

/// The settings of a [`TraceClientLayer`](super::TraceClientLayer) and its services.
#[derive(Debug)]
pub(crate) struct ClientConfig<T> {
    // Behind its own `Arc` so that setters can copy the rest without a `Clone` tracer.
    pub(crate) tracer: Arc<T>,
    pub(crate) protocol: Protocol,
    pub(crate) destinations: Destinations,
    pub(crate) grpc: GrpcClient,
    /// Whether `url.full` carries the query, and what is redacted.
    pub(crate) url: UrlPolicy,
}

impl<T> Clone for ClientConfig<T> {
    fn clone(&self) -> Self {
        Self {
            tracer: Arc::clone(&self.tracer),
            protocol: self.protocol,
            destinations: self.destinations.clone(),
            grpc: self.grpc.clone(),
            url: self.url.clone(),
        }
    }
}

/// What a gRPC client knows of its calls beyond the request: the recognized methods and the
/// channel's target.
#[derive(Clone, Debug)]
pub(crate) struct GrpcClient {
    pub(crate) methods: Arc<Methods>,
    /// `server.address` and `server.port` of the configured target.
    pub(crate) target: Option<(String, Option<u16>)>,
}

impl Default for GrpcClient {
    fn default() -> Self {
        Self {
            methods: Methods::new(false, None),
            target: None,
        }
    }
}

/// Where the context may go: the trace context (and the correlation ID this layer adds), and
/// the baggage.
#[derive(Clone, Debug, Default)]
pub(crate) struct Destinations {
    pub(crate) context: PropagateTo,
    pub(crate) baggage: PropagateTo,
}

/// Client middleware that makes a CLIENT span per call and injects the trace context. Made by
/// [`TraceClientLayer`](super::TraceClientLayer).
#[derive(Debug)]
pub struct TraceClient<S, T = BoxedTracer, M = SharedClassifier<StatusInRangeAsFailures>> {
    inner: S,
    config: Arc<ClientConfig<T>>,
    classifier: M,
}

impl<S: Clone, T, M: Clone> Clone for TraceClient<S, T, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S, T, M> TraceClient<S, T, M> {
    pub(crate) fn new(inner: S, config: Arc<ClientConfig<T>>, classifier: M) -> Self {
        Self {
            inner,
            config,
            classifier,
        }
    }

    define_inner_service_accessors!();
}

impl<S, T, M, ReqBody, ResBody> Service<Request<ReqBody>> for TraceClient<S, T, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: 'static,
    ResBody: http_body::Body,
    T: Tracer,
    T::Span: Send + Sync + 'static,
    M: MakeClassifier,
    M::FailureClass: ErrorType,
{
    type Response = Response<crate::trace::ResponseBody<ResBody, M::ClassifyEos>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, M::Classifier>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let classifier = self.classifier.make_classifier(&request);
        crate::engine::call(&self.config, classifier, &mut self.inner, request)
    }
}

impl<T> Begin for ClientConfig<T>
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
{
    type Part = TracePart;

    /// Starts the CLIENT span, child of the current context, and injects the context into
    /// the request's headers where the destination policies allow.
    fn begin<B>(&self, request: &mut Request<B>, cx: &mut RequestContext) -> TracePart {
        let parent = opentelemetry::Context::current();
        let (name, attributes, rpc) = match self.protocol {
            Protocol::Http => (
                Cow::Borrowed(known_method(request.method()).unwrap_or("HTTP")),
                client_request(request, &self.url),
                None,
            ),
            Protocol::Grpc => {
                // The RPC conventions describe the call, not the HTTP request carrying it.
                let call = Call::start(&self.grpc.methods, request, cx.start());
                let mut attributes = Vec::with_capacity(6);
                push_rpc(&mut attributes, &call, true);
                match (server_of(request.uri()), &self.grpc.target) {
                    (Some((host, port)), _) => push_server(&mut attributes, host, port),
                    (None, Some((host, port))) => push_server(&mut attributes, host, *port),
                    (None, None) => {}
                }
                (
                    rpc_span_name(call.method_at_start()),
                    attributes,
                    Some(call),
                )
            }
        };
        let builder = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_attributes(attributes);
        let span = self.tracer.build_with_context(builder, &parent);
        let span_cx = parent.with_span(span);
        let send_context = self.destinations.context.allows(request.uri());
        let no_baggage = opentelemetry::baggage::Baggage::new();
        let baggage = if self.destinations.baggage.allows(request.uri()) {
            parent.baggage()
        } else {
            &no_baggage
        };
        if send_context {
            inject_in(
                &span_cx,
                span_cx.span().span_context(),
                baggage,
                request.headers_mut(),
            );
        } else {
            let nothing = opentelemetry::trace::SpanContext::empty_context();
            inject(&nothing, baggage, request.headers_mut());
        }
        // The correlation ID of the request being handled travels with the trace context.
        // `CorrelationClientLayer` does more (other header names, IDs outside requests); when
        // it runs first the header is already there and this does nothing.
        #[cfg(feature = "correlation")]
        if send_context
            && !request
                .headers()
                .contains_key(crate::correlation::X_REQUEST_ID)
            && let Some(id) = crate::CorrelationId::current()
        {
            request
                .headers_mut()
                .insert(crate::correlation::X_REQUEST_ID, id.into());
        }
        TracePart(Some(HttpSpan::new(span_cx, rpc, None)))
    }
}

/// The attributes of a client span known before the call.
fn client_request<B>(request: &Request<B>, url: &UrlPolicy) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(6);
    push_method(&mut attributes, request.method());
    let uri = request.uri();
    if let Some((host, port)) = server_of(uri) {
        push_server(&mut attributes, host, port);
    }
    if let Some(full) = full_url(uri, url) {
        attributes.push(KeyValue::new(semconv::URL_FULL, full));
    }
    attributes
}

/// `scheme://[REDACTED:REDACTED@]host[:port]/path[?query]`: credentials in the URI replaced, as
/// the conventions require; the query (when recorded) with its sensitive values redacted.
fn full_url(uri: &Uri, url: &UrlPolicy) -> Option<String> {
    let scheme = uri.scheme_str()?;
    let host = uri.host()?;
    let credentials = match uri.authority().map(|a| a.as_str().contains('@')) {
        Some(true) => "REDACTED:REDACTED@",
        _ => "",
    };
    let mut full = format!("{scheme}://{credentials}{host}");
    if let Some(port) = uri.port() {
        full.push(':');
        full.push_str(port.as_str());
    }
    full.push_str(uri.path());
    if let Some(query) = url.query(uri) {
        full.push('?');
        full.push_str(&query);
    }
    Some(full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::attributes::value_of;

    #[test]
    fn full_url_redacts_credentials_and_sensitive_query_values() {
        let url = UrlPolicy::default();
        let uri: Uri = "https://user:secret@api.example.com:8443/v1/items?q=1&sig=abc"
            .parse()
            .unwrap();
        assert_eq!(
            full_url(&uri, &url).unwrap(),
            "https://REDACTED:REDACTED@api.example.com:8443/v1/items?q=1&sig=REDACTED"
        );
        let no_query = UrlPolicy {
            query: false,
            ..UrlPolicy::default()
        };
        assert_eq!(
            full_url(&uri, &no_query).unwrap(),
            "https://REDACTED:REDACTED@api.example.com:8443/v1/items"
        );
        let uri: Uri = "http://[::1]/x".parse().unwrap();
        assert_eq!(full_url(&uri, &url).unwrap(), "http://[::1]/x");
        let relative: Uri = "/only/a/path".parse().unwrap();
        assert!(full_url(&relative, &url).is_none());
    }

    #[test]
    fn client_attributes_follow_the_conventions() {
        let request = Request::get("https://api.example.com/v1?q=1")
            .body(())
            .unwrap();
        let attributes = client_request(&request, &UrlPolicy::default());
        let get = |key: &str| value_of(&attributes, key);
        assert_eq!(get("http.request.method").as_deref(), Some("GET"));
        assert_eq!(get("server.address").as_deref(), Some("api.example.com"));
        assert_eq!(get("server.port").as_deref(), Some("443"));
        assert_eq!(
            get("url.full").as_deref(),
            Some("https://api.example.com/v1?q=1")
        );

        let request = Request::builder()
            .method("PURGE")
            .uri("http://[::1]:8080/")
            .body(())
            .unwrap();
        let attributes = client_request(&request, &UrlPolicy::default());
        let get = |key: &str| value_of(&attributes, key);
        assert_eq!(get("http.request.method").as_deref(), Some("_OTHER"));
        assert_eq!(
            get("http.request.method_original").as_deref(),
            Some("PURGE")
        );
        assert_eq!(get("server.address").as_deref(), Some("::1"));
        assert_eq!(get("server.port").as_deref(), Some("8080"));

        // A scheme without a well-known port and no explicit one: no `server.port`.
        let request = Request::get("ws://chat.example.com/room").body(()).unwrap();
        let attributes = client_request(&request, &UrlPolicy::default());
        assert_eq!(value_of(&attributes, "server.port"), None);
        assert_eq!(
            value_of(&attributes, "server.address").as_deref(),
            Some("chat.example.com")
        );
    }
}

#[cfg(test)]
mod destination_tests {
    use std::convert::Infallible;

    use tower_layer::Layer;

    use crate::trace::TraceClientLayer;

    use opentelemetry::KeyValue;
    use opentelemetry::baggage::BaggageExt;
    use opentelemetry::trace::TracerProvider as _;
    use tower::{ServiceExt, service_fn};

    use super::*;

    type SdkLayer = TraceClientLayer<opentelemetry_sdk::trace::SdkTracer>;

    /// Sends one call to `uri` inside a traced request with baggage and a correlation ID, and
    /// returns the names of the context headers the destination received.
    async fn sent(layer: SdkLayer, uri: &str) -> Vec<&'static str> {
        let client = layer.layer(service_fn(|request: Request<()>| async move {
            let names: Vec<&'static str> = ["traceparent", "tracestate", "baggage", "x-request-id"]
                .into_iter()
                .filter(|name| request.headers().contains_key(*name))
                .collect();
            Ok::<_, Infallible>(Response::new(http_body_util::Full::new(
                bytes::Bytes::from(names.join(",")),
            )))
        }));
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let tracer = provider.tracer("test");
        let parent = opentelemetry::Context::new()
            .with_span(tracer.start("server"))
            .with_baggage([KeyValue::new("user.id", "alice")]);
        let id: crate::CorrelationId = "req-1".parse().unwrap();
        let request = Request::get(uri).body(()).unwrap();
        // The call reads the current context when it is made, inside the first poll.
        let _attached = parent.attach();
        let response = id.scope(client.oneshot(request)).await.unwrap();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        ["traceparent", "tracestate", "baggage", "x-request-id"]
            .into_iter()
            .filter(|name| {
                String::from_utf8_lossy(&body)
                    .split(',')
                    .any(|s| s == *name)
            })
            .collect()
    }

    fn layer() -> SdkLayer {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        TraceClientLayer::with_tracer(provider.tracer("test"))
    }

    #[tokio::test]
    async fn everything_goes_everywhere_by_default() {
        assert_eq!(
            sent(layer(), "https://api.example.com/").await,
            ["traceparent", "baggage", "x-request-id"]
        );
    }

    #[tokio::test]
    async fn the_policies_keep_context_and_baggage_inside() {
        let restricted = || {
            layer()
                .propagate_to(PropagateTo::hosts([".internal"]))
                .baggage_to(PropagateTo::hosts(["users.internal"]))
        };
        assert_eq!(
            sent(restricted(), "http://users.internal/u/1").await,
            ["traceparent", "baggage", "x-request-id"]
        );
        assert_eq!(
            sent(restricted(), "http://billing.internal/i/1").await,
            ["traceparent", "x-request-id"]
        );
        assert!(
            sent(restricted(), "https://api.example.com/")
                .await
                .is_empty()
        );
    }
}
