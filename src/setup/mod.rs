//! Opt-in, one-call installation of what the layers feed, all configured from the standard
//! `OTEL_*` variables: a `tracing` subscriber for the log lines, an OpenTelemetry tracer
//! provider, the bridge that exports the application's own `tracing` spans on it, log records
//! and metrics over OTLP, the Prometheus recorder, and OTLP over TLS to managed collectors.
//!
//! A library should not install global state, so nothing in this crate calls this module; it is
//! for applications and examples, behind the `setup` feature. Wiring the same by hand:
//! `examples/manual_wiring.rs`.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), tower_telemetry::setup::SetupError> {
//! // JSON lines on stdout, filtered by RUST_LOG (default `info`); LOG_FORMAT=text for humans.
//! // With OTEL_EXPORTER_OTLP_ENDPOINT set: spans (ours and the application's), log records,
//! // and with OTEL_METRICS_EXPORTER=otlp metrics, to the collector; nowhere otherwise.
//! let telemetry = tower_telemetry::setup::TelemetryBuilder::from_env()
//!     .service_name("checkout")
//!     .init()?;
//! // ... serve ...
//! telemetry.shutdown()?; // flushes what is still queued, 5 s at most per signal
//! # Ok(())
//! # }
//! ```
//!
//! # What goes where
//!
//! | signal | always | with an OTLP endpoint |
//! |---|---|---|
//! | log lines | JSON (or text) on standard output, filtered by `RUST_LOG` | the same records over OTLP, with the trace and span IDs of the current span and `correlation_id`, filtered by `RUST_LOG` (`OTEL_LOGS_EXPORTER=none` keeps them off) |
//! | spans | made (their IDs are on the log lines), not exported | the layers' server and client spans, and the application's `tracing` spans under them through `tracing-opentelemetry`, filtered by `TRACES_FILTER` (default `info`), never the crate's own `request` span |
//! | metrics | the Prometheus recorder: serve [`TelemetryGuard::prometheus`]'s `render_for(accept)` on `GET /metrics` (OpenMetrics with exemplars when the scraper asks for it) | pushed over OTLP when `OTEL_METRICS_EXPORTER` names `otlp` (`otlp,prometheus` for both) |
//!
//! # Environment
//!
//! The main variables; every one honoured, with its default and what a bad value does, is in
//! the observability reference (`docs/operations/observability.md`, section 7).
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `LOG_FORMAT` | `json` or `text` | `json` |
//! | `RUST_LOG` | the `EnvFilter` of log lines and log records | `info` |
//! | `TRACES_FILTER` | the `EnvFilter` of the application's spans | `info` |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | the resource of every signal | `unknown_service`, or the name given in code |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_{TRACES,LOGS,METRICS}_ENDPOINT` | where each signal goes (`http://` or `https://`) | none: no export |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` (and per signal) | `grpc` or `http/protobuf` | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_CERTIFICATE`, `_CLIENT_CERTIFICATE`, `_CLIENT_KEY` (and per signal) | PEM files: the CA to trust, the client identity for mTLS | the system's roots |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `_COMPRESSION`, `_TIMEOUT` (and per signal) | API keys, `gzip`, milliseconds | none, none, 10000 |
//! | `OTEL_METRICS_EXPORTER` | `prometheus`, `otlp`, `none`, or a list | `prometheus` |
//!
//! An unreadable value that has a default (`LOG_FORMAT`, a protocol, a timeout, an exporter
//! name) is not fatal: the default is used and a warning is logged once the subscriber is
//! installed. An endpoint that is not a URL, or a TLS file that cannot be read, fails
//! [`TelemetryBuilder::init`] with the variable's name. Exports run on the runtime, never on the request
//! path; their failures and drops are counted (`otel.sdk.exporter.*.exported`,
//! `otel.sdk.processor.*.processed`) and logged at most once a minute under target
//! `tower_telemetry::setup`.
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
mod metrics;
mod otlp;
mod prometheus;
mod traces;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use self::prometheus::{
    OPENMETRICS_CONTENT_TYPE, PrometheusHandle, PrometheusRecorder, TEXT_CONTENT_TYPE,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use self::otlp::OtlpProtocol;
use self::otlp::{Endpoint, Export, ExportHealth, Signal, Target};

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
pub struct TelemetryBuilder {
    format: LogFormat,
    filter: Option<String>,
    traces_filter: Option<String>,
    bridge: bool,
    writer: Option<BoxMakeWriter>,
    service_name: Option<String>,
    traces: Export,
    logs: Export,
    metrics: Export,
    exporters: metrics::Exporters,
    warnings: Vec<String>,
}

impl fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("format", &self.format)
            .field("filter", &self.filter)
            .field("traces_filter", &self.traces_filter)
            .field("bridge", &self.bridge)
            .field("service_name", &self.service_name)
            .field("traces", &self.traces)
            .field("logs", &self.logs)
            .field("metrics", &self.exporters)
            .finish_non_exhaustive()
    }
}

