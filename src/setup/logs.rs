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
        .map_err(|err| SetupError::caused(format!("invalid log filter `{directives}`"), err))
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

/// The target of the crate's `request` span (the layers' `request::log_span::TARGET`, which this
/// feature may be built without).
pub(crate) const REQUEST_SPAN_TARGET: &str = "tower_telemetry::request";

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

/// Builds the logger provider that sends log records over OTLP to `target`, on `resource`.
///
/// Each record carries the trace and span IDs of the OpenTelemetry context current where it
/// was logged (the SDK reads it: the server span, or the innermost bridged span), and the
/// request's correlation ID as the `tower_telemetry.correlation_id` attribute.
pub(crate) fn otlp_provider(
    target: &super::otlp::Target,
    resource: opentelemetry_sdk::Resource,
    healths: &mut Vec<std::sync::Arc<super::otlp::ExportHealth>>,
) -> Result<opentelemetry_sdk::logs::SdkLoggerProvider, SetupError> {
    use super::otlp::{OtlpProtocol, in_runtime};
    use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, SdkLoggerProvider};

    let handle = super::runtime()?;
    let exporter = in_runtime(&handle, || match target.protocol {
        OtlpProtocol::Grpc => target
            .tonic(opentelemetry_otlp::LogExporter::builder().with_tonic())
            .build(),
        OtlpProtocol::HttpProtobuf => target
            .http(opentelemetry_otlp::LogExporter::builder().with_http())
            .build(),
    })
    .map_err(|err| SetupError::caused("could not build the OTLP log exporter".to_owned(), err))?;
    let (capacity, batch) = super::otlp::queue(super::otlp::Signal::Logs);
    let health = target.health(capacity);
    healths.push(std::sync::Arc::clone(&health));
    let processor = BatchLogProcessor::builder(super::otlp::OnRuntime::new(
        exporter,
        handle,
        std::sync::Arc::clone(&health),
    ))
    .with_batch_config(
        BatchConfigBuilder::default()
            .with_max_queue_size(capacity + batch)
            .build(),
    )
    .build();
    Ok(SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_log_processor(Accounted {
            inner: processor,
            health,
        })
        .build())
}

/// The batch log processor behind a queue that counts what it cannot take, adding the
/// correlation ID of the request being handled to each record.
#[derive(Debug)]
struct Accounted {
    inner: opentelemetry_sdk::logs::BatchLogProcessor,
    health: std::sync::Arc<super::otlp::ExportHealth>,
}

impl opentelemetry_sdk::logs::LogProcessor for Accounted {
    fn emit(
        &self,
        record: &mut opentelemetry_sdk::logs::SdkLogRecord,
        scope: &opentelemetry::InstrumentationScope,
    ) {
        if !self.health.enqueue() {
            return;
        }
        #[cfg(feature = "correlation")]
        if let Some(id) = crate::correlation::CorrelationId::current() {
            use opentelemetry::logs::LogRecord as _;
            record.add_attribute(
                crate::correlation::CORRELATION_ID_ATTRIBUTE,
                id.as_str().to_owned(),
            );
        }
        self.inner.emit(record, scope);
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E> opentelemetry_sdk::logs::LogExporter for super::otlp::OnRuntime<E>
where
    E: opentelemetry_sdk::logs::LogExporter + 'static,
{
    fn export(
        &self,
        batch: opentelemetry_sdk::logs::LogBatch<'_>,
    ) -> impl std::future::Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        use opentelemetry_sdk::logs::LogBatch;
        // The batch borrows the processor's buffer; the spawned export owns a copy.
        let owned: Vec<_> = batch
            .iter()
            .map(|(record, scope)| (record.clone(), scope.clone()))
            .collect();
        let inner = std::sync::Arc::clone(&self.inner);
        self.run(owned.len(), async move {
            let borrowed: Vec<_> = owned
                .iter()
                .map(|(record, scope)| (record, scope))
                .collect();
            inner.export(LogBatch::new(&borrowed)).await
        })
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        super::otlp::in_runtime(&self.handle, || self.inner.shutdown_with_timeout(timeout))
    }

    fn event_enabled(
        &self,
        level: opentelemetry::logs::Severity,
        target: &str,
        name: Option<&str>,
    ) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        if let Some(inner) = std::sync::Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::otlp::{Endpoint, Export, OtlpProtocol, Signal, Target};
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_log_pipeline_builds_and_flushes_over_both_protocols() {
        for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
            let export = Export {
                endpoint: Some(Endpoint::Base("http://127.0.0.1:9".to_owned())),
                protocol,
            };
            let target = Target::resolve(Signal::Logs, &export, &mut Vec::new())
                .unwrap()
                .unwrap();
            let mut healths = Vec::new();
            let provider = otlp_provider(
                &target,
                opentelemetry_sdk::Resource::builder().build(),
                &mut healths,
            )
            .unwrap();
            assert_eq!(healths.len(), 1);
            let _ = provider.force_flush();
            let _ = provider.shutdown();
        }
    }
}
