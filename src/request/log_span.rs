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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn the_span_opens_at_the_level_asked_for() {
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
                let span = open_with(level, Some(&"req-1"), None);
                assert_eq!(span.metadata().map(|m| *m.level()), Some(level));
            }
        });
    }

    #[test]
    fn a_layer_further_in_records_into_the_span_an_outer_one_opened() {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_span_list(true)
            .with_writer(move || Writer(Arc::clone(&writer)))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            // A trace layer outside opens the span; a correlation layer inside adds its ID.
            let outer = open_with(Level::INFO, None, Some((&"trace-1", &"span-1")));
            let _entered = outer.enter();
            let inner = open_with(Level::INFO, Some(&"req-1"), None);
            assert_eq!(inner.id(), outer.id(), "one span, not two");
            tracing::info!("inside");
        });
        std::io::Write::flush(&mut Writer(Arc::clone(&buffer))).unwrap();
        let output = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        for field in [
            r#""correlation_id":"req-1""#,
            r#""trace_id":"trace-1""#,
            r#""span_id":"span-1""#,
        ] {
            assert!(output.contains(field), "{field} in {output}");
        }
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
