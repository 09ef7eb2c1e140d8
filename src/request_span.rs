//! The one `tracing` span of a request, shared by this crate's layers.
//!
//! Whichever of our layers runs first opens a span named `request` (target
//! `tower_telemetry::request`) with the fields every log line of the request should carry:
//! `correlation_id`, `trace_id` and `span_id`, empty until a layer records them. A layer further
//! in finds that span current and records into it instead of opening a second one, so stacking
//! layers costs one span, in any order.

use tracing::{Level, Span};

/// The target of the request span. A filter that keeps only warnings should still enable it
/// (`warn,tower_telemetry::request=trace`) so those warnings carry the request's fields.
pub(crate) const TARGET: &str = "tower_telemetry::request";

/// The request span, with the fields this layer knows: recorded into the current span when an
/// outer layer of ours opened it, otherwise set as the span opens at `level`, which spares
/// subscribers the cost of recording each field later (a JSON formatter re-parses its buffer
/// for each record).
pub(crate) fn open_with(
    level: Level,
    correlation_id: Option<&dyn std::fmt::Display>,
    trace: Option<(&dyn std::fmt::Display, &dyn std::fmt::Display)>,
) -> Span {
    use tracing::field::display;
    let current = Span::current();
    if current
        .metadata()
        .is_some_and(|m| m.target() == TARGET && m.name() == "request")
    {
        if let Some(id) = correlation_id {
            current.record("correlation_id", display(id));
        }
        if let Some((trace_id, span_id)) = trace {
            current.record("trace_id", display(trace_id));
            current.record("span_id", display(span_id));
        }
        return current;
    }
    let (trace_id, span_id) = trace.unzip();
    with_level!(level, |LEVEL| tracing::span!(
        target: TARGET,
        LEVEL,
        "request",
        correlation_id = correlation_id.map(display),
        trace_id = trace_id.map(display),
        span_id = span_id.map(display),
    ))
}
