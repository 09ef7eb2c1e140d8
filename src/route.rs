//! Route templates: the bounded name of what a request matched (`/users/{id}`), never its raw
//! path.
//!
//! With the `axum` feature the template comes from axum's `MatchedPath`, which axum puts in the
//! request extensions for layers added with `Router::layer` or `Router::route_layer`. Without a
//! router there is no template and callers fall back to a fixed value.

use http::Extensions;

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