impl TelemetryBuilder {
    /// Reads the configuration from the environment (see the [module docs](self)).
    pub fn from_env() -> Self {
        let mut warnings = Vec::new();
        let format = match otlp::var("LOG_FORMAT") {
            Some(value) => value.parse().unwrap_or_else(|err: SetupError| {
                warnings.push(err.to_string());
                LogFormat::default()
            }),
            None => LogFormat::default(),
        };
        let traces = Export::from_env(Signal::Traces, &mut warnings);
        let logs = Export::from_env(Signal::Logs, &mut warnings);
        let metrics = Export::from_env(Signal::Metrics, &mut warnings);
        let exporters = metrics::Exporters::from_env(&mut warnings);
        Self {
            format,
            filter: otlp::var("RUST_LOG"),
            traces_filter: otlp::var("TRACES_FILTER"),
            bridge: true,
            writer: None,
            service_name: None,
            traces,
            logs,
            metrics,
            exporters,
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

    /// Sets the filter directives (`EnvFilter` syntax) of the log lines and of the log records
    /// exported over OTLP, whatever `RUST_LOG` says. It does not decide which spans are
    /// exported: see [`TelemetryBuilder::traces_filter`].
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

    /// Sets the filter directives (`EnvFilter` syntax) that choose which of the application's
    /// `tracing` spans become OpenTelemetry spans, whatever `TRACES_FILTER` says.
    ///
    /// Separate from the log filter, so that `RUST_LOG=warn` quiets the console without
    /// pruning the trace tree. The crate's own server and client spans do not go through it:
    /// the layers make them directly.
    ///
    /// Defaults to `TRACES_FILTER`, else `info`.
    pub fn traces_filter(mut self, directives: impl Into<String>) -> Self {
        self.traces_filter = Some(directives.into());
        self
    }

    /// Sets whether the application's `tracing` spans are exported as OpenTelemetry spans
    /// (through `tracing-opentelemetry`, on the same tracer provider), when spans are exported
    /// at all.
    ///
    /// Defaults to `true`.
    pub fn bridge(mut self, bridge: bool) -> Self {
        self.bridge = bridge;
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

    /// Exports spans and log records to this collector, whatever the environment says. The
    /// URL is a base, like `OTEL_EXPORTER_OTLP_ENDPOINT`: for OTLP/HTTP the signal's path
    /// (`/v1/traces`, `/v1/logs`) is appended; for gRPC it is used as it is.
    ///
    /// Defaults to the `OTEL_EXPORTER_OTLP_*ENDPOINT` variables, else no export.
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        self.traces.endpoint = Some(Endpoint::Base(endpoint.clone()));
        self.logs.endpoint = Some(Endpoint::Base(endpoint.clone()));
        self.metrics.endpoint = Some(Endpoint::Base(endpoint));
        self
    }

    /// Sets the OTLP transport of every signal, whatever the environment says.
    ///
    /// Defaults to the `OTEL_EXPORTER_OTLP_*PROTOCOL` variables, else
    /// [`OtlpProtocol::HttpProtobuf`].
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.traces.protocol = protocol;
        self.logs.protocol = protocol;
        self.metrics.protocol = protocol;
        self
    }

    /// Sets whether log records are exported over OTLP when an endpoint is configured (log
    /// lines on standard output stay).
    ///
    /// Defaults to `OTEL_LOGS_EXPORTER` (`otlp`, or `none` / `console` for no export), else
    /// `true`.
    pub fn otlp_logs(mut self, export: bool) -> Self {
        if !export {
            self.logs.endpoint = None;
        } else if self.logs.endpoint.is_none() {
            self.logs.endpoint = self.traces.endpoint.clone();
        }
        self
    }

    /// Sets whether the `metrics` facade's measurements go to the Prometheus recorder, served
    /// by [`TelemetryGuard::prometheus`].
    ///
    /// Defaults to `OTEL_METRICS_EXPORTER` naming `prometheus`, else `true` when that variable
    /// is unset.
    pub fn prometheus(mut self, install: bool) -> Self {
        self.exporters.prometheus = install;
        self
    }

    /// Sets whether the `metrics` facade's measurements are pushed over OTLP to the collector
    /// (the endpoint of the other signals, else the OTLP default `http://localhost:4318`),
    /// beside or instead of the Prometheus recorder.
    ///
    /// Defaults to `OTEL_METRICS_EXPORTER` naming `otlp`, else `false`.
    pub fn otlp_metrics(mut self, export: bool) -> Self {
        self.exporters.otlp = export;
        self
    }

    /// Installs the subscriber as the process-wide default, the tracer provider as the global
    /// one (which `TraceLayer::new()` and `TraceClientLayer::new()` use), and the Prometheus
    /// recorder as the global `metrics` recorder (render it with
    /// [`TelemetryGuard::prometheus`]).
    ///
    /// Call it inside a Tokio runtime when anything is exported, and before building the
    /// layers. Fails, with a message naming the variable, when a filter does not parse, when
    /// an endpoint is not an `http://` or `https://` URL, when a TLS file cannot be read or
    /// parsed, when an exporter cannot be built, or when a global subscriber or recorder is
    /// already installed. Unreadable values that have a default (`LOG_FORMAT`, a protocol, a
    /// timeout) are not fatal: the default is used and a warning logged.
    pub fn init(self) -> Result<TelemetryGuard, SetupError> {
        let mut warnings = self.warnings;
        let resource = resource(self.service_name.as_deref());
        let trace_target = Target::resolve(Signal::Traces, &self.traces, &mut warnings)?;
        let log_target = Target::resolve(Signal::Logs, &self.logs, &mut warnings)?;
        let mut health = Vec::new();
        let provider = traces::provider(trace_target.as_ref(), resource.clone(), &mut health)?;
        let resource_for_metrics = resource.clone();
        let logger = log_target
            .as_ref()
            .map(|target| logs::otlp_provider(target, resource, &mut health))
            .transpose()?;
        let lines = logs::layers(self.format, self.writer)
            .with_filter(logs::filter(self.filter.as_deref())?);
        let bridge = match (&trace_target, self.bridge) {
            (Some(_), true) => Some(
                traces::bridge(&provider)
                    .with_filter(traces::filter(self.traces_filter.as_deref())?),
            ),
            _ => None,
        };
        let appender = match &logger {
            Some(logger) => Some(
                opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(logger)
                    .with_filter(logs::filter(self.filter.as_deref())?),
            ),
            None => None,
        };
        let meters = match self.exporters.otlp {
            true => {
                let export = self.metrics.or_default_endpoint();
                let target = Target::resolve(Signal::Metrics, &export, &mut warnings)?
                    .ok_or_else(|| SetupError::new("no OTLP metrics endpoint".to_owned()))?;
                Some(metrics::otlp_provider(
                    &target,
                    resource_for_metrics,
                    &mut health,
                )?)
            }
            false => None,
        };
        let recorder = self.exporters.prometheus.then(PrometheusRecorder::new);
        let prometheus = recorder.as_ref().map(PrometheusRecorder::handle);
        install_recorder(recorder, meters.as_ref().map(|(meters, _)| meters))?;
        tracing_subscriber::Registry::default()
            .with(lines)
            .with(bridge)
            .with(appender)
            .try_init()
            .map_err(|err| {
                SetupError::caused("could not install the subscriber".to_owned(), err)
            })?;
        opentelemetry::global::set_tracer_provider(provider.clone());
        for warning in warnings {
            tracing::warn!(target: "tower_telemetry::setup", "{warning}; using the default");
        }
        let (meters, abandon) = meters.unzip();
        Ok(TelemetryGuard {
            provider: Some(provider),
            logger,
            meters,
            abandon,
            health,
            prometheus,
        })
    }
}

/// The resource of every signal: `service.name` from `OTEL_SERVICE_NAME`, else the name given
/// in code; `OTEL_RESOURCE_ATTRIBUTES`; the SDK's own attributes.
fn resource(service_name: Option<&str>) -> Resource {
    let mut resource = Resource::builder();
    // OTEL_SERVICE_NAME, read by the resource builder, wins over the name given in code.
    if std::env::var_os("OTEL_SERVICE_NAME").is_none()
        && let Some(name) = service_name
    {
        resource = resource.with_service_name(name.to_owned());
    }
    resource.build()
}

/// Installs the global `metrics` recorder: Prometheus, OTLP, or both through a fan-out.
fn install_recorder(
    prometheus: Option<PrometheusRecorder>,
    meters: Option<&opentelemetry_sdk::metrics::SdkMeterProvider>,
) -> Result<(), SetupError> {
    fn failed<T>(err: ::metrics::SetRecorderError<T>) -> SetupError {
        // The error holds the recorder it refused, which need not be `Send`: keep its text.
        SetupError::new(format!("could not install the metrics recorder: {err}"))
    }
    match (prometheus, meters) {
        (None, None) => Ok(()),
        (Some(prometheus), None) => ::metrics::set_global_recorder(prometheus).map_err(failed),
        (None, Some(meters)) => {
            ::metrics::set_global_recorder(metrics::recorder(meters)).map_err(failed)
        }
        (Some(prometheus), Some(meters)) => ::metrics::set_global_recorder(
            metrics_util::layers::FanoutBuilder::default()
                .add_recorder(prometheus)
                .add_recorder(metrics::recorder(meters))
                .build(),
        )
        .map_err(failed),
    }
}

/// The Tokio runtime the exporters run their connections on.
fn runtime() -> Result<tokio::runtime::Handle, SetupError> {
    tokio::runtime::Handle::try_current().map_err(|_| {
        SetupError::new(
            "exporting over OTLP needs a Tokio runtime: call init() inside one".to_owned(),
        )
    })
}

/// How long [`TelemetryGuard::shutdown`] waits for each signal's last export.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps the providers alive; shutting them down (or dropping the guard) flushes the spans
/// and log records still queued for export.
#[derive(Debug)]
#[must_use = "dropping the guard shuts the tracer provider down"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    logger: Option<SdkLoggerProvider>,
    meters: Option<opentelemetry_sdk::metrics::SdkMeterProvider>,
    abandon: Option<Arc<metrics::Abandon>>,
    health: Vec<Arc<ExportHealth>>,
    prometheus: Option<PrometheusHandle>,
}

