//! Metrics pushed over OTLP: the `metrics` facade's recorder becomes `metrics-opentelemetry`'s
//! bridge to an OpenTelemetry meter provider, whose periodic reader exports to the collector
//! (ADR 0015).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{
    Aggregation, Instrument, InstrumentKind, PeriodicReader, SdkMeterProvider, Stream, Temporality,
};

use super::SetupError;
use super::otlp::{ExportHealth, OtlpProtocol, Target, in_runtime, var};
use crate::metrics::{BODY_SIZE_BUCKETS, DURATION_BUCKETS};

/// Where the `metrics` facade's measurements go: `OTEL_METRICS_EXPORTER`, a comma-separated
/// list of `prometheus` (the default), `otlp` and `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Exporters {
    pub(crate) prometheus: bool,
    pub(crate) otlp: bool,
}

impl Exporters {
    pub(crate) fn from_env(warnings: &mut Vec<String>) -> Self {
        Self::parse(var("OTEL_METRICS_EXPORTER").as_deref(), warnings)
    }

    fn parse(list: Option<&str>, warnings: &mut Vec<String>) -> Self {
        let Some(list) = list else {
            return Self {
                prometheus: true,
                otlp: false,
            };
        };
        let mut exporters = Self {
            prometheus: false,
            otlp: false,
        };
        let mut none = false;
        for name in list.split(',').map(str::trim) {
            match name {
                "prometheus" => exporters.prometheus = true,
                "otlp" => exporters.otlp = true,
                "none" => none = true,
                other => warnings.push(format!(
                    "OTEL_METRICS_EXPORTER: `{other}` is not `prometheus`, `otlp` or `none`"
                )),
            }
        }
        if !exporters.prometheus && !exporters.otlp && !none {
            // Nothing readable: keep the default rather than lose the metrics.
            exporters.prometheus = true;
        }
        exporters
    }
}

/// Builds the meter provider that exports over OTLP to `target`, with the duration buckets
/// of the Prometheus recorder for every histogram in seconds.
///
/// The export interval is `OTEL_METRIC_EXPORT_INTERVAL` (read by the SDK, default 60 s), the
/// temporality `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (read by the exporter,
/// default cumulative).
pub(crate) fn otlp_provider(
    target: &Target,
    resource: Resource,
    healths: &mut Vec<Arc<ExportHealth>>,
) -> Result<(SdkMeterProvider, Arc<Abandon>), SetupError> {
    let handle = super::runtime()?;
    let exporter = in_runtime(&handle, || match target.protocol {
        OtlpProtocol::Grpc => target
            .tonic(opentelemetry_otlp::MetricExporter::builder().with_tonic())
            .build(),
        OtlpProtocol::HttpProtobuf => target
            .http(opentelemetry_otlp::MetricExporter::builder().with_http())
            .build(),
    })
    .map_err(|err| {
        SetupError::caused("could not build the OTLP metric exporter".to_owned(), err)
    })?;
    let health = target.health(0);
    healths.push(Arc::clone(&health));
    let abandon = Arc::new(Abandon::default());
    let reader = PeriodicReader::builder(OnReaderThread {
        inner: exporter,
        handle,
        health,
        abandon: Arc::clone(&abandon),
    })
    .build();
    let provider = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(reader)
        .with_view(seconds_buckets)
        .build();
    Ok((provider, abandon))
}

/// The view giving every histogram in seconds the semantic conventions' duration buckets (the
/// SDK's default buckets are meant for milliseconds), and every one in bytes the body size
/// buckets.
fn seconds_buckets(instrument: &Instrument) -> Option<Stream> {
    if instrument.kind() != InstrumentKind::Histogram {
        return None;
    }
    let boundaries = match instrument.unit() {
        "s" => DURATION_BUCKETS.to_vec(),
        "By" => BODY_SIZE_BUCKETS.to_vec(),
        _ => return None,
    };
    Stream::builder()
        .with_aggregation(Aggregation::ExplicitBucketHistogram {
            boundaries,
            record_min_max: true,
        })
        .build()
        .ok()
}

