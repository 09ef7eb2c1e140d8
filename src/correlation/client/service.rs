//! [`CorrelationClient`]: the client-side service.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderName, Request};
use tower_service::Service;

use crate::correlation::CorrelationId;
use crate::correlation::make::{MakeCorrelationId, UuidV7};
use crate::trust::PropagateTo;

#[derive(Debug, Clone)]
pub(crate) struct ClientConfig<M> {
    pub(crate) header_name: HeaderName,
    pub(crate) outside_request: OutsideRequest,
    pub(crate) generator: M,
    pub(crate) propagate_to: PropagateTo,
}

/// What [`CorrelationClientLayer`](crate::CorrelationClientLayer) sends when no request is being handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutsideRequest {
    /// Make a fresh ID, so the callee's logs still group the call. The default.
    #[default]
    Generate,
    /// Send no header.
    Omit,
}

/// Client middleware that sends the current correlation ID. Made by
/// [`CorrelationClientLayer`](crate::CorrelationClientLayer).
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
    S::Error: 'static,
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

impl<S, M> CorrelationClient<S, M> {
    pub(crate) fn new(inner: S, config: Arc<ClientConfig<M>>) -> Self {
        Self { inner, config }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlation::CorrelationClientLayer;
    use http::HeaderValue;
    use std::convert::Infallible;
    use tower::{ServiceExt, service_fn};
    use tower_layer::Layer;

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
