//! [`CorrelationLayer`]: configuration of the server side.

use std::sync::Arc;

use http::HeaderName;
use tower_layer::Layer;
use tracing::Level;

use super::make::{MakeCorrelationId, UuidV7};
use super::part::Config;
use super::service::Correlation;
use super::{DEFAULT_MAX_LEN, X_REQUEST_ID};
use crate::trust::TrustPolicy;

/// Gives every request a correlation ID: accepts a valid inbound one or makes a new one, makes it
/// current for the handler, puts it on a `tracing` span, echoes it in the response and writes
/// an access-log event when the response body ends.
///
/// The zero-configuration form is `CorrelationLayer::new()` (or `CorrelationLayer::default()`);
/// every setter returns the layer, so the configured form is a chain of calls. See the
/// [module docs](super) for the behaviour in full.
///
/// ```
/// use http::{HeaderName, Request, Response};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_telemetry::correlation::CorrelationLayer;
/// use tower_telemetry::trust::TrustPolicy;
/// use tracing::Level;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = CorrelationLayer::new()
///     .header_name(HeaderName::from_static("x-correlation-id"))
///     .also_accept(HeaderName::from_static("x-request-id"))
///     .max_len(64)
///     .trust(TrustPolicy::when(|caller| caller.headers().contains_key("x-internal-hop")))
///     .access_log(Some(Level::DEBUG));
/// let service = ServiceBuilder::new().layer(layer).service_fn(|_: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::new()))
/// });
/// // An internal hop's ID, from the older header name, echoed in the main one.
/// let request = Request::get("/")
///     .header("x-request-id", "order-7")
///     .header("x-internal-hop", "1")
///     .body(())
///     .unwrap();
/// let inside = service.clone().oneshot(request).await.unwrap();
/// assert_eq!(inside.headers()["x-correlation-id"], "order-7");
/// // Anyone else's is replaced by a new one.
/// let request = Request::get("/").header("x-request-id", "order-7").body(()).unwrap();
/// let outside = service.oneshot(request).await.unwrap();
/// assert_ne!(outside.headers()["x-correlation-id"], "order-7");
/// # }
/// ```
#[derive(Debug)]
#[must_use]
pub struct CorrelationLayer<M = UuidV7> {
    pub(crate) config: Arc<Config<M>>,
}

impl<M> Clone for CorrelationLayer<M> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
        }
    }
}

impl CorrelationLayer {
    /// The layer with its defaults: header `x-request-id`, valid inbound IDs accepted, UUID v7
    /// for new ones, IDs of at most 128 bytes, the span at `INFO` and the access log at `INFO`.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                header_names: vec![X_REQUEST_ID],
                max_len: DEFAULT_MAX_LEN,
                trust: TrustPolicy::everyone(),
                generator: UuidV7,
                span_level: Level::INFO,
                access_log: Some(Level::INFO),
                record_path: true,
            }),
        }
    }
}

impl Default for CorrelationLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Clone> CorrelationLayer<M> {
    fn map(self, f: impl FnOnce(&mut Config<M>)) -> Self {
        let mut config = Arc::unwrap_or_clone(self.config);
        f(&mut config);
        Self {
            config: Arc::new(config),
        }
    }

    /// Sets the header the ID is read from and echoed in. Names added with
    /// [`also_accept`](Self::also_accept) are kept.
    ///
    /// Defaults to `x-request-id`.
    pub fn header_name(self, name: HeaderName) -> Self {
        self.map(|c| c.header_names[0] = name)
    }

    /// Also reads the ID from `name` when the main header is absent (for example
    /// `x-correlation-id` from older clients). Names are tried in the order they were added;
    /// the response always carries the main header.
    ///
    /// Defaults to no other names.
    pub fn also_accept(self, name: HeaderName) -> Self {
        self.map(|c| {
            if !c.header_names.contains(&name) {
                c.header_names.push(name);
            }
        })
    }

    /// Sets the longest inbound ID accepted, in bytes; longer ones are replaced. Values are
    /// clamped to `1..=`[`CorrelationId::MAX_LEN`](super::CorrelationId::MAX_LEN).
    ///
    /// Defaults to 128.
    pub fn max_len(self, max_len: usize) -> Self {
        self.map(|c| c.max_len = max_len.clamp(1, super::CorrelationId::MAX_LEN))
    }

    /// Sets whose inbound IDs are accepted at all; an untrusted caller's ID is replaced by a
    /// new one, as if none had been sent.
    ///
    /// Defaults to [`TrustPolicy::everyone`].
    pub fn trust(self, trust: TrustPolicy) -> Self {
        self.map(|c| c.trust = trust)
    }

    /// Sets the level of the `request` span (target `tower_telemetry::request`) that carries
    /// `correlation_id` to every log event of the request.
    ///
    /// Events are tagged only while the span is enabled, so a filter that keeps just warnings
    /// must still enable the span: add the directive `tower_telemetry::request=trace` (the
    /// [`setup`](crate#feature-flags) helper adds it for you). The directive enables this span
    /// and nothing else.
    ///
    /// Defaults to `INFO`.
    pub fn span_level(self, level: Level) -> Self {
        self.map(|c| c.span_level = level)
    }

    /// Sets the level of the access-log event written once per request, or turns it off with
    /// `None`.
    ///
    /// Defaults to `Some(Level::INFO)`.
    pub fn access_log(self, level: Option<Level>) -> Self {
        self.map(|c| c.access_log = level)
    }

    /// Sets whether the access log carries `url.path`. Turn it off when paths carry secrets
    /// or personal data: the event keeps `http.route`, the template.
    ///
    /// Defaults to `true`.
    pub fn record_path(self, record_path: bool) -> Self {
        self.map(|c| c.record_path = record_path)
    }

    /// Sets the generator of new IDs.
    ///
    /// Defaults to [`UuidV7`].
    pub fn generator<N: MakeCorrelationId + Clone>(self, generator: N) -> CorrelationLayer<N> {
        let config = Arc::unwrap_or_clone(self.config);
        CorrelationLayer {
            config: Arc::new(Config {
                header_names: config.header_names,
                max_len: config.max_len,
                trust: config.trust,
                generator,
                span_level: config.span_level,
                access_log: config.access_log,
                record_path: config.record_path,
            }),
        }
    }
}

impl<S, M> Layer<S> for CorrelationLayer<M> {
    type Service = Correlation<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        Correlation {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_change_only_their_field() {
        let layer = CorrelationLayer::default()
            .header_name(HeaderName::from_static("x-correlation-id"))
            .also_accept(HeaderName::from_static("x-request-id"))
            .also_accept(HeaderName::from_static("x-request-id"))
            .max_len(0)
            .span_level(Level::ERROR)
            .access_log(None);
        let c = &layer.config;
        assert_eq!(c.header_names, ["x-correlation-id", "x-request-id"]);
        assert_eq!(c.max_len, 1);
        assert_eq!(c.span_level, Level::ERROR);
        assert_eq!(c.access_log, None);
        assert_eq!(CorrelationLayer::new().max_len(5000).config.max_len, 1024);

        let shared = layer.clone();
        let regenerated = layer.generator(|| super::super::CorrelationId::new("x").unwrap());
        assert_eq!(
            regenerated.config.header_names, shared.config.header_names,
            "changing the generator keeps the rest"
        );
    }
}