/// The `metrics` recorder that records into `provider`'s meters.
pub(crate) fn recorder(
    provider: &SdkMeterProvider,
) -> metrics_opentelemetry::OpenTelemetryRecorder {
    metrics_opentelemetry::OpenTelemetryRecorder::new(
        metrics_opentelemetry::OpenTelemetryMetrics::new(provider.meter("tower-telemetry")),
    )
}

/// Ends an export that is still waiting for its collector when the application stops.
///
/// The SDK's periodic reader exports from its own thread, lending the collected metrics to
/// the export for its whole length, so the export cannot move to the runtime as a task the way
/// span and log exports do: it is polled on the reader thread, inside the runtime's context.
/// Were it still waiting when the runtime shut down, its next poll would panic in the
/// transport. So the guard, when its shutdown times out, abandons it: the export drops its
/// transport future (while the runtime still runs) and fails, and the guard waits for that.
#[derive(Debug, Default)]
pub(crate) struct Abandon {
    abandoned: AtomicBool,
    /// The waker of the export in flight, and whether one is.
    flight: Mutex<(Option<Waker>, bool)>,
    landed: Condvar,
}

impl Abandon {
    /// Abandons the export in flight, if any, and waits (at most `wait`) until it let go.
    pub(crate) fn abandon(&self, wait: Duration) {
        self.abandoned.store(true, Ordering::SeqCst);
        let flight = match self.flight.lock() {
            Ok(flight) => flight,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(waker) = &flight.0 {
            waker.wake_by_ref();
        }
        let _ = self
            .landed
            .wait_timeout_while(flight, wait, |flight| flight.1);
    }

    fn set_flight(&self, waker: Option<Waker>, in_flight: bool) {
        let mut flight = match self.flight.lock() {
            Ok(flight) => flight,
            Err(poisoned) => poisoned.into_inner(),
        };
        *flight = (waker, in_flight);
        if !in_flight {
            self.landed.notify_all();
        }
    }
}

/// The OTLP metric exporter, polled on the reader thread inside the runtime's context,
/// counting its outcomes, abandonable at shutdown.
#[derive(Debug)]
struct OnReaderThread<E> {
    inner: E,
    handle: tokio::runtime::Handle,
    health: Arc<ExportHealth>,
    abandon: Arc<Abandon>,
}

impl<E: PushMetricExporter> PushMetricExporter for OnReaderThread<E> {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        let points = data_points(metrics);
        let inner = (!self.abandon.abandoned.load(Ordering::SeqCst)).then(|| {
            let _entered = self.handle.enter();
            self.inner.export(metrics)
        });
        self.abandon.set_flight(None, inner.is_some());
        Abandonable {
            inner: inner.map(Box::pin),
            handle: &self.handle,
            abandon: &self.abandon,
            health: &self.health,
            points,
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        in_runtime(&self.handle, || self.inner.force_flush())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        in_runtime(&self.handle, || self.inner.shutdown_with_timeout(timeout))
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// One export on the reader thread; see [`Abandon`].
struct Abandonable<'a, F> {
    inner: Option<Pin<Box<F>>>,
    handle: &'a tokio::runtime::Handle,
    abandon: &'a Abandon,
    health: &'a ExportHealth,
    points: usize,
}

impl<F: Future<Output = OTelSdkResult>> Future for Abandonable<'_, F> {
    type Output = OTelSdkResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let result = match &mut this.inner {
            None => Err(OTelSdkError::InternalFailure(
                "the application stopped before the collector answered".to_owned(),
            )),
            Some(_) if this.abandon.abandoned.load(Ordering::SeqCst) => {
                this.inner = None;
                Err(OTelSdkError::InternalFailure(
                    "the application stopped before the collector answered".to_owned(),
                ))
            }
            Some(inner) => {
                this.abandon.set_flight(Some(cx.waker().clone()), true);
                let _entered = this.handle.enter();
                match inner.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => {
                        this.inner = None;
                        result
                    }
                }
            }
        };
        this.abandon.set_flight(None, false);
        this.health.exported(this.points, &result);
        Poll::Ready(result)
    }
}

