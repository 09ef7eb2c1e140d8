//! [`CorrelationClientLayer`]: puts the current correlation ID on outbound requests.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderName, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::trust::PropagateTo;

use super::CorrelationId;
use super::X_REQUEST_ID;
use super::make::{MakeCorrelationId, UuidV7};

/// Sets the correlation ID header on outbound requests, from the request being handled.
///
/// Wrap any HTTP client that is a `tower::Service<http::Request<B>>` with it: hyper-util's
/// legacy `Client`, a tonic `Channel`, or a client built from your own `ServiceBuilder`. For
/// each outbound request:
///
/// 1. a header the caller set explicitly is left exactly as it is;
/// 2. otherwise the [current](CorrelationId::current) ID, the one of the inbound request being
///    handled on this task, is sent;
/// 3. outside any request (a background job, a test) a fresh ID is made, or none is sent,
///    as [`OutsideRequest`] says.
///
/// The response passes through untouched: the layer returns the inner future as it is.
///
/// ```
/// use http::Request;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use tower_telemetry::correlation::{CorrelationClientLayer, CorrelationId};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Stands in for an HTTP client: it answers with the ID it was sent.
/// let client = service_fn(|request: Request<()>| async move {
///     Ok::<_, std::convert::Infallible>(request.headers()["x-request-id"].clone())
/// });
/// let client = ServiceBuilder::new()
///     .layer(CorrelationClientLayer::new())
///     .service(client);
///
/// let id: CorrelationId = "req-7".parse().unwrap();
/// let sent = id.scope(client.oneshot(Request::new(()))).await.unwrap();
/// assert_eq!(sent, "req-7");
/// # }
/// ```
#[derive(Debug)]
#[must_use]
pub struct CorrelationClientLayer<M = UuidV7> {
    config: Arc<ClientConfig<M>>,
}

impl<M> Clone for CorrelationClientLayer<M> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
        }
    }
}

#[derive(Debug, Clone)]
struct ClientConfig<M> {
    header_name: HeaderName,
    outside_request: OutsideRequest,
    generator: M,
    propagate_to: PropagateTo,
}

/// What [`CorrelationClientLayer`] sends when no request is being handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutsideRequest {
    /// Make a fresh ID, so the callee's logs still group the call. The default.
    #[default]
    Generate,
    /// Send no header.
    Omit,
}

impl CorrelationClientLayer {
    /// The layer with its defaults: header `x-request-id`, and a fresh UUID v7 outside requests.
    pub fn new() -> Self {
        Self {
            config: Arc::new(ClientConfig {
                header_name: X_REQUEST_ID,
                outside_request: OutsideRequest::Generate,
                generator: UuidV7,
                propagate_to: PropagateTo::all(),
            }),
        }
    }
}

impl Default for CorrelationClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Clone> CorrelationClientLayer<M> {
    /// Sets the header the ID is sent in.
    ///
    /// Defaults to `x-request-id`.
    pub fn header_name(self, name: HeaderName) -> Self {
        let mut config = Arc::unwrap_or_clone(self.config);
        config.header_name = name;
        Self {
            config: Arc::new(config),
        }
    }

    /// Sets what is sent when no request is being handled.
    ///
    /// Defaults to [`OutsideRequest::Generate`].
    pub fn outside_request(self, outside_request: OutsideRequest) -> Self {
        let mut config = Arc::unwrap_or_clone(self.config);
        config.outside_request = outside_request;
        Self {
            config: Arc::new(config),
        }
    }

    /// Sets the destinations the ID is sent to; calls elsewhere carry no ID (an explicit
    /// header the caller set is still left alone). See [`PropagateTo`].
    ///
    /// Defaults to [`PropagateTo::all`].
    pub fn propagate_to(self, destinations: PropagateTo) -> Self {
        let mut config = Arc::unwrap_or_clone(self.config);
        config.propagate_to = destinations;
        Self {
            config: Arc::new(config),
        }
    }

    /// Sets the generator used outside requests.
    ///
    /// Defaults to [`UuidV7`].
    pub fn generator<N: MakeCorrelationId + Clone>(
        self,
        generator: N,
    ) -> CorrelationClientLayer<N> {
        let config = Arc::unwrap_or_clone(self.config);
        CorrelationClientLayer {
            config: Arc::new(ClientConfig {
                header_name: config.header_name,
                outside_request: config.outside_request,
                generator,
                propagate_to: config.propagate_to,
            }),
        }
    }
}

