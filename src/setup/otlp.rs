//! OTLP export shared by traces and logs: where each signal goes (the `OTEL_EXPORTER_OTLP_*`
//! variables, per signal or generic), over which protocol, with which TLS settings, and the
//! exporter wrapper that runs exports on the application's Tokio runtime and makes their
//! failures visible.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use opentelemetry::trace::FutureExt as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

use super::SetupError;

/// How telemetry travels to the collector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// OTLP over gRPC, usually port 4317.
    Grpc,
    /// OTLP over HTTP with protobuf bodies, usually port 4318 and paths `/v1/traces`,
    /// `/v1/logs`. The default of the OpenTelemetry specification.
    #[default]
    HttpProtobuf,
}

impl std::str::FromStr for OtlpProtocol {
    type Err = SetupError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            _ => Err(SetupError::new(
                "OTEL_EXPORTER_OTLP_PROTOCOL must be `grpc` or `http/protobuf`".to_owned(),
            )),
        }
    }
}

/// One OpenTelemetry signal exported over OTLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    /// The signal's part of the variable names: `OTEL_EXPORTER_OTLP_{TRACES}_ENDPOINT`.
    fn upper(self) -> &'static str {
        match self {
            Self::Traces => "TRACES",
            Self::Logs => "LOGS",
            Self::Metrics => "METRICS",
        }
    }

    /// The path appended to a generic HTTP endpoint.
    fn path(self) -> &'static str {
        match self {
            Self::Traces => "v1/traces",
            Self::Logs => "v1/logs",
            Self::Metrics => "v1/metrics",
        }
    }

    /// The batch processor's metric and `otel.component.type` in the SDK's
    /// self-observability conventions (metrics have no batch processor).
    fn processor(self) -> (&'static str, &'static str) {
        match self {
            Self::Logs => ("otel.sdk.processor.log.processed", "batching_log_processor"),
            Self::Traces | Self::Metrics => (
                "otel.sdk.processor.span.processed",
                "batching_span_processor",
            ),
        }
    }

    /// The exporter's metric in the SDK's self-observability conventions.
    fn exported(self) -> &'static str {
        match self {
            Self::Traces => "otel.sdk.exporter.span.exported",
            Self::Logs => "otel.sdk.exporter.log.exported",
            Self::Metrics => "otel.sdk.exporter.metric_data_point.exported",
        }
    }

    /// What one exported item is called in the SDK's self-observability metrics.
    fn item(self) -> &'static str {
        match self {
            Self::Traces => "span",
            Self::Logs => "log",
            Self::Metrics => "metric_data_point",
        }
    }
}

/// Reads a variable, treating an empty value as unset.
pub(crate) fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The per-signal variable if set, else the generic one: `(name, value)`.
fn signal_var(signal: Signal, suffix: &str) -> Option<(String, String)> {
    let specific = format!("OTEL_EXPORTER_OTLP_{}_{suffix}", signal.upper());
    if let Some(value) = var(&specific) {
        return Some((specific, value));
    }
    let generic = format!("OTEL_EXPORTER_OTLP_{suffix}");
    var(&generic).map(|value| (generic, value))
}

/// Where and how to export one signal; `endpoint: None` exports nothing.
#[derive(Clone, Debug, Default)]
pub(crate) struct Export {
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) protocol: OtlpProtocol,
}

/// An endpoint from the environment follows the OTLP rules; one set in code is a base URL,
/// like `OTEL_EXPORTER_OTLP_ENDPOINT`.
#[derive(Clone, Debug)]
pub(crate) enum Endpoint {
    FromEnv,
    Base(String),
}

