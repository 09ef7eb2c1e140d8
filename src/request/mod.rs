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

use http::Request;
use tracing::{Level, Span};

#[cfg(feature = "metrics")]
pub(crate) use self::route::DEFAULT_EXCLUDED_PATHS;
#[cfg(any(feature = "trace", feature = "metrics"))]
pub(crate) use self::route::ExcludedPaths;
pub(crate) use self::route::Route;

/// One request as this crate's layers see it while they begin. See the module docs.
///
/// What it holds is read on first use, so that a layer pays only for what it needs: the
/// clock, the route template, an outer layer's correlation ID.
#[derive(Debug, Default)]
pub(crate) struct RequestContext {
    /// When the request arrived, read once: for the access log, the duration histogram and a
    /// gRPC call's deadline.
    start: Option<Instant>,
    /// The route template the request matched, looked up once.
    route: Option<Option<Route>>,
    /// The request's correlation ID: the one an outer layer of this crate chose, or the one a
    /// `begin` here chose; looked up once.
    #[cfg(feature = "correlation")]
    correlation_id: Option<Option<crate::CorrelationId>>,
    /// Whether `correlation_id` was chosen here, so that the log span shows it (an outer
    /// layer's span already does).
    #[cfg(feature = "correlation")]
    chosen_here: bool,
    /// The IDs of the server span started here.
    #[cfg(feature = "trace")]
    trace_ids: Option<(opentelemetry::TraceId, opentelemetry::SpanId)>,
    /// The level of the log span, set by the first capability that wants one.
    log_level: Option<Level>,
    /// The bytes of the request body read so far, when a metrics layer counts them.
    #[cfg(feature = "metrics")]
    request_body_read: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl RequestContext {
    /// The context of a request arriving now.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The request body is counted into `read` as it is read (a metrics layer recording body
    /// sizes wrapped it).
    #[cfg(feature = "metrics")]
    pub(crate) fn count_request_body(
        &mut self,
        read: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) {
        self.request_body_read = Some(read);
    }

    /// The counter of the request body's bytes, for the metrics record.
    #[cfg(feature = "metrics")]
    pub(crate) fn request_body_read(
        &mut self,
    ) -> Option<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        self.request_body_read.take()
    }

    /// When the request arrived: the clock is read the first time this is asked.
    pub(crate) fn start(&mut self) -> Instant {
        *self.start.get_or_insert_with(Instant::now)
    }

    /// The route template the request matched, if a router recorded one.
    pub(crate) fn route<B>(&mut self, request: &Request<B>) -> Option<&Route> {
        self.route
            .get_or_insert_with(|| Route::from_extensions(request.extensions()))
            .as_ref()
    }

    /// The request's correlation ID, if a layer of this crate chose one.
    #[cfg(feature = "correlation")]
    pub(crate) fn correlation_id<B>(
        &mut self,
        request: &Request<B>,
    ) -> Option<&crate::CorrelationId> {
        self.correlation_id
            .get_or_insert_with(|| request.extensions().get::<crate::CorrelationId>().cloned())
            .as_ref()
    }

    /// The correlation ID an outer layer of this crate chose, if any.
    #[cfg(feature = "correlation")]
    pub(crate) fn outer_id<B>(&mut self, request: &Request<B>) -> Option<&crate::CorrelationId> {
        if self.chosen_here {
            return None;
        }
        self.correlation_id(request)
    }

    /// Records the correlation ID chosen here, for the log span and the layers further in.
    #[cfg(feature = "correlation")]
    pub(crate) fn chose_id(&mut self, id: crate::CorrelationId) {
        self.correlation_id = Some(Some(id));
        self.chosen_here = true;
    }

    /// Records the IDs of the server span started here, for the log span.
    #[cfg(feature = "trace")]
    pub(crate) fn started_span(&mut self, span_context: &opentelemetry::trace::SpanContext) {
        self.trace_ids = Some((span_context.trace_id(), span_context.span_id()));
    }

    /// Asks for the request's log span at `level`; the first capability to ask sets the level,
    /// as the outermost of stacked layers opens the span.
    #[cfg(any(feature = "correlation", feature = "trace"))]
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
            .and_then(Option::as_ref)
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
#[cfg(any(feature = "correlation", feature = "trace"))]
pub(crate) fn original_uri<B>(request: &Request<B>) -> &http::Uri {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = request.extensions().get() {
        return uri;
    }
    request.uri()
}
