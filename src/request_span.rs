//! The one `tracing` span of a request, shared by this crate's layers.
//!
//! Whichever of our layers runs first opens a span named `request` (target
//! `tower_telemetry::request`) with the fields every log line of the request should carry:
//! `correlation_id`, `trace_id` and `span_id`, empty until a layer records them. A layer further
//! in finds that span current and records into it instead of opening a second one, so stacking
//! layers costs one span, in any order.

use tracing::field::Empty;
use tracing::{Level, Span};

/// The target of the request span. A filter that keeps only warnings should still enable it
/// (`warn,tower_telemetry::request=trace`) so those warnings carry the request's fields.
pub(crate) const TARGET: &str = "tower_telemetry::request";

/// The request span to record into: the current one when an outer layer of ours opened it,
/// otherwise a new one at `level`.
pub(crate) fn current_or_open(level: Level) -> Span {
    let current = Span::current();
    if current
        .metadata()
        .is_some_and(|m| m.target() == TARGET && m.name() == "request")
    {
        return current;
    }
    with_level!(level, |LEVEL| tracing::span!(
        target: TARGET,
        LEVEL,
        "request",
        correlation_id = Empty,
        trace_id = Empty,
        span_id = Empty,
    ))
}
