//! [`CorrelationClientLayer`]: the configuration of the client side.

use std::sync::Arc;

use http::HeaderName;
use tower_layer::Layer;

use super::service::{ClientConfig, CorrelationClient, OutsideRequest};
use crate::correlation::X_REQUEST_ID;
use crate::correlation::make::{MakeCorrelationId, UuidV7};
use crate::trust::PropagateTo;

/// Sets the correlation ID header on outbound requests, from the request being handled.
///
/// Wrap any HTTP client that is a `tower::Service<http::Request<B>>` with it: hyper-util's
/// legacy `Client`, a tonic `Channel`, or a client built from your own `ServiceBuilder`. For
/// each outbound request:
///
/// 1. a header the caller set explicitly is left exactly as it is;
/// 2. otherwise the [current](crate::CorrelationId::current) ID, the one of the inbound request being
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
        CorrelationClient::new(inner, Arc::clone(&self.config))
    }
}