impl<S, M> Layer<S> for CorrelationClientLayer<M> {
    type Service = CorrelationClient<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        CorrelationClient {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// Client middleware that sends the current correlation ID. Made by
/// [`CorrelationClientLayer`].
#[derive(Debug)]
pub struct CorrelationClient<S, M = UuidV7> {
    inner: S,
    config: Arc<ClientConfig<M>>,
}

impl<S: Clone, M> Clone for CorrelationClient<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S, M> CorrelationClient<S, M> {
    define_inner_service_accessors!();
}

impl<S, M, B> Service<Request<B>> for CorrelationClient<S, M>
where
    S: Service<Request<B>>,
    M: MakeCorrelationId,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let config = &*self.config;
        if !request.headers().contains_key(&config.header_name)
            && config.propagate_to.allows(request.uri())
        {
            let id = CorrelationId::current().or_else(|| match config.outside_request {
                OutsideRequest::Generate => Some(config.generator.make_correlation_id()),
                OutsideRequest::Omit => None,
            });
            if let Some(id) = id {
                request
                    .headers_mut()
                    .insert(config.header_name.clone(), id.into());
            }
        }
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::convert::Infallible;
    use tower::{ServiceExt, service_fn};

    /// A client that answers with every value of the header it was sent.
    fn echo(
        name: &'static str,
    ) -> impl Service<
        Request<()>,
        Response = Vec<HeaderValue>,
        Error = Infallible,
        Future = impl Send,
    > + Clone {
        service_fn(move |request: Request<()>| async move {
            Ok::<_, Infallible>(request.headers().get_all(name).iter().cloned().collect())
        })
    }

    fn id(s: &str) -> CorrelationId {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn sends_the_current_id() {
        let client = CorrelationClientLayer::new().layer(echo("x-request-id"));
        let sent = id("inbound-1")
            .scope(client.oneshot(Request::new(())))
            .await;
        assert_eq!(sent.unwrap(), ["inbound-1"]);
    }

    #[tokio::test]
    async fn sends_the_id_only_where_the_policy_allows() {
        let client = CorrelationClientLayer::new()
            .propagate_to(PropagateTo::hosts([".internal"]))
            .layer(echo("x-request-id"));
        let to = |uri: &str| Request::get(uri).body(()).unwrap();
        let inside = id("inbound-1")
            .scope(client.clone().oneshot(to("http://users.internal/u/1")))
            .await;
        assert_eq!(inside.unwrap(), ["inbound-1"]);
        let outside = id("inbound-1")
            .scope(client.oneshot(to("https://api.example.com/v1")))
            .await;
        assert!(outside.unwrap().is_empty());
    }

    #[tokio::test]
    async fn never_overwrites_an_explicit_header() {
        let client = CorrelationClientLayer::new().layer(echo("x-request-id"));
        let mut request = Request::new(());
        request
            .headers_mut()
            .insert("x-request-id", HeaderValue::from_static("explicit"));
        let sent = id("inbound-1").scope(client.oneshot(request)).await;
        assert_eq!(sent.unwrap(), ["explicit"]);
    }

    #[tokio::test]
    async fn outside_a_request_generates_or_omits() {
        let client = CorrelationClientLayer::default().layer(echo("x-request-id"));
        let sent = client.oneshot(Request::new(())).await.unwrap();
        assert_eq!(sent.len(), 1);
        let uuid = uuid::Uuid::parse_str(sent[0].to_str().unwrap()).unwrap();
        assert_eq!(uuid.get_version_num(), 7);

        let omit = CorrelationClientLayer::new()
            .outside_request(OutsideRequest::Omit)
            .layer(echo("x-request-id"));
        assert!(omit.oneshot(Request::new(())).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn header_name_and_generator_are_configurable() {
        let client = CorrelationClientLayer::new()
            .header_name(HeaderName::from_static("x-correlation-id"))
            .generator(|| id("made-here"))
            .layer(echo("x-correlation-id"));
        let mut client = client.clone();
        assert!(
            client
                .get_ref()
                .clone()
                .oneshot(Request::new(()))
                .await
                .unwrap()
                .is_empty()
        );
        let _ = client.get_mut();
        let sent = client.into_inner();
        let sent = CorrelationClientLayer::new()
            .header_name(HeaderName::from_static("x-correlation-id"))
            .generator(|| id("made-here"))
            .layer(sent)
            .oneshot(Request::new(()))
            .await
            .unwrap();
        assert_eq!(sent, ["made-here"]);
    }
}
