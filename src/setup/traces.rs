//! The OpenTelemetry tracer provider: OTLP export configured from `OTEL_*` variables.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use pin_project_lite::pin_project;

use super::SetupError;

/// How spans travel to the collector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// OTLP over gRPC, usually port 4317.
    Grpc,
    /// OTLP over HTTP with protobuf bodies, usually port 4318 and path `/v1/traces`. The
    /// default of the OpenTelemetry specification.
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

/// Where and how to export spans; `endpoint: None` exports nothing.
#[derive(Clone, Debug, Default)]
pub(crate) struct Export {
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) protocol: OtlpProtocol,
}

/// An endpoint from the environment follows the OTLP rules (the generic variable gets
/// `/v1/traces` appended for HTTP); one set in code is used as it is.
#[derive(Clone, Debug)]
pub(crate) enum Endpoint {
    FromEnv,
    Exact(String),
}

impl Export {
    /// Reads `OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT` and
    /// `OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`.
    pub(crate) fn from_env(warnings: &mut Vec<String>) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let disabled = var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim() == "none")
            || var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let endpoint = (!disabled
            && (var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
                || var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()))
        .then_some(Endpoint::FromEnv);
        let protocol = var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .map(|p| {
                p.parse().unwrap_or_else(|err: SetupError| {
                    warnings.push(err.to_string());
                    OtlpProtocol::default()
                })
            })
            .unwrap_or_default();
        Self { endpoint, protocol }
    }
}

/// Builds the tracer provider: always (so spans and log trace IDs exist), exporting only when
/// an endpoint is configured.
pub(crate) fn provider(
    export: &Export,
    service_name: Option<&str>,
) -> Result<SdkTracerProvider, SetupError> {
    let mut resource = Resource::builder();
    // OTEL_SERVICE_NAME, read by the resource builder, wins over the name given in code.
    if std::env::var_os("OTEL_SERVICE_NAME").is_none()
        && let Some(name) = service_name
    {
        resource = resource.with_service_name(name.to_owned());
    }
    // The sampler comes from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, read by the SDK;
    // without them it is parent-based always-on.
    let mut builder = SdkTracerProvider::builder().with_resource(resource.build());
    if let Some(endpoint) = &export.endpoint {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            SetupError::new(
                "exporting over OTLP needs a Tokio runtime: call init() inside one".to_owned(),
            )
        })?;
        let _entered = handle.enter();
        let exporter = match export.protocol {
            OtlpProtocol::Grpc => {
                let builder = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_protocol(Protocol::Grpc);
                match endpoint {
                    Endpoint::FromEnv => builder.build(),
                    Endpoint::Exact(url) => builder.with_endpoint(url.clone()).build(),
                }
            }
            OtlpProtocol::HttpProtobuf => {
                let builder = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary);
                match endpoint {
                    Endpoint::FromEnv => builder.build(),
                    Endpoint::Exact(url) => builder.with_endpoint(url.clone()).build(),
                }
            }
        }
        .map_err(|err| SetupError::new(format!("could not build the OTLP exporter: {err}")))?;
        builder = builder.with_batch_exporter(OnRuntime {
            inner: exporter,
            handle: handle.clone(),
        });
    }
    Ok(builder.build())
}

/// Runs an exporter's work inside the Tokio runtime that was current at setup.
///
/// The SDK's batch processor exports from its own thread, outside any runtime, while the
/// OTLP transports (tonic, hyper) need one to open connections. Entering the runtime's context
/// for each poll lets them register with its I/O driver; the export itself still runs on the
/// batch thread, so request handling never waits for it.
#[derive(Debug)]
struct OnRuntime<E> {
    inner: E,
    handle: tokio::runtime::Handle,
}

impl<E: SpanExporter> SpanExporter for OnRuntime<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        InRuntime {
            handle: self.handle.clone(),
            inner: self.inner.export(batch),
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let _entered = self.handle.enter();
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        let _entered = self.handle.enter();
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

pin_project! {
    struct InRuntime<F> {
        handle: tokio::runtime::Handle,
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.handle.enter();
        this.inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_sdk::trace::InMemorySpanExporter;

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
    fn exporting_outside_a_runtime_is_an_error_not_a_panic() {
        let export = Export {
            endpoint: Some(Endpoint::Exact(
                "http://127.0.0.1:4318/v1/traces".to_owned(),
            )),
            protocol: OtlpProtocol::HttpProtobuf,
        };
        let err = provider(&export, Some("test")).unwrap_err();
        assert!(err.to_string().contains("Tokio runtime"), "{err}");
    }

    #[tokio::test]
    async fn endpoints_from_the_environment_build_both_exporters() {
        // Without the variables set, the exporters take the OTLP defaults; building them does
        // not connect.
        for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
            let export = Export {
                endpoint: Some(Endpoint::FromEnv),
                protocol,
            };
            let provider = provider(&export, None).unwrap();
            drop(provider);
        }
    }

    #[tokio::test]
    async fn the_runtime_wrapper_runs_exports_and_flushes_inside_the_runtime() {
        let inner = InMemorySpanExporter::default();
        let exporter = OnRuntime {
            inner: inner.clone(),
            handle: tokio::runtime::Handle::current(),
        };
        exporter.export(Vec::new()).await.unwrap();
        exporter.force_flush().unwrap();
        exporter
            .shutdown_with_timeout(Duration::from_secs(1))
            .unwrap();
    }
}
