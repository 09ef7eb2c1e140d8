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
//! One object per line. Event fields and the fields of every span the event is in are
//! flattened to the top level, so a line logged inside a request behind
//! [`CorrelationLayer`](crate::correlation::CorrelationLayer) reads
//!
//! ```json
//! {"timestamp":"2026-11-22T10:00:00.000000Z","level":"INFO","message":"loading user","user":42,"correlation_id":"0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e","target":"quickstart"}
//! ```
//!
//! and `correlation_id` can be searched like any other top-level key. Inner spans win over
//! outer ones when two use the same field name.
//!
//! # The text format
//!
//! `tracing-subscriber`'s default human-readable format, where span fields print before the
//! message: `INFO request{correlation_id=0190a5c8-...}: quickstart: loading user user=42`.

use std::fmt;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::Registry;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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
        let filter = EnvFilter::try_new(directives)
            .map_err(|err| SetupError::new(format!("invalid log filter `{directives}`: {err}")))?;
        let (writer, ansi) = match self.writer {
            Some(writer) => (writer, false),
            None => (
                BoxMakeWriter::new(std::io::stdout),
                std::io::stdout().is_terminal(),
            ),
        };
        let format: Box<dyn Layer<Registry> + Send + Sync> = match self.format {
            LogFormat::Json => json_subscriber::fmt::layer()
                .with_writer(writer)
                .flatten_event(true)
                .flatten_span_list_on_top_level(true)
                .with_current_span(false)
                .boxed(),
            LogFormat::Text => tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(ansi)
                .boxed(),
        };
        Registry::default()
            .with(format)
            .with(filter)
            .try_init()
            .map_err(|err| SetupError::new(format!("could not install the subscriber: {err}")))?;
        for warning in self.warnings {
            tracing::warn!(target: "tower_telemetry::setup", "{warning}; using the default");
        }
        Ok(())
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
