//! What every layer reads from an inbound request once: [`RequestContext`].
//!
//! A server layer builds one context per request, then runs the `begin` of each capability it
//! carries (correlation, trace, metrics) over the request and that context, outermost first.
//! The context carries what they share (the start instant, the route template, an outer
//! layer's correlation ID) and collects what the request's log span shows (the correlation ID
//! chosen, the trace and span IDs started), so that the span opens once, with every field set,
//! after all of them ran.

pub(crate) mod log_span;
pub(crate) mod route;

use std::time::Instant;

use http::{Request, Uri};
use tracing::{Level, Span};

pub(crate) use self::route::Route;
#[cfg(any(feature = "trace", feature = "metrics"))]
pub(crate) use self::route::{DEFAULT_EXCLUDED_PATHS, ExcludedPaths};

/// One request as this crate's layers see it while they begin. See the module docs.
#[derive(Debug)]
pub(crate) struct RequestContext {
    /// When the request arrived: the clock is read once, for the access log, the duration
    /// histogram and a gRPC call's deadline.
    pub(crate) start: Instant,
    /// The route template the request matched, looked up once.
    pub(crate) route: Option<Route>,
    /// The request's correlation ID: the one an outer layer of this crate chose, or the one a
    /// `begin` here chose.
    #[cfg(feature = "correlation")]
    correlation_id: Option<crate::CorrelationId>,
    /// Whether `correlation_id` was chosen here, so that the log span shows it (an outer
    /// layer's span already does).
    #[cfg(feature = "correlation")]
    chosen_here: bool,
    /// The IDs of the server span started here.
    #[cfg(feature = "trace")]
    trace_ids: Option<(opentelemetry::TraceId, opentelemetry::SpanId)>,
    /// The level of the log span, set by the first capability that wants one.
    log_level: Option<Level>,
}

impl RequestContext {
    /// The context of `request`, arriving now.
    pub(crate) fn new<B>(request: &Request<B>) -> Self {
        Self {
            start: Instant::now(),
            route: Route::from_extensions(request.extensions()),
            #[cfg(feature = "correlation")]
            correlation_id: request.extensions().get::<crate::CorrelationId>().cloned(),
            #[cfg(feature = "correlation")]
            chosen_here: false,
            #[cfg(feature = "trace")]
            trace_ids: None,
            log_level: None,
        }
    }

    /// The request's correlation ID, if a layer of this crate chose one.
    #[cfg(feature = "correlation")]
    pub(crate) fn correlation_id(&self) -> Option<&crate::CorrelationId> {
        self.correlation_id.as_ref()
    }

    /// Whether an outer layer of this crate already chose the correlation ID.
    #[cfg(feature = "correlation")]
    pub(crate) fn has_outer_id(&self) -> bool {
        self.correlation_id.is_some() && !self.chosen_here
    }

    /// Records the correlation ID chosen here, for the log span and the layers further in.
    #[cfg(feature = "correlation")]
    pub(crate) fn chose_id(&mut self, id: crate::CorrelationId) {
        self.correlation_id = Some(id);
        self.chosen_here = true;
    }

    /// Records the IDs of the server span started here, for the log span.
    #[cfg(feature = "trace")]
    pub(crate) fn started_span(&mut self, span_context: &opentelemetry::trace::SpanContext) {
        self.trace_ids = Some((span_context.trace_id(), span_context.span_id()));
    }

    /// Asks for the request's log span at `level`; the first capability to ask sets the level,
    /// as the outermost of stacked layers opens the span.
    pub(crate) fn want_log_span(&mut self, level: Level) {
        self.log_level.get_or_insert(level);
    }

    /// Opens the request's log span with the fields collected (or records them into the span
    /// an outer layer of this crate opened); no span when no capability asked for one.
    pub(crate) fn open_log_span(&self) -> Span {
        let Some(level) = self.log_level else {
            return Span::none();
        };
        #[cfg(feature = "correlation")]
        let id = self
            .correlation_id
            .as_ref()
            .filter(|_| self.chosen_here)
            .map(|id| id as &dyn std::fmt::Display);
        #[cfg(not(feature = "correlation"))]
        let id = None;
        #[cfg(feature = "trace")]
        let trace = self
            .trace_ids
            .as_ref()
            .map(|(t, s)| (t as &dyn std::fmt::Display, s as &dyn std::fmt::Display));
        #[cfg(not(feature = "trace"))]
        let trace = None;
        log_span::open_with(level, id, trace)
    }
}

/// The URI the client sent: axum's `OriginalUri` when a nested router stripped a prefix.
pub(crate) fn original_uri<B>(request: &Request<B>) -> &Uri {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = request.extensions().get() {
        return uri;
    }
    request.uri()
}