impl Export {
    /// Reads `OTEL_{SIGNAL}_EXPORTER`, `OTEL_SDK_DISABLED`, the endpoint variables and the
    /// protocol variables of `signal`.
    pub(crate) fn from_env(signal: Signal, warnings: &mut Vec<String>) -> Self {
        let exporter_var = format!("OTEL_{}_EXPORTER", signal.upper());
        // `OTEL_METRICS_EXPORTER` also names `prometheus`: the metrics part reads it.
        let exporter = var(&exporter_var).filter(|_| signal != Signal::Metrics);
        let disabled = match exporter.as_deref().map(str::trim) {
            None | Some("otlp") => false,
            // Log lines always go to standard output; `console` asks for nothing more.
            Some("none") | Some("console") => true,
            Some(other) => {
                warnings.push(format!(
                    "{exporter_var} must be `otlp`, `console` or `none`, not `{other}`"
                ));
                false
            }
        } || var("OTEL_SDK_DISABLED")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let endpoint =
            (!disabled && signal_var(signal, "ENDPOINT").is_some()).then_some(Endpoint::FromEnv);
        let protocol = signal_var(signal, "PROTOCOL")
            .map(|(_, p)| {
                p.parse().unwrap_or_else(|err: SetupError| {
                    warnings.push(err.to_string());
                    OtlpProtocol::default()
                })
            })
            .unwrap_or_default();
        Self { endpoint, protocol }
    }

    /// Exports to the OTLP default endpoint (`http://localhost:4318`, or `:4317` for gRPC)
    /// when no endpoint is configured.
    pub(crate) fn or_default_endpoint(mut self) -> Self {
        if self.endpoint.is_none() {
            let port = match self.protocol {
                OtlpProtocol::Grpc => 4317,
                OtlpProtocol::HttpProtobuf => 4318,
            };
            self.endpoint = Some(Endpoint::Base(format!("http://localhost:{port}")));
        }
        self
    }

    /// The URL the signal goes to, checked: `http://` or `https://` with a host.
    fn url(&self, signal: Signal) -> Result<Option<http::Uri>, SetupError> {
        let (source, url) = match &self.endpoint {
            None => return Ok(None),
            Some(Endpoint::Base(base)) => (
                "the endpoint given in code".to_owned(),
                self.join(base, signal),
            ),
            Some(Endpoint::FromEnv) => {
                let specific = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.upper());
                match var(&specific) {
                    // The per-signal variable is used as it is.
                    Some(url) => (specific, url.trim().to_owned()),
                    None => match var("OTEL_EXPORTER_OTLP_ENDPOINT") {
                        Some(base) => (
                            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
                            self.join(&base, signal),
                        ),
                        None => return Ok(None),
                    },
                }
            }
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|err| SetupError::caused(format!("{source} `{url}` is not a URL"), err))?;
        match (uri.scheme_str(), uri.host()) {
            (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(Some(uri)),
            _ => Err(SetupError::new(format!(
                "{source} `{url}` must be an http:// or https:// URL with a host"
            ))),
        }
    }

    /// A base URL plus the signal's path for OTLP/HTTP; as it is for gRPC.
    fn join(&self, base: &str, signal: Signal) -> String {
        let base = base.trim();
        match self.protocol {
            OtlpProtocol::Grpc => base.to_owned(),
            OtlpProtocol::HttpProtobuf => {
                format!("{}/{}", base.trim_end_matches('/'), signal.path())
            }
        }
    }
}

