//! Route templates: the bounded name of what a request matched (`/users/{id}`), never its raw
//! path.
//!
//! With the `axum` feature the template comes from axum's `MatchedPath`, which axum puts in the
//! request extensions for layers added with `Router::layer` or `Router::route_layer`. Without a
//! router there is no template and callers fall back to a fixed value.

#[cfg(any(feature = "trace", feature = "metrics"))]
use std::sync::Arc;

use http::Extensions;

#[cfg(any(feature = "trace", feature = "metrics"))]
/// The paths the metrics and trace layers skip by default: probes, the metrics endpoint and the
/// two methods of the gRPC health protocol, so that they do not skew success rates, latency
/// histograms, in-flight gauges (a Watch stream lasts as long as the client watches) or
/// traces.
pub(crate) const DEFAULT_EXCLUDED_PATHS: [&str; 5] = [
    "/livez",
    "/readyz",
    "/metrics",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
];

/// Request paths a layer leaves alone, matched exactly.
#[cfg(any(feature = "trace", feature = "metrics"))]
#[derive(Clone, Debug)]
pub(crate) struct ExcludedPaths(Arc<[Box<str>]>);

#[cfg(any(feature = "trace", feature = "metrics"))]
impl ExcludedPaths {
    pub(crate) fn new<I, P>(paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<Box<str>>,
    {
        Self(paths.into_iter().map(Into::into).collect())
    }

    pub(crate) fn contains(&self, path: &str) -> bool {
        self.0.iter().any(|excluded| **excluded == *path)
    }
}

#[cfg(any(feature = "trace", feature = "metrics"))]
impl Default for ExcludedPaths {
    fn default() -> Self {
        Self::new(DEFAULT_EXCLUDED_PATHS)
    }
}

/// The route template a request matched, cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    #[cfg(feature = "axum")]
    matched: axum::extract::MatchedPath,
    /// Without a router nothing records a template, so no `Route` can exist.
    #[cfg(not(feature = "axum"))]
    never: std::convert::Infallible,
}

impl Route {
    /// The template of the request whose extensions these are, if a router recorded one.
    #[cfg(feature = "axum")]
    pub(crate) fn from_extensions(extensions: &Extensions) -> Option<Self> {
        extensions
            .get::<axum::extract::MatchedPath>()
            .map(|matched| Self {
                matched: matched.clone(),
            })
    }

    /// The template of the request whose extensions these are, if a router recorded one.
    #[cfg(not(feature = "axum"))]
    pub(crate) fn from_extensions(_extensions: &Extensions) -> Option<Self> {
        None
    }

    pub(crate) fn as_str(&self) -> &str {
        #[cfg(feature = "axum")]
        {
            self.matched.as_str()
        }
        #[cfg(not(feature = "axum"))]
        match self.never {}
    }
}
