//! The OpenTelemetry tracer provider (OTLP export configured from `OTEL_*` variables), and the
//! bridge that turns the application's own `tracing` spans into OpenTelemetry spans on it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanExporter,
    SpanProcessor,
};
use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, layer::Filter};

use super::SetupError;
use super::otlp::{ExportHealth, OnRuntime, OtlpProtocol, Signal, Target, in_runtime, queue};

/// Builds the tracer provider: always (so spans and log trace IDs exist), exporting only when
/// `target` says where.
pub(crate) fn provider(
    target: Option<&Target>,
    resource: Resource,
    healths: &mut Vec<Arc<ExportHealth>>,
) -> Result<SdkTracerProvider, SetupError> {
    // The sampler comes from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, read by the SDK;
    // without them it is parent-based always-on.
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(target) = target {
        let handle = super::runtime()?;
        let exporter = in_runtime(&handle, || match target.protocol {
            OtlpProtocol::Grpc => target
                .tonic(opentelemetry_otlp::SpanExporter::builder().with_tonic())
                .build(),
            OtlpProtocol::HttpProtobuf => target
                .http(opentelemetry_otlp::SpanExporter::builder().with_http())
                .build(),
        })
        .map_err(|err| {
            SetupError::caused("could not build the OTLP span exporter".to_owned(), err)
        })?;
        let (capacity, batch) = queue(Signal::Traces);
        let health = target.health(capacity);
        healths.push(Arc::clone(&health));
        let processor =
            BatchSpanProcessor::builder(OnRuntime::new(exporter, handle, Arc::clone(&health)))
                // Room for what our own queue accounting lets through while a batch is on its way to
                // the exporter: the SDK's queue never drops, ours counts what it drops.
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_max_queue_size(capacity + batch)
                        .build(),
                )
                .build();
        builder = builder.with_span_processor(Accounted {
            inner: processor,
            health,
        });
    }
    Ok(builder.build())
}

/// The batch span processor behind a queue that counts what it cannot take.
#[derive(Debug)]
struct Accounted {
    inner: BatchSpanProcessor,
    health: Arc<ExportHealth>,
}

impl SpanProcessor for Accounted {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        // The batch processor exports sampled spans only; only they take room in its queue.
        if !span.span_context.is_sampled() || self.health.enqueue() {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: SpanExporter + 'static> SpanExporter for OnRuntime<E> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let inner = Arc::clone(&self.inner);
        self.run(batch.len(), async move { inner.export(batch).await })
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        in_runtime(&self.handle, || self.inner.shutdown_with_timeout(timeout))
    }

    fn force_flush(&self) -> OTelSdkResult {
        in_runtime(&self.handle, || self.inner.force_flush())
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Set before the provider shares the exporter: the exporter is ours alone then.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

/// The filter of the bridge: the directives given (`TRACES_FILTER`, default `info`), never
/// the crate's own `request` span, which carries the IDs for log lines and is not an
/// OpenTelemetry span (the server span is made by the trace layer itself).
pub(crate) fn filter<S>(directives: Option<&str>) -> Result<impl Filter<S> + use<S>, SetupError>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let directives = directives.unwrap_or("info");
    let env = EnvFilter::try_new(directives)
        .map_err(|err| SetupError::caused(format!("invalid trace filter `{directives}`"), err))?;
    Ok(env.and(filter_fn(|metadata| {
        metadata.target() != super::logs::REQUEST_SPAN_TARGET
    })))
}

/// The bridge from the application's `tracing` spans to OpenTelemetry spans on `provider`:
/// a span opened inside a request becomes a child of the request's server span (the trace
/// layer makes that span's context current while the handler runs), and while the span is
/// entered its own context is current, so an outbound call made inside it is its child.
pub(crate) fn bridge<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("tower-telemetry-bridge"))
        // `busy_ns` / `idle_ns` are not semantic-convention attributes and cost two clock
        // reads per poll.
        .with_tracked_inactivity(false)
}

#[cfg(test)]
mod tests {
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    use super::super::otlp::{Endpoint, Export};
    use super::*;

    #[test]
    fn exporting_outside_a_runtime_is_an_error_not_a_panic() {
        let export = Export {
            endpoint: Some(Endpoint::Base("http://127.0.0.1:4318".to_owned())),
            protocol: OtlpProtocol::HttpProtobuf,
        };
        let target = Target::resolve(Signal::Traces, &export, &mut Vec::new())
            .unwrap()
            .unwrap();
        let err =
            provider(Some(&target), Resource::builder().build(), &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("Tokio runtime"), "{err}");
    }

    #[tokio::test]
    async fn both_exporters_build_without_connecting() {
        for (protocol, url) in [
            (OtlpProtocol::Grpc, "http://127.0.0.1:4317"),
            (OtlpProtocol::HttpProtobuf, "http://127.0.0.1:4318"),
            (OtlpProtocol::Grpc, "https://127.0.0.1:4317"),
            (OtlpProtocol::HttpProtobuf, "https://127.0.0.1:4318"),
        ] {
            let export = Export {
                endpoint: Some(Endpoint::Base(url.to_owned())),
                protocol,
            };
            let target = Target::resolve(Signal::Traces, &export, &mut Vec::new())
                .unwrap()
                .unwrap();
            let provider =
                provider(Some(&target), Resource::builder().build(), &mut Vec::new()).unwrap();
            // Nothing queued: the flush passes through our queue to the SDK's and returns.
            let _ = provider.force_flush();
            drop(provider);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_runtime_wrapper_runs_exports_and_flushes_inside_the_runtime() {
        let export = Export {
            endpoint: Some(Endpoint::Base("http://127.0.0.1:4318".to_owned())),
            protocol: OtlpProtocol::HttpProtobuf,
        };
        let target = Target::resolve(Signal::Traces, &export, &mut Vec::new())
            .unwrap()
            .unwrap();
        let inner = InMemorySpanExporter::default();
        let exporter = OnRuntime::new(
            inner.clone(),
            tokio::runtime::Handle::current(),
            target.health(8),
        );
        exporter.export(Vec::new()).await.unwrap();
        exporter.force_flush().unwrap();
        exporter
            .shutdown_with_timeout(Duration::from_secs(1))
            .unwrap();
    }
}