/// The queue capacity and batch size of a signal's batch processor, from the SDK's variables
/// (`OTEL_BSP_*` for spans, `OTEL_BLRP_*` for logs) or their defaults.
pub(crate) fn queue(signal: Signal) -> (usize, usize) {
    let prefix = match signal {
        Signal::Logs => "OTEL_BLRP",
        Signal::Traces | Signal::Metrics => "OTEL_BSP",
    };
    let read = |name: &str, default: usize| {
        var(&format!("{prefix}_{name}"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    let capacity = read("MAX_QUEUE_SIZE", 2048);
    (capacity, read("MAX_EXPORT_BATCH_SIZE", 512).min(capacity))
}

/// The export timeout of `signal`: `OTEL_EXPORTER_OTLP[_SIGNAL]_TIMEOUT` in milliseconds,
/// default 10 s.
fn timeout(signal: Signal, warnings: &mut Vec<String>) -> Duration {
    const DEFAULT: Duration = Duration::from_secs(10);
    match signal_var(signal, "TIMEOUT") {
        None => DEFAULT,
        Some((name, value)) => match value.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Duration::from_millis(ms),
            _ => {
                warnings.push(format!(
                    "{name} must be a positive number of milliseconds, not `{value}`"
                ));
                DEFAULT
            }
        },
    }
}

/// The TLS files of `signal`, read at setup: a missing or unreadable file fails the setup
/// with its variable's name.
#[derive(Debug, Default)]
struct TlsFiles {
    /// `OTEL_EXPORTER_OTLP[_SIGNAL]_CERTIFICATE`: the CA to trust instead of the system's.
    ca: Option<Vec<u8>>,
    /// `..._CLIENT_CERTIFICATE` and `..._CLIENT_KEY`: the client's identity for mTLS.
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsFiles {
    fn from_env(signal: Signal) -> Result<Self, SetupError> {
        let read = |suffix: &str| -> Result<Option<Vec<u8>>, SetupError> {
            signal_var(signal, suffix)
                .map(|(name, path)| {
                    std::fs::read(path.trim()).map_err(|err| {
                        SetupError::caused(format!("{name}: cannot read `{}`", path.trim()), err)
                    })
                })
                .transpose()
        };
        let ca = read("CERTIFICATE")?;
        let identity = match (read("CLIENT_CERTIFICATE")?, read("CLIENT_KEY")?) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(SetupError::new(
                    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY \
                     must be set together"
                        .to_owned(),
                ));
            }
        };
        Ok(Self { ca, identity })
    }

    /// The rustls configuration of the OTLP/HTTP client: the CA file's certificates, else the
    /// system's roots (the Mozilla roots of `webpki-roots` where the system has none).
    fn rustls(&self) -> Result<rustls::ClientConfig, SetupError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let bad = |what: &str, err: &dyn std::fmt::Display| {
            SetupError::new(format!("OTLP TLS: {what}: {err}"))
        };
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|err| bad("the CA certificate file", &err))?;
                    roots
                        .add(cert)
                        .map_err(|err| bad("the CA certificate file", &err))?;
                }
                if roots.is_empty() {
                    return Err(SetupError::new(
                        "OTLP TLS: the CA certificate file holds no PEM certificate".to_owned(),
                    ));
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
                if roots.is_empty() {
                    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| bad("protocol versions", &err))?
            .with_root_certificates(roots);
        match &self.identity {
            None => Ok(builder.with_no_client_auth()),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|err| bad("the client certificate file", &err))?;
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|err| bad("the client key file", &err))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|err| bad("the client certificate", &err))
            }
        }
    }

    /// The tonic TLS configuration of the OTLP/gRPC channel, from the same files.
    fn tonic(&self) -> tonic::transport::ClientTlsConfig {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        let config = match &self.ca {
            Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
            None => ClientTlsConfig::new().with_enabled_roots(),
        };
        match &self.identity {
            Some((cert, key)) => config.identity(Identity::from_pem(cert, key)),
            None => config,
        }
    }
}

/// The checked pieces of one signal's exporter, before it is built.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) signal: Signal,
    pub(crate) url: http::Uri,
    pub(crate) protocol: OtlpProtocol,
    timeout: Duration,
    /// For an `https://` endpoint: the files, and the rustls configuration made from them once.
    tls: Option<Tls>,
}

/// The TLS settings of an `https://` target.
#[derive(Debug)]
struct Tls {
    files: TlsFiles,
    rustls: rustls::ClientConfig,
}

