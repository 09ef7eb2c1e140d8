//! The request span and the access-log event written once per request.
//!
//! [`RequestLog`] travels from the service call to the response future and then into the
//! response body, and writes the access-log event exactly once: at the end of the body, when the
//! inner service fails, or when the future or body is dropped first (the client went away). The
//! drop path is what makes a cancelled request visible instead of silent.

use std::time::Instant;

use http::{Method, Request, StatusCode, Uri};
use tracing::{Level, Span};

use crate::route::Route;

/// The target of access-log events, for filters: `RUST_LOG=info,tower_telemetry::access_log=off`.
pub(crate) const TARGET: &str = "tower_telemetry::access_log";

/// How a request ended, as the access log reports it in `outcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The response body reached its end.
    Completed,
    /// The inner service returned an error instead of a response.
    Failed,
    /// The response body returned an error part-way.
    BodyFailed,
    /// The response future or body was dropped before the end (the client went away).
    Cancelled,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::BodyFailed => "body_failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// What the access log needs, captured at the start of the request.
#[derive(Debug)]
struct Record {
    level: Level,
    start: Instant,
    method: Method,
    uri: Uri,
    log_path: bool,
    route: Option<Route>,
    status: Option<StatusCode>,
}

/// The request span plus, when the access log is on and enabled, its pending record.
///
/// Dropping it before [`RequestLog::finish`] writes the `cancelled` event.
#[derive(Debug)]
pub(crate) struct RequestLog {
    span: Span,
    // Boxed: the request's future and body carry this log and are moved several times on the
    // way out; a pointer keeps them small when the access log is off, and costs one allocation
    // next to the formatting of a log line when it is on.
    record: Option<Box<Record>>,
}

impl RequestLog {
    /// Starts the log of `request`; `level` is `None` when the access log is off, `log_path`
    /// whether it carries `url.path`. `start` is when the request arrived, if the caller
    /// already read the clock.
    pub(crate) fn start<B>(
        span: Span,
        (level, log_path): (Option<Level>, bool),
        request: &Request<B>,
        start: Option<Instant>,
    ) -> Self {
        let record = level
            .filter(|&level| with_level!(level, |LEVEL| tracing::enabled!(target: TARGET, LEVEL)))
            .map(|level| {
                Box::new(Record {
                    level,
                    start: start.unwrap_or_else(Instant::now),
                    method: request.method().clone(),
                    uri: original_uri(request),
                    log_path,
                    route: Route::from_extensions(request.extensions()),
                    status: None,
                })
            });
        Self { span, record }
    }

    /// A log that writes nothing: the request is already logged by an outer layer.
    pub(crate) fn none() -> Self {
        Self {
            span: Span::none(),
            record: None,
        }
    }

    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    pub(crate) fn set_status(&mut self, status: StatusCode) {
        if let Some(record) = &mut self.record {
            record.status = Some(status);
        }
    }

    /// Writes the access-log event, once.
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        let Some(record) = self.record.take() else {
            return;
        };
        let duration_ms = record.start.elapsed().as_secs_f64() * 1e3;
        let route = record.route.as_ref().map(Route::as_str);
        let status = record.status.map(|s| s.as_u16());
        let outcome = outcome.as_str();
        with_level!(record.level, |LEVEL| tracing::event!(
            target: TARGET,
            parent: &self.span,
            LEVEL,
            http.request.method = %record.method,
            url.path = record.log_path.then(|| record.uri.path()),
            http.route = route,
            http.response.status_code = status,
            duration_ms,
            outcome,
            "request {outcome}",
        ));
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.finish(Outcome::Cancelled);
    }
}

/// The URI the client sent: axum's `OriginalUri` when a nested router stripped a prefix.
fn original_uri<B>(request: &Request<B>) -> Uri {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = request.extensions().get() {
        return uri.clone();
    }
    request.uri().clone()
}
