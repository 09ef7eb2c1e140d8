//! Opt-in, one-call installation of what the layers feed: a `tracing` subscriber for the logs
//! and an OpenTelemetry tracer provider exporting spans over OTLP, both configured from the
//! environment.
//!
//! A library should not install global state, so nothing in this crate calls this module; it is
//! for applications and examples, behind the `setup` feature.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), tower_telemetry::setup::SetupError> {
//! // JSON lines on stdout, filtered by RUST_LOG (default `info`); LOG_FORMAT=text for humans.
//! // Spans go to OTEL_EXPORTER_OTLP_ENDPOINT when it is set, nowhere otherwise.
//! let telemetry = tower_telemetry::setup::Telemetry::from_env()
//!     .service_name("checkout")
//!     .init()?;
//! // ... serve ...
//! telemetry.shutdown()?; // flushes the spans still queued (dropping the guard does too)
//! # Ok(())
//! # }
//! ```
//!
//! # Environment
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `LOG_FORMAT` | `json` or `text` | `json` |
//! | `RUST_LOG` | an `EnvFilter` directive list | `info` |
//! | `OTEL_SERVICE_NAME` | `service.name` of the spans; wins over [`Telemetry::service_name`] | the name given in code, else `unknown_service` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | more resource attributes, `key=value,...` | none |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | where spans go; without either, spans are made (for log trace IDs) but not exported | none |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` | `grpc` or `http/protobuf` | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`, ... | read by `opentelemetry-otlp` | its defaults |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | the sampler, read by the SDK | `parentbased_always_on` |
//! | `OTEL_TRACES_EXPORTER=none`, `OTEL_SDK_DISABLED=true` | export nothing | |
//!
//! Metrics: the Prometheus recorder (`metrics-exporter-prometheus`) becomes the global
//! `metrics` recorder, with Prometheus naming (`http_server_request_duration_seconds`), the
//! semantic conventions' duration buckets for histograms, and an upkeep thread that keeps its
//! memory bounded. Serve [`TelemetryGuard::prometheus`]'s `render()` on `GET /metrics`.
//!
//! An unreadable `LOG_FORMAT` or protocol is not fatal: the default is used and a warning is
//! logged once the subscriber is installed. Spans are exported by a batch processor on its own
//! thread: request handling never waits for the collector.
//!
//! # The JSON format
//!
//! One object per line: `timestamp`, `level`, `target`, the event's own fields (`message`
//! first among them) at the top level, `correlation_id`, `trace_id` and `span_id` at the top
//! level whenever the event happened inside a span that carries them, and `spans`, the list of enclosing spans (root
//! first) with their names and fields. A line logged inside a request behind
//! [`CorrelationLayer`](crate::correlation::CorrelationLayer) reads
//!
//! ```json
//! {"level":"INFO","target":"quickstart","timestamp":"2026-11-22T10:00:00.000000Z","message":"loading user","user.id":42,"correlation_id":"0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e","spans":[{"correlation_id":"0190a5c8-4b7e-7c1a-9f3e-2d4b5a6c7d8e","name":"request"}]}
//! ```
//!
//! so `correlation_id` can be searched like any other top-level key. Span fields stay inside
//! `spans`, where they cannot collide with an event field of the same name. The innermost span
//! that has such a field gives the value, so a background job can open its own span with a
//! `correlation_id` field and get the same treatment.
//!
//! # The text format
//!
//! `tracing-subscriber`'s default human-readable format, where span fields print before the
//! message: `INFO request{correlation_id=0190a5c8-...}: quickstart: loading user user=42`.

mod logs;
mod prometheus;
mod traces;

use std::fmt;

pub use metrics_exporter_prometheus::PrometheusHandle;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use self::traces::OtlpProtocol;
use self::traces::{Endpoint, Export};