impl Target {
    /// `None` when the signal is not exported; an error for a bad URL or TLS file.
    pub(crate) fn resolve(
        signal: Signal,
        export: &Export,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Self>, SetupError> {
        let Some(url) = export.url(signal)? else {
            return Ok(None);
        };
        // Values the exporter crate would ignore without a word.
        if let Some((name, value)) = signal_var(signal, "COMPRESSION")
            && !matches!(value.trim().to_ascii_lowercase().as_str(), "gzip" | "none")
        {
            warnings.push(format!("{name} must be `gzip` or `none`, not `{value}`"));
        }
        if signal == Signal::Metrics
            && let Some(value) = var("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
            && !matches!(
                value.trim().to_ascii_lowercase().as_str(),
                "cumulative" | "delta" | "lowmemory"
            )
        {
            warnings.push(format!(
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE must be `cumulative`, \
                 `delta` or `lowmemory`, not `{value}`"
            ));
        }
        let tls = match url.scheme_str() {
            Some("https") => {
                let files = TlsFiles::from_env(signal)?;
                // Parsed now, for both transports (tonic would read the files only when it
                // connects), so a file that cannot be used stops the start.
                let rustls = files.rustls()?;
                Some(Tls { files, rustls })
            }
            _ => None,
        };
        Ok(Some(Self {
            signal,
            url,
            protocol: export.protocol,
            timeout: timeout(signal, warnings),
            tls,
        }))
    }

    /// `otel.component.type` of the exporter, per the semantic conventions.
    fn component_type(&self) -> &'static str {
        match (self.signal, self.protocol) {
            (Signal::Traces, OtlpProtocol::Grpc) => "otlp_grpc_span_exporter",
            (Signal::Traces, OtlpProtocol::HttpProtobuf) => "otlp_http_span_exporter",
            (Signal::Logs, OtlpProtocol::Grpc) => "otlp_grpc_log_exporter",
            (Signal::Logs, OtlpProtocol::HttpProtobuf) => "otlp_http_log_exporter",
            (Signal::Metrics, OtlpProtocol::Grpc) => "otlp_grpc_metric_exporter",
            (Signal::Metrics, OtlpProtocol::HttpProtobuf) => "otlp_http_metric_exporter",
        }
    }

    /// Configures an OTLP/gRPC exporter builder: endpoint, timeout, TLS.
    pub(crate) fn tonic<B>(&self, builder: B) -> B
    where
        B: WithExportConfig + WithTonicConfig,
    {
        let builder = builder
            .with_protocol(Protocol::Grpc)
            .with_endpoint(self.url.to_string())
            .with_timeout(self.timeout);
        match &self.tls {
            Some(tls) => builder.with_tls_config(tls.files.tonic()),
            None => builder,
        }
    }

    /// Configures an OTLP/HTTP exporter builder: endpoint, timeout, and a hyper client that
    /// speaks TLS (rustls) to an `https://` endpoint.
    pub(crate) fn http<B>(&self, builder: B) -> B
    where
        B: WithExportConfig + WithHttpConfig,
    {
        let builder = builder
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(self.url.to_string())
            .with_timeout(self.timeout);
        if let Some(tls) = &self.tls {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls.rustls.clone())
                .https_only()
                .enable_http1()
                .build();
            builder.with_http_client(opentelemetry_http::hyper::HyperClient::new(
                connector,
                self.timeout,
                None,
            ))
        } else {
            builder.with_http_client(
                opentelemetry_http::hyper::HyperClient::with_default_connector(self.timeout, None),
            )
        }
    }

    /// The bookkeeping of this target's exports.
    pub(crate) fn health(&self, capacity: usize) -> Arc<ExportHealth> {
        Arc::new(ExportHealth {
            signal: self.signal,
            component_type: self.component_type(),
            url: self.url.to_string(),
            queued: AtomicUsize::new(0),
            capacity,
            warned: Mutex::new(None),
            unreported: AtomicU64::new(0),
            closing: AtomicBool::new(false),
        })
    }
}

/// How often, at most, a failing export is logged.
pub(crate) const WARN_INTERVAL: Duration = Duration::from_secs(60);

/// What the processor and the exporter of one signal know about its exports: the items in
/// the queue, and the failures not yet logged. Counted in the SDK's self-observability metrics
/// (`otel.sdk.processor.{span,log}.processed`, `otel.sdk.exporter.{span,log}.exported`, with
/// `error.type` on a failure) through the `metrics` facade.
#[derive(Debug)]
pub(crate) struct ExportHealth {
    signal: Signal,
    component_type: &'static str,
    url: String,
    /// Items handed to the batch processor and not yet to the exporter.
    queued: AtomicUsize,
    capacity: usize,
    /// When a failure was last logged.
    warned: Mutex<Option<Instant>>,
    /// Failed exports since then.
    unreported: AtomicU64,
    /// Shutting down: the guard reports what fails from now on.
    closing: AtomicBool,
}

