//! Opt-in, one-call installation of a `tracing` subscriber that writes the logs this crate's
//! layers enrich.
//!
//! A library should not install global state, so nothing in this crate calls this module; it is
//! for applications and examples, behind the `setup` feature.
//!
//! ```no_run
//! # fn main() -> Result<(), tower_telemetry::setup::SetupError> {
//! // JSON lines on stdout, filtered by RUST_LOG (default `info`); LOG_FORMAT=text for humans.
//! tower_telemetry::setup::Telemetry::from_env().init()?;
//! # Ok(())
//! # }
//! ```
//!
//! # The JSON format
//!
//! One object per line: `timestamp`, `level`, `target`, the event's own fields (`message`
//! first among them) at the top level, `correlation_id` at the top level whenever the event
//! happened inside a span that carries one, and `spans`, the list of enclosing spans (root
//! first) with their names and fields. A line logged inside a request behind
//! [`CorrelationLayer`](crate::correlation::CorrelationLayer) reads
//!
//! ```json
//! {"level":"INFO","target":"quickstart","timestamp":"2026-11-22T10:00:00.000000Z","message":"loading user","user.id":42,"correlation_id":"0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e","spans":[{"correlation_id":"0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e","name":"request"}]}
//! ```
//!
//! so `correlation_id` can be searched like any other top-level key. Span fields stay inside
//! `spans`, where they cannot collide with an event field of the same name. The innermost span
//! that has a `correlation_id` field gives the value, so a background job can open its own
//! span with that field and get the same treatment.
//!
//! # The text format
//!
//! `tracing-subscriber`'s default human-readable format, where span fields print before the
//! message: `INFO request{correlation_id=0190a5c8-...}: quickstart: loading user user=42`.

use std::fmt;
use std::io::IsTerminal;

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// One JSON object per line, span fields flattened to the top level. The default.
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

impl std::str::FromStr for LogFormat {
    type Err = SetupError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "text" | "pretty" => Ok(LogFormat::Text),
            _ => Err(SetupError::new(
                "LOG_FORMAT must be `json` or `text`".to_owned(),
            )),
        }
    }
}

/// Builder of the process-wide telemetry setup.
#[must_use]
pub struct Telemetry {
    format: LogFormat,
    filter: Option<String>,
    writer: Option<BoxMakeWriter>,
    warnings: Vec<String>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("format", &self.format)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// Reads the configuration from the environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `LOG_FORMAT` | `json` or `text` | `json` |
    /// | `RUST_LOG` | an `EnvFilter` directive list | `info` |
    ///
    /// Whatever the filter, the directive `tower_telemetry::request=trace` is added: it enables
    /// the request span that carries `correlation_id` (and no log line of its own), so that
    /// `RUST_LOG=warn` still gets the ID on every warning.
    ///
    /// An unreadable `LOG_FORMAT` is not fatal: the default is used and a warning is logged
    /// once the subscriber is installed.
    pub fn from_env() -> Self {
        let mut warnings = Vec::new();
        let format = match std::env::var("LOG_FORMAT") {
            Ok(value) => value.parse().unwrap_or_else(|err: SetupError| {
                warnings.push(err.to_string());
                LogFormat::default()
            }),
            Err(_) => LogFormat::default(),
        };
        let filter = std::env::var("RUST_LOG")
            .ok()
            .filter(|f| !f.trim().is_empty());
        Self {
            format,
            filter,
            writer: None,
            warnings,
        }
    }

    /// Sets the log line format, whatever `LOG_FORMAT` says.
    ///
    /// Defaults to `LOG_FORMAT`, else [`LogFormat::Json`].
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets the filter directives (`EnvFilter` syntax), whatever `RUST_LOG` says.
    ///
    /// Defaults to `RUST_LOG`, else `info`.
    pub fn filter(mut self, directives: impl Into<String>) -> Self {
        self.filter = Some(directives.into());
        self
    }

    /// Sets where log lines go.
    ///
    /// Defaults to standard output.
    pub fn writer<W>(mut self, writer: W) -> Self
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        self.writer = Some(BoxMakeWriter::new(writer));
        self
    }

    /// Installs the subscriber as the process-wide default.
    ///
    /// Fails when the filter does not parse or when a global subscriber is already installed.
    pub fn init(self) -> Result<(), SetupError> {
        let directives = self.filter.as_deref().unwrap_or("info");
        // The request span carries `correlation_id`; keep it whatever level the lines are
        // filtered at, so that a `warn` filter still gets IDs on its warnings.
        let filter = EnvFilter::try_new(format!("{REQUEST_SPAN_DIRECTIVE},{directives}"))
            .map_err(|err| SetupError::new(format!("invalid log filter `{directives}`: {err}")))?;
        let (writer, ansi) = match self.writer {
            Some(writer) => (writer, false),
            None => (
                BoxMakeWriter::new(std::io::stdout),
                std::io::stdout().is_terminal(),
            ),
        };
        let layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = match self.format {
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
        };
        Registry::default()
            .with(layers)
            .with(filter)
            .try_init()
            .map_err(|err| SetupError::new(format!("could not install the subscriber: {err}")))?;
        for warning in self.warnings {
            tracing::warn!(target: "tower_telemetry::setup", "{warning}; using the default");
        }
        Ok(())
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

/// Why [`Telemetry::init`] failed.
#[derive(Debug)]
pub struct SetupError {
    message: String,
}

impl SetupError {
    fn new(message: String) -> Self {
        Self { message }
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SetupError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_parses_known_names_only() {
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!(" TEXT ".parse::<LogFormat>().unwrap(), LogFormat::Text);
        assert_eq!("pretty".parse::<LogFormat>().unwrap(), LogFormat::Text);
        let err = "xml".parse::<LogFormat>().unwrap_err();
        assert_eq!(err.to_string(), "LOG_FORMAT must be `json` or `text`");
    }

    #[test]
    fn a_bad_filter_is_an_error_not_a_panic() {
        let err = Telemetry::from_env()
            .filter("info,[unclosed")
            .writer(std::io::sink)
            .init()
            .unwrap_err();
        assert!(err.to_string().starts_with("invalid log filter"), "{err}");
    }

    #[test]
    fn builder_debug_shows_the_choices() {
        let telemetry = Telemetry::from_env()
            .log_format(LogFormat::Text)
            .filter("debug");
        let text = format!("{telemetry:?}");
        assert!(text.contains("Text") && text.contains("debug"), "{text}");
    }
}