impl TelemetryGuard {
    /// The tracer provider, to build layers with a concrete tracer:
    /// `TraceLayer::with_tracer(guard.tracer_provider().tracer("..."))`.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }

    /// The logger provider exporting log records over OTLP, when it is configured.
    pub fn logger_provider(&self) -> Option<&SdkLoggerProvider> {
        self.logger.as_ref()
    }

    /// The Prometheus recorder's handle: `render()` gives the text exposition to serve on
    /// `GET /metrics`. `None` when [`TelemetryBuilder::prometheus`] turned it off.
    pub fn prometheus(&self) -> Option<&PrometheusHandle> {
        self.prometheus.as_ref()
    }

    /// Flushes the queued spans and log records and shuts the exporters down, waiting at most
    /// 5 s for each signal (in parallel). A collector that does not answer in time costs one
    /// error here, never a hang.
    pub fn shutdown(mut self) -> Result<(), SetupError> {
        self.shutdown_providers()
    }

    fn shutdown_providers(&mut self) -> Result<(), SetupError> {
        // Exports that fail from now on are reported by the result below, not each on its own.
        for health in &self.health {
            health.close();
        }
        let (provider, logger, meters) =
            (self.provider.take(), self.logger.take(), self.meters.take());
        let (spans, logs, points) = std::thread::scope(|scope| {
            let logs =
                scope.spawn(|| logger.map(|logger| logger.shutdown_with_timeout(SHUTDOWN_TIMEOUT)));
            let points =
                scope.spawn(|| meters.map(|meters| meters.shutdown_with_timeout(SHUTDOWN_TIMEOUT)));
            let spans = provider.map(|provider| provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT));
            (
                spans,
                logs.join().unwrap_or(None),
                points.join().unwrap_or(None),
            )
        });
        // A last metrics export still waiting lets go now, while the runtime runs.
        if let Some(abandon) = self.abandon.take() {
            abandon.abandon(Duration::from_secs(1));
        }
        let mut problems = Vec::new();
        for (what, result) in [("spans", spans), ("log records", logs), ("metrics", points)] {
            if let Some(Err(err)) = result {
                problems.push(format!(
                    "could not flush the {what} within {SHUTDOWN_TIMEOUT:?}: {err}"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SetupError::new(problems.join("; ")))
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(err) = self.shutdown_providers() {
            tracing::warn!(target: "tower_telemetry::setup", error = %err, "shutting telemetry down");
        }
    }
}

/// Why [`TelemetryBuilder::init`] failed: what could not be done, with the error that caused
/// it as its [`source`](std::error::Error::source) when there is one.
#[derive(Debug)]
pub struct SetupError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl SetupError {
    pub(crate) fn new(message: String) -> Self {
        Self {
            message,
            source: None,
        }
    }

    /// `message` says what failed; `source` why.
    pub(crate) fn caused(
        message: String,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message,
            source: Some(Box::new(source)),
        }
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

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
        let err = TelemetryBuilder::from_env()
            .filter("info,[unclosed")
            .writer(std::io::sink)
            .init()
            .unwrap_err();
        assert!(err.to_string().starts_with("invalid log filter"), "{err}");
        assert!(
            std::error::Error::source(&err).is_some(),
            "the parser's error is the source"
        );
    }

    #[test]
    fn each_setter_sets_its_choice() {
        let telemetry = TelemetryBuilder::from_env()
            .traces_filter("my_app=debug")
            .bridge(false)
            .otlp_endpoint("http://collector.test:4318")
            .otlp_protocol(OtlpProtocol::Grpc)
            .otlp_metrics(true)
            .prometheus(false);
        assert_eq!(telemetry.traces_filter.as_deref(), Some("my_app=debug"));
        assert!(!telemetry.bridge);
        assert!(telemetry.exporters.otlp && !telemetry.exporters.prometheus);
        for export in [&telemetry.traces, &telemetry.logs, &telemetry.metrics] {
            assert_eq!(export.protocol, OtlpProtocol::Grpc);
            assert!(
                matches!(&export.endpoint, Some(Endpoint::Base(url)) if url == "http://collector.test:4318")
            );
        }
        let telemetry = telemetry.otlp_logs(false);
        assert!(telemetry.logs.endpoint.is_none(), "no log export");
        let telemetry = telemetry.otlp_logs(true);
        assert!(
            telemetry.logs.endpoint.is_some(),
            "the traces' endpoint again"
        );
    }

    #[test]
    fn builder_debug_shows_the_choices() {
        let telemetry = TelemetryBuilder::from_env()
            .log_format(LogFormat::Text)
            .filter("debug");
        let text = format!("{telemetry:?}");
        assert!(text.contains("Text") && text.contains("debug"), "{text}");
    }
}