impl ExportHealth {
    /// The application is shutting down: failures are counted, and reported once by the
    /// guard's shutdown rather than each by itself.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    /// Makes room for one more item in the queue, or counts it as dropped (`queue_full`).
    pub(crate) fn enqueue(&self) -> bool {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= self.capacity {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.processed(1, Some("queue_full"));
            self.warn(format_args!(
                "the {} queue is full ({} items): dropping telemetry until the exporter catches up",
                self.signal.item(),
                self.capacity
            ));
            return false;
        }
        true
    }

    /// `count` items left the queue for the exporter.
    fn dequeue(&self, count: usize) {
        // Saturating: items the processor got before the accounting began are not counted.
        let _ = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(count))
            });
        self.processed(count as u64, None);
    }

    fn processed(&self, count: u64, error: Option<&'static str>) {
        let (name, component) = self.signal.processor();
        match error {
            None => ::metrics::counter!(name, "otel.component.type" => component).increment(count),
            Some(error) => ::metrics::counter!(
                name, "otel.component.type" => component, "error.type" => error
            )
            .increment(count),
        }
    }

    /// Counts the outcome of one export of `count` items, and logs a failure at most once per
    /// [`WARN_INTERVAL`].
    pub(crate) fn exported(&self, count: usize, result: &OTelSdkResult) {
        let name = self.signal.exported();
        match result {
            Ok(()) => {
                ::metrics::counter!(name, "otel.component.type" => self.component_type)
                    .increment(count as u64);
            }
            Err(err) => {
                let error_type = match err {
                    OTelSdkError::Timeout(_) => "timeout",
                    OTelSdkError::AlreadyShutdown => "shutdown",
                    OTelSdkError::InternalFailure(_) => "export_failed",
                };
                ::metrics::counter!(
                    name, "otel.component.type" => self.component_type, "error.type" => error_type
                )
                .increment(count as u64);
                if self.closing.load(Ordering::Relaxed) {
                    return;
                }
                self.warn(format_args!(
                    "exporting {count} {}(s) to {} failed: {err}",
                    self.signal.item(),
                    self.url
                ));
            }
        }
    }

    /// Logs `message` unless a warning was logged less than [`WARN_INTERVAL`] ago, in which
    /// case it is counted and the count goes with the next warning.
    fn warn(&self, message: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        let mut warned = match self.warned.lock() {
            Ok(warned) => warned,
            Err(poisoned) => poisoned.into_inner(),
        };
        if warned.is_some_and(|at| now.duration_since(at) < WARN_INTERVAL) {
            self.unreported.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *warned = Some(now);
        drop(warned);
        let unreported = self.unreported.swap(0, Ordering::Relaxed);
        tracing::warn!(
            target: "tower_telemetry::setup",
            unreported,
            "{message} (telemetry export problems are logged at most once a minute; \
             `unreported` counts the ones since the last warning)"
        );
    }
}

/// Runs an exporter's exports on the Tokio runtime that was current at setup, and reports
/// their outcome to the signal's [`ExportHealth`].
///
/// The SDK's batch processors export from their own threads, outside any runtime, while the
/// OTLP transports (tonic, hyper) need one for their connections and timers. Each export is
/// spawned onto the runtime as a task and awaited from the batch thread: request handling
/// never waits for it, and when the runtime shuts down first (a collector that never answers
/// at exit) the task is dropped and the export ends with an error instead of a panic.
#[derive(Debug)]
pub(crate) struct OnRuntime<E> {
    pub(crate) inner: Arc<E>,
    pub(crate) handle: tokio::runtime::Handle,
    pub(crate) health: Arc<ExportHealth>,
}

impl<E> OnRuntime<E> {
    pub(crate) fn new(inner: E, handle: tokio::runtime::Handle, health: Arc<ExportHealth>) -> Self {
        Self {
            inner: Arc::new(inner),
            handle,
            health,
        }
    }

