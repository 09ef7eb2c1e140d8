//! The access-log event written once per request.
//!
//! [`RequestLog`] travels in the correlation part from the service call to the response future
//! and then into the response body; the engine ends the part exactly once, inside the
//! request's log span: at the end of the body, when the inner service fails, or as cancelled
//! when the future or body is dropped first (the client went away), which makes a cancelled
//! request visible instead of silent.

use std::time::Instant;

use http::{Method, Request, StatusCode, Uri};
use tracing::Level;

use crate::request::{RequestContext, Route, original_uri};

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
    record_path: bool,
    route: Option<Route>,
    status: Option<StatusCode>,
}

/// The pending record of the access log, when it is on and enabled.
#[derive(Debug)]
pub(crate) struct RequestLog {
    // Boxed: the request's future and body carry this log and are moved several times on the
    // way out; a pointer keeps them small when the access log is off, and costs one allocation
    // next to the formatting of a log line when it is on.
    record: Option<Box<Record>>,
}

/// Whether any subscriber layer may want an access-log event at `level`: `false` only when
/// every filter rules the target out for good (no subscriber, `access_log=off`, a `warn`
/// filter), which the callsite's cached interest says without asking the subscriber.
///
/// Not `tracing::enabled!`: with per-layer filters that leaves this thread's filter state set
/// for the next span or event, and a callsite whose interest is cached as `always` (the
/// request span, opened next) skips its own evaluation and inherits it, so a `warn` console
/// layer lost the request span.
fn may_be_enabled(level: Level) -> bool {
    use tracing::Metadata;
    use tracing::callsite::{DefaultCallsite, Identifier};
    use tracing::field::FieldSet;
    use tracing::metadata::Kind;

    macro_rules! interest {
        ($level:expr) => {{
            static CALLSITE: DefaultCallsite = DefaultCallsite::new(&META);
            static META: Metadata<'static> = Metadata::new(
                "access log",
                TARGET,
                $level,
                Some(file!()),
                Some(line!()),
                Some(module_path!()),
                FieldSet::new(&[], Identifier(&CALLSITE)),
                Kind::EVENT,
            );
            !CALLSITE.interest().is_never() && tracing::level_enabled!($level)
        }};
    }
    match level {
        Level::ERROR => interest!(Level::ERROR),
        Level::WARN => interest!(Level::WARN),
        Level::INFO => interest!(Level::INFO),
        Level::DEBUG => interest!(Level::DEBUG),
        Level::TRACE => interest!(Level::TRACE),
    }
}

impl RequestLog {
    /// Starts the log of `request`; `level` is `None` when the access log is off,
    /// `record_path` whether it carries `url.path`.
    pub(crate) fn start<B>(
        (level, record_path): (Option<Level>, bool),
        request: &Request<B>,
        cx: &mut RequestContext,
    ) -> Self {
        let record = level.filter(|&level| may_be_enabled(level)).map(|level| {
            Box::new(Record {
                level,
                start: cx.start(),
                method: request.method().clone(),
                uri: original_uri(request).clone(),
                record_path,
                route: cx.route(request).cloned(),
                status: None,
            })
        });
        Self { record }
    }

    /// A log that writes nothing: the request is already logged by an outer layer.
    pub(crate) fn none() -> Self {
        Self { record: None }
    }

    pub(crate) fn set_status(&mut self, status: StatusCode) {
        if let Some(record) = &mut self.record {
            record.status = Some(status);
        }
    }

    /// Writes the access-log event, once, inside the current span (the request's).
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
            LEVEL,
            http.request.method = %record.method,
            url.path = record.record_path.then(|| record.uri.path()),
            http.route = route,
            http.response.status_code = status,
            duration_ms,
            outcome,
            "request {outcome}",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriber_that_takes_every_level_may_want_the_access_log_at_each() {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            for level in [
                Level::ERROR,
                Level::WARN,
                Level::INFO,
                Level::DEBUG,
                Level::TRACE,
            ] {
                assert!(may_be_enabled(level), "{level}");
            }
        });
    }
}