impl<F> Drop for Abandonable<'_, F> {
    fn drop(&mut self) {
        if self.inner.take().is_some() {
            self.abandon.set_flight(None, false);
        }
    }
}

/// The number of data points in an export, as the SDK's self-observability metrics count.
fn data_points(metrics: &ResourceMetrics) -> usize {
    fn count<T>(data: &MetricData<T>) -> usize {
        match data {
            MetricData::Gauge(gauge) => gauge.data_points().count(),
            MetricData::Sum(sum) => sum.data_points().count(),
            MetricData::Histogram(histogram) => histogram.data_points().count(),
            MetricData::ExponentialHistogram(histogram) => histogram.data_points().count(),
        }
    }
    metrics
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .map(|metric| match metric.data() {
            AggregatedMetrics::F64(data) => count(data),
            AggregatedMetrics::U64(data) => count(data),
            AggregatedMetrics::I64(data) => count(data),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exporter_list_is_read_with_a_warning_for_unknown_names() {
        let parse = |list: Option<&str>| {
            let mut warnings = Vec::new();
            let exporters = Exporters::parse(list, &mut warnings);
            ((exporters.prometheus, exporters.otlp), warnings.len())
        };
        assert_eq!(parse(None), ((true, false), 0), "Prometheus by default");
        assert_eq!(parse(Some("otlp")), ((false, true), 0));
        assert_eq!(parse(Some(" otlp , prometheus ")), ((true, true), 0));
        assert_eq!(parse(Some("none")), ((false, false), 0));
        assert_eq!(parse(Some("otlp,statsd")), ((false, true), 1));
        assert_eq!(
            parse(Some("statsd")),
            ((true, false), 1),
            "the default kept"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_metric_pipeline_exports_counts_and_abandons_over_both_protocols() {
        use super::super::otlp::{Endpoint, Export, Signal};
        for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
            let export = Export {
                endpoint: Some(Endpoint::Base("http://127.0.0.1:9".to_owned())),
                protocol,
            };
            let target = Target::resolve(Signal::Metrics, &export, &mut Vec::new())
                .unwrap()
                .unwrap();
            let (provider, abandon) =
                otlp_provider(&target, Resource::builder().build(), &mut Vec::new()).unwrap();
            let meter = provider.meter("test");
            meter.u64_counter("jobs").build().add(1, &[]);
            meter.i64_up_down_counter("queue").build().add(-1, &[]);
            meter
                .f64_histogram("wait")
                .with_unit("s")
                .build()
                .record(0.2, &[]);
            // Nothing listens on port 9: the export fails, and is counted.
            assert!(
                tokio::task::spawn_blocking({
                    let provider = provider.clone();
                    move || provider.force_flush()
                })
                .await
                .unwrap()
                .is_err()
            );
            // Once abandoned, an export gives up before it starts.
            abandon.abandon(Duration::ZERO);
            let flushed = tokio::task::spawn_blocking(move || {
                let result = provider.force_flush();
                let _ = provider.shutdown();
                result
            })
            .await
            .unwrap();
            assert!(flushed.is_err());
        }
    }

    #[test]
    fn histograms_in_seconds_get_the_duration_buckets() {
        let provider = SdkMeterProvider::builder()
            .with_view(seconds_buckets)
            .build();
        let meter = provider.meter("test");
        meter
            .f64_histogram("in.seconds")
            .with_unit("s")
            .build()
            .record(0.1, &[]);
        meter
            .f64_histogram("in.bytes")
            .with_unit("By")
            .build()
            .record(10.0, &[]);
    }
}