    /// Spawns `export` (of `count` items) and reports its outcome.
    pub(crate) fn run<F>(&self, count: usize, export: F) -> Reported
    where
        F: Future<Output = OTelSdkResult> + Send + 'static,
    {
        self.health.dequeue(count);
        // The export's own work (tonic, hyper) must not produce telemetry that would be
        // exported in turn.
        let suppressed = opentelemetry::Context::current().with_telemetry_suppressed();
        Reported {
            task: self.handle.spawn(export.with_context(suppressed)),
            health: Arc::clone(&self.health),
            count,
        }
    }
}

/// The outcome of one spawned export, reported once when it arrives.
pub(crate) struct Reported {
    task: tokio::task::JoinHandle<OTelSdkResult>,
    health: Arc<ExportHealth>,
    count: usize,
}

impl Future for Reported {
    type Output = OTelSdkResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = match std::task::ready!(Pin::new(&mut self.task).poll(cx)) {
            Ok(result) => result,
            Err(err) => Err(OTelSdkError::InternalFailure(format!(
                "the export task ended early: {err}"
            ))),
        };
        self.health.exported(self.count, &result);
        Poll::Ready(result)
    }
}

/// Runs `f` inside the runtime's context (shutdown and flush of the transports).
pub(crate) fn in_runtime<T>(handle: &tokio::runtime::Handle, f: impl FnOnce() -> T) -> T {
    let _entered = handle.enter();
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse_by_their_specification_names() {
        assert_eq!("grpc".parse::<OtlpProtocol>().unwrap(), OtlpProtocol::Grpc);
        assert_eq!(
            " http/protobuf ".parse::<OtlpProtocol>().unwrap(),
            OtlpProtocol::HttpProtobuf
        );
        let err = "http/json".parse::<OtlpProtocol>().unwrap_err();
        assert!(
            err.to_string().contains("`grpc` or `http/protobuf`"),
            "{err}"
        );
    }

    #[test]
    fn a_base_url_gets_the_signal_path_over_http_only() {
        let http = Export {
            endpoint: Some(Endpoint::Base("https://collector.example:4318/".to_owned())),
            protocol: OtlpProtocol::HttpProtobuf,
        };
        assert_eq!(
            http.url(Signal::Traces).unwrap().unwrap().to_string(),
            "https://collector.example:4318/v1/traces"
        );
        assert_eq!(
            http.url(Signal::Logs).unwrap().unwrap().to_string(),
            "https://collector.example:4318/v1/logs"
        );
        let grpc = Export {
            protocol: OtlpProtocol::Grpc,
            ..http
        };
        assert_eq!(
            grpc.url(Signal::Logs).unwrap().unwrap().to_string(),
            "https://collector.example:4318/"
        );
    }

    #[test]
    fn metrics_asked_for_without_an_endpoint_go_to_the_otlp_default() {
        for (protocol, url) in [
            (OtlpProtocol::Grpc, "http://localhost:4317/"),
            (
                OtlpProtocol::HttpProtobuf,
                "http://localhost:4318/v1/metrics",
            ),
        ] {
            let export = Export {
                endpoint: None,
                protocol,
            }
            .or_default_endpoint();
            assert_eq!(
                export.url(Signal::Metrics).unwrap().unwrap().to_string(),
                url
            );
        }
        let configured = Export {
            endpoint: Some(Endpoint::Base("https://c.test".to_owned())),
            protocol: OtlpProtocol::Grpc,
        }
        .or_default_endpoint();
        assert!(
            matches!(configured.endpoint, Some(Endpoint::Base(url)) if url == "https://c.test")
        );
    }

    #[test]
    fn every_export_failure_has_a_low_cardinality_type() {
        let target = Target {
            signal: Signal::Metrics,
            url: "http://127.0.0.1:4318/v1/metrics".parse().unwrap(),
            protocol: OtlpProtocol::HttpProtobuf,
            timeout: Duration::from_secs(1),
            tls: None,
        };
        let health = target.health(0);
        health.exported(3, &Ok(()));
        health.exported(1, &Err(OTelSdkError::AlreadyShutdown));
        health.exported(1, &Err(OTelSdkError::InternalFailure("refused".to_owned())));
        health.close();
        health.exported(1, &Err(OTelSdkError::Timeout(Duration::from_secs(1))));
        assert_eq!(
            health.unreported.load(Ordering::Relaxed),
            1,
            "one warning, one failure counted for the next, none once closing"
        );
    }

    #[test]
    fn an_endpoint_that_is_not_an_http_url_fails_with_its_source() {
        for bad in ["collector:4317", "ftp://collector", "http://", "not a url"] {
            let export = Export {
                endpoint: Some(Endpoint::Base(bad.to_owned())),
                protocol: OtlpProtocol::Grpc,
            };
            let err = export.url(Signal::Traces).unwrap_err().to_string();
            assert!(err.contains("the endpoint given in code"), "{bad}: {err}");
        }
    }

    /// A CA and a client certificate it signed, as PEM: `(ca, client, client key)`.
    fn pem_files() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let client = CertificateParams::new(vec!["client.test".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (
            ca.pem().into_bytes(),
            client.pem().into_bytes(),
            key.serialize_pem().into_bytes(),
        )
    }

    #[test]
    fn tls_files_make_both_transports_configurations() {
        let (ca, cert, key) = pem_files();
        let files = TlsFiles {
            ca: Some(ca),
            identity: Some((cert, key)),
        };
        files.rustls().unwrap();
        let _ = files.tonic();
        // Without files: the system's roots, or the Mozilla ones.
        TlsFiles::default().rustls().unwrap();
        let _ = TlsFiles::default().tonic();
    }

    #[test]
    fn tls_files_that_are_not_pem_fail_with_what_they_are() {
        let (ca, cert, key) = pem_files();
        let no_cert = TlsFiles {
            ca: Some(b"not a certificate".to_vec()),
            identity: None,
        };
        let err = no_cert.rustls().unwrap_err().to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
        let bad_key = TlsFiles {
            ca: Some(ca.clone()),
            identity: Some((cert.clone(), b"not a key".to_vec())),
        };
        let err = bad_key.rustls().unwrap_err().to_string();
        assert!(err.contains("the client key file"), "{err}");
        let wrong_key = TlsFiles {
            ca: Some(ca),
            identity: Some((cert, pem_files().2)),
        };
        let err = wrong_key.rustls().unwrap_err().to_string();
        assert!(err.contains("the client certificate"), "{err}");
        let _ = key;
    }

    #[test]
    fn component_types_follow_the_semantic_conventions() {
        let target = |signal, protocol| Target {
            signal,
            url: "http://127.0.0.1:4318".parse().unwrap(),
            protocol,
            timeout: Duration::from_secs(1),
            tls: None,
        };
        let mut types = Vec::new();
        for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
            for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
                types.push(target(signal, protocol).component_type());
            }
        }
        assert_eq!(
            types,
            [
                "otlp_grpc_span_exporter",
                "otlp_http_span_exporter",
                "otlp_grpc_log_exporter",
                "otlp_http_log_exporter",
                "otlp_grpc_metric_exporter",
                "otlp_http_metric_exporter",
            ]
        );
    }

    #[test]
    fn the_queue_counts_what_it_drops() {
        let target = Target {
            signal: Signal::Traces,
            url: "http://127.0.0.1:4318/v1/traces".parse().unwrap(),
            protocol: OtlpProtocol::HttpProtobuf,
            timeout: Duration::from_secs(1),
            tls: None,
        };
        let health = target.health(2);
        assert!(health.enqueue() && health.enqueue());
        assert!(!health.enqueue(), "the third item does not fit");
        health.dequeue(2);
        assert!(
            health.enqueue(),
            "room again once the exporter took the batch"
        );
        health.dequeue(5);
        assert_eq!(health.queued.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn warnings_come_at_most_once_per_interval() {
        let target = Target {
            signal: Signal::Logs,
            url: "http://127.0.0.1:4318/v1/logs".parse().unwrap(),
            protocol: OtlpProtocol::Grpc,
            timeout: Duration::from_secs(1),
            tls: None,
        };
        let health = target.health(1);
        for _ in 0..3 {
            health.exported(1, &Err(OTelSdkError::Timeout(Duration::from_secs(1))));
        }
        assert_eq!(health.unreported.load(Ordering::Relaxed), 2);
    }
}