/// The log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// One JSON object per line, the request's IDs at the top level. The default.
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
    service_name: Option<String>,
    export: Export,
    prometheus: bool,
    warnings: Vec<String>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("format", &self.format)
            .field("filter", &self.filter)
            .field("service_name", &self.service_name)
            .field("export", &self.export)
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// Reads the configuration from the environment (see the [module docs](self)).
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
        let export = Export::from_env(&mut warnings);
        Self {
            format,
            filter,
            writer: None,
            service_name: None,
            export,
            prometheus: true,
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
    /// Whatever the filter, the directive `tower_telemetry::request=trace` is added: it enables
    /// the request span that carries `correlation_id`, `trace_id` and `span_id` (and no log
    /// line of its own), so that `RUST_LOG=warn` still gets them on every warning.
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

    /// Sets `service.name`, unless `OTEL_SERVICE_NAME` is set.
    ///
    /// Defaults to `unknown_service`, as the SDK has it.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Exports spans to this endpoint, used as it is (for HTTP, the full URL, usually ending in
    /// `/v1/traces`), whatever the environment says.
    ///
    /// Defaults to the `OTEL_EXPORTER_OTLP_*ENDPOINT` variables, else no export.
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.export.endpoint = Some(Endpoint::Exact(endpoint.into()));
        self
    }

    /// Sets the OTLP transport, whatever the environment says.
    ///
    /// Defaults to the `OTEL_EXPORTER_OTLP_*PROTOCOL` variables, else
    /// [`OtlpProtocol::HttpProtobuf`].
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.export.protocol = protocol;
        self
    }

    /// Sets whether to install the Prometheus recorder as the global `metrics` recorder.
    ///
    /// Defaults to `true`.
    pub fn prometheus(mut self, install: bool) -> Self {
        self.prometheus = install;
        self
    }

    /// Installs the subscriber as the process-wide default, the tracer provider as the global
    /// one (which `TraceLayer::new()` and `TraceClientLayer::new()` use), and the Prometheus
    /// recorder as the global `metrics` recorder (render it with
    /// [`TelemetryGuard::prometheus`]).
    ///
    /// Call it inside a Tokio runtime when spans are exported, and before building the layers.
    /// Fails when the filter does not parse, when the exporter cannot be built, or when a
    /// global subscriber or recorder is already installed.
    pub fn init(self) -> Result<TelemetryGuard, SetupError> {
        let filter = logs::filter(self.filter.as_deref())?;
        let provider = traces::provider(&self.export, self.service_name.as_deref())?;
        let prometheus = self.prometheus.then(prometheus::install).transpose()?;
        tracing_subscriber::Registry::default()
            .with(logs::layers(self.format, self.writer))
            .with(filter)
            .try_init()
            .map_err(|err| SetupError::new(format!("could not install the subscriber: {err}")))?;
        opentelemetry::global::set_tracer_provider(provider.clone());
        for warning in self.warnings {
            tracing::warn!(target: "tower_telemetry::setup", "{warning}; using the default");
        }
        let (prometheus, upkeep) = prometheus.unzip();
        Ok(TelemetryGuard {
            provider: Some(provider),
            prometheus,
            _upkeep: upkeep,
        })
    }
}

/// Keeps the tracer provider alive; shutting it down (or dropping it) flushes the spans still
/// queued for export.
#[derive(Debug)]
#[must_use = "dropping the guard shuts the tracer provider down"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    prometheus: Option<PrometheusHandle>,
    _upkeep: Option<prometheus::Upkeep>,
}

impl TelemetryGuard {
    /// The tracer provider, to build layers with a concrete tracer:
    /// `TraceLayer::with_tracer(guard.tracer_provider().tracer("..."))`.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }

    /// The Prometheus recorder's handle: `render()` gives the text exposition to serve on
    /// `GET /metrics`. `None` when [`Telemetry::prometheus`] turned it off.
    pub fn prometheus(&self) -> Option<&PrometheusHandle> {
        self.prometheus.as_ref()
    }

    /// Flushes the queued spans and shuts the exporter down.
    pub fn shutdown(mut self) -> Result<(), SetupError> {
        self.shutdown_provider()
    }

    fn shutdown_provider(&mut self) -> Result<(), SetupError> {
        match self.provider.take() {
            Some(provider) => provider
                .shutdown()
                .map_err(|err| SetupError::new(format!("could not flush the spans: {err}"))),
            None => Ok(()),
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(err) = self.shutdown_provider() {
            tracing::warn!(target: "tower_telemetry::setup", error = %err, "shutting telemetry down");
        }
    }
}

/// Why [`Telemetry::init`] failed.
#[derive(Debug)]
pub struct SetupError {
    message: String,
}

impl SetupError {
    pub(crate) fn new(message: String) -> Self {
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
