//! The log side of the setup: the subscriber's layers, and the fields lifted to the top level of
//! JSON lines.

use std::fmt;
use std::io::IsTerminal;

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use super::{LogFormat, SetupError};

/// The filter: the directives given, plus the one that keeps the request span.
pub(crate) fn filter(directives: Option<&str>) -> Result<EnvFilter, SetupError> {
    let directives = directives.unwrap_or("info");
    // The request span carries `correlation_id`, `trace_id` and `span_id`; keep it whatever
    // level the lines are filtered at, so that a `warn` filter still gets them on its warnings.
    EnvFilter::try_new(format!("{REQUEST_SPAN_DIRECTIVE},{directives}"))
        .map_err(|err| SetupError::new(format!("invalid log filter `{directives}`: {err}")))
}

/// The formatting layers for `format`, writing to `writer` (standard output when `None`).
pub(crate) fn layers(
    format: LogFormat,
    writer: Option<BoxMakeWriter>,
) -> Vec<Box<dyn Layer<Registry> + Send + Sync>> {
    let (writer, ansi) = match writer {
        Some(writer) => (writer, false),
        None => (
            BoxMakeWriter::new(std::io::stdout),
            std::io::stdout().is_terminal(),
        ),
    };
    match format {
        LogFormat::Json => {
            let mut json = json_subscriber::fmt::layer()
                .with_writer(writer)
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(true);
            for (index, key) in LIFTED.iter().enumerate() {
                json.inner_layer_mut()
                    .add_from_span(*key, move |span| LiftFields::find(span, index));
            }
            vec![LiftFields.boxed(), json.boxed()]
        }
        LogFormat::Text => vec![
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(ansi)
                .boxed(),
        ],
    }
}

/// Enables the `request` span of `CorrelationLayer` at any level, and nothing else.
const REQUEST_SPAN_DIRECTIVE: &str = "tower_telemetry::request=trace";

/// The span fields lifted to the top level of JSON lines.
const LIFTED: [&str; 3] = ["correlation_id", "trace_id", "span_id"];

/// The values of the [`LIFTED`] fields a span recorded, kept in its extensions for the JSON
/// formatter.
#[derive(Clone, Debug, Default)]
struct LiftedFields([Option<String>; LIFTED.len()]);

/// Records the [`LIFTED`] fields of each span in the span's extensions, when it is created and
/// whenever it records them later.
struct LiftFields;

impl LiftFields {
    fn store<S>(id: &Id, values: impl FnOnce(&mut LiftedFields), ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        let mut fields = extensions.remove::<LiftedFields>().unwrap_or_default();
        values(&mut fields);
        if fields.0.iter().any(Option::is_some) {
            extensions.insert(fields);
        }
    }

    /// The value of lifted field `index` in the innermost span of `span`'s scope that has one.
    fn find<S>(span: &tracing_subscriber::registry::SpanRef<'_, S>, index: usize) -> Option<String>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        span.scope().find_map(|s| {
            s.extensions()
                .get::<LiftedFields>()
                .and_then(|fields| fields.0[index].clone())
        })
    }
}

impl<S> Layer<S> for LiftFields
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        Self::store(id, |fields| attrs.record(fields), &ctx);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        Self::store(id, |fields| values.record(fields), &ctx);
    }
}

impl Visit for LiftedFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(index) = LIFTED.iter().position(|name| *name == field.name()) {
            self.0[index] = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(index) = LIFTED.iter().position(|name| *name == field.name()) {
            // `field = %value` arrives here; its `Debug` is the value's `Display`.
            self.0[index] = Some(format!("{value:?}"));
        }
    }
}
