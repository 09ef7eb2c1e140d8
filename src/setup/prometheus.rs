//! The Prometheus side of the setup: a `prometheus-client` registry behind the `metrics`
//! facade, whose histograms carry exemplars, served as OpenMetrics to scrapers that ask for it
//! and as the classic text format to the others (ADR 0016).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use ::metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelSetEncoder};
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{self, Registry};

use crate::metrics::{BODY_SIZE_BUCKETS, DURATION_BUCKETS};

/// The content type of the classic Prometheus text format (version 0.0.4).
pub const TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The content type of the OpenMetrics text format (version 1.0.0), which carries exemplars.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The label names and values of one series, Prometheus-sanitized (`http.route` becomes
/// `http_route`).
type Labels = Vec<(String, String)>;

/// The exemplar of a histogram sample: the trace and span of the sampled request that made it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TraceExemplar {
    trace_id: TraceId,
    span_id: SpanId,
}

impl TraceExemplar {
    /// The current OpenTelemetry span, when it is sampled (exported): the request's server or
    /// client span while the layers record their histograms.
    fn current() -> Option<Self> {
        opentelemetry::Context::map_current(|cx| {
            let span = cx.span();
            let context = span.span_context();
            (context.is_valid() && context.is_sampled()).then(|| Self {
                trace_id: context.trace_id(),
                span_id: context.span_id(),
            })
        })
    }
}

/// Written as hex straight into the exposition: no string per sample.
#[derive(Debug)]
struct Hex<T>(T);

impl<T: std::fmt::Display> EncodeLabelValue for Hex<T> {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        write!(encoder, "{}", self.0)
    }
}

impl EncodeLabelSet for TraceExemplar {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeLabel;
        ("trace_id", Hex(self.trace_id)).encode(encoder.encode_label())?;
        ("span_id", Hex(self.span_id)).encode(encoder.encode_label())
    }
}

type DurationHistogram = HistogramWithExemplars<TraceExemplar>;

/// The series of one histogram, each made with the duration buckets (the body size buckets
/// for a histogram described in bytes).
type Histograms = Family<Labels, DurationHistogram, fn() -> DurationHistogram>;

fn duration_histogram() -> DurationHistogram {
    HistogramWithExemplars::new(DURATION_BUCKETS.iter().copied())
}

fn size_histogram() -> DurationHistogram {
    HistogramWithExemplars::new(BODY_SIZE_BUCKETS.iter().copied())
}

/// A Prometheus recorder for the `metrics` facade, on a `prometheus-client` registry.
///
/// Names and labels follow Prometheus's conventions, as `metrics-exporter-prometheus`'s
/// recommended naming has them: dots become underscores, a histogram or gauge described in
/// seconds or bytes gets the unit as a suffix (`http_server_request_duration_seconds`),
/// counters end in `_total`. Every histogram has the semantic conventions' duration buckets
/// (one described in bytes, [`BODY_SIZE_BUCKETS`](crate::metrics::BODY_SIZE_BUCKETS)),
/// and each bucket keeps the trace and span IDs of the last sampled request that landed in it
/// as its exemplar. `TelemetryBuilder::init` installs one; build one yourself to install it in your
/// own way (behind a fan-out, say).
#[derive(Clone, Debug, Default)]
pub struct PrometheusRecorder {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    registry: RwLock<Registry>,
    /// Units and help texts given before the metric's first registration.
    described: RwLock<HashMap<String, (Option<Unit>, String)>>,
    counters: RwLock<HashMap<String, Family<Labels, Total>>>,
    gauges: RwLock<HashMap<String, Family<Labels, Level>>>,
    histograms: RwLock<HashMap<String, Histograms>>,
}

type Total = prometheus_client::metrics::counter::Counter<u64, AtomicU64>;
type Level = prometheus_client::metrics::gauge::Gauge<f64, AtomicU64>;

impl PrometheusRecorder {
    /// A recorder with an empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The handle that renders what the recorder holds.
    pub fn handle(&self) -> PrometheusHandle {
        PrometheusHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The family of `name` in `families`, registered in the registry the first time.
    fn family<M, C>(
        &self,
        families: &RwLock<HashMap<String, Family<Labels, M, C>>>,
        name: &str,
        make: impl FnOnce() -> Family<Labels, M, C>,
        counter: bool,
    ) -> Family<Labels, M, C>
    where
        Family<Labels, M, C>: Clone + registry::Metric,
    {
        if let Some(family) = families
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return family.clone();
        }
        let mut families = families.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(family) = families.get(name) {
            return family.clone();
        }
        let family = make();
        let (unit, help) = self
            .shared
            .described
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
            .unwrap_or((None, String::new()));
        let mut metric_name = sanitize(name, true);
        if counter && let Some(stripped) = metric_name.strip_suffix("_total") {
            // The encoder adds the suffix.
            metric_name = stripped.to_owned();
        }
        // The registry adds a final period.
        let help = help.trim().trim_end_matches('.').to_owned();
        let mut registry = self
            .shared
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match unit.and_then(suffix) {
            Some(unit) if !metric_name.ends_with(&format!("_{}", unit.as_str())) => {
                registry.register_with_unit(metric_name, help, unit, family.clone());
            }
            _ => registry.register(metric_name, help, family.clone()),
        }
        families.insert(name.to_owned(), family.clone());
        family
    }
}

/// The unit suffix of a `metrics` unit, as Prometheus names have it; none for counts.
fn suffix(unit: Unit) -> Option<registry::Unit> {
    match unit {
        Unit::Count => None,
        Unit::Seconds => Some(registry::Unit::Seconds),
        Unit::Bytes => Some(registry::Unit::Bytes),
        Unit::Percent => Some(registry::Unit::Other("percent".to_owned())),
        other => Some(registry::Unit::Other(other.as_canonical_label().to_owned())),
    }
}

/// A Prometheus metric or label name: characters outside `[a-zA-Z0-9_]` (and `:` in metric
/// names) become `_`, and a leading digit gets a `_` before it.
fn sanitize(name: &str, metric: bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for (i, c) in name.chars().enumerate() {
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
        }
        let keep = c.is_ascii_alphanumeric() || c == '_' || (metric && c == ':');
        out.push(if keep { c } else { '_' });
    }
    out
}

fn labels(key: &Key) -> Labels {
    key.labels()
        .map(|label| (sanitize(label.key(), false), label.value().to_owned()))
        .collect()
}

impl Recorder for PrometheusRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        let family = self.family(&self.shared.counters, key.name(), Family::default, true);
        let counter = family.get_or_create(&labels(key)).clone();
        Counter::from_arc(Arc::new(CounterHandle(counter)))
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        let family = self.family(&self.shared.gauges, key.name(), Family::default, false);
        let gauge = family.get_or_create(&labels(key)).clone();
        Gauge::from_arc(Arc::new(GaugeHandle(gauge)))
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        let in_bytes = matches!(
            self.shared
                .described
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(key.name()),
            Some((Some(Unit::Bytes), _))
        );
        let buckets: fn() -> DurationHistogram = if in_bytes {
            size_histogram
        } else {
            duration_histogram
        };
        let family = self.family(
            &self.shared.histograms,
            key.name(),
            || Family::new_with_constructor(buckets),
            false,
        );
        let histogram = family.get_or_create(&labels(key)).clone();
        Histogram::from_arc(Arc::new(HistogramHandle(histogram)))
    }
}

impl PrometheusRecorder {
    fn describe(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.shared
            .described
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.as_str().to_owned(), (unit, description.into_owned()));
    }
}

#[derive(Debug)]
struct CounterHandle(Total);

impl CounterFn for CounterHandle {
    fn increment(&self, value: u64) {
        self.0.inc_by(value);
    }

    fn absolute(&self, value: u64) {
        self.0.inner().fetch_max(value, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct GaugeHandle(Level);

impl GaugeFn for GaugeHandle {
    fn increment(&self, value: f64) {
        self.0.inc_by(value);
    }

    fn decrement(&self, value: f64) {
        self.0.dec_by(value);
    }

    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

#[derive(Debug)]
struct HistogramHandle(DurationHistogram);

impl HistogramFn for HistogramHandle {
    fn record(&self, value: f64) {
        match TraceExemplar::current() {
            Some(exemplar) => self
                .0
                .observe(value, Some(exemplar), Some(SystemTime::now())),
            None => self.0.observe(value, None, None),
        }
    }
}

/// Renders what a [`PrometheusRecorder`] holds, in the format the scraper asks for.
#[derive(Clone, Debug)]
pub struct PrometheusHandle {
    shared: Arc<Shared>,
}

impl PrometheusHandle {
    /// The classic Prometheus text format (version 0.0.4), without exemplars, which that
    /// format cannot carry.
    pub fn render(&self) -> String {
        self.encode(prometheus_client::encoding::prometheus_text::encode)
    }

    /// The OpenMetrics text format (1.0.0), with exemplars: the trace and span IDs of a
    /// sampled request per histogram bucket.
    pub fn render_openmetrics(&self) -> String {
        self.encode(prometheus_client::encoding::text::encode)
    }

    /// The registry, written by one of `prometheus-client`'s encoders.
    fn encode(&self, encoder: fn(&mut String, &Registry) -> std::fmt::Result) -> String {
        let mut out = String::new();
        let registry = self
            .shared
            .registry
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        // Writing into a `String` cannot fail.
        let _ = encoder(&mut out, &registry);
        out
    }

    /// The exposition a scraper's `Accept` header asks for, and its content type: OpenMetrics
    /// when it prefers `application/openmetrics-text` (as Prometheus does when it stores
    /// exemplars), the classic text format otherwise.
    pub fn render_for(&self, accept: Option<&http::HeaderValue>) -> (&'static str, String) {
        if accept
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(prefers_openmetrics)
        {
            (OPENMETRICS_CONTENT_TYPE, self.render_openmetrics())
        } else {
            (TEXT_CONTENT_TYPE, self.render())
        }
    }
}

/// Whether an `Accept` header ranks `application/openmetrics-text` above `text/plain` (and
/// above zero).
fn prefers_openmetrics(accept: &str) -> bool {
    let (mut openmetrics, mut text) = (0.0_f32, 0.0_f32);
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(q),
            "text/plain" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    openmetrics > 0.0 && openmetrics >= text
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, TraceFlags, TraceState};

    use super::*;

    fn recorder() -> PrometheusRecorder {
        let recorder = PrometheusRecorder::new();
        recorder.describe_histogram(
            "http.server.request.duration".into(),
            Some(Unit::Seconds),
            "Duration of HTTP requests.".into(),
        );
        recorder
    }

    #[test]
    fn names_and_labels_follow_prometheus_conventions() {
        let recorder = recorder();
        let key = Key::from_parts(
            "http.server.request.duration",
            vec![::metrics::Label::new("http.route", "/users/{id}")],
        );
        let metadata = Metadata::new("test", ::metrics::Level::INFO, None);
        recorder.register_histogram(&key, &metadata).record(0.2);
        recorder
            .register_counter(&Key::from_name("jobs_total"), &metadata)
            .increment(2);
        let gauge = recorder.register_gauge(&Key::from_name("in.flight"), &metadata);
        gauge.increment(3.0);
        gauge.decrement(1.0);
        let text = recorder.handle().render();
        for line in [
            "# HELP http_server_request_duration_seconds Duration of HTTP requests.",
            "# TYPE http_server_request_duration_seconds histogram",
            r#"http_server_request_duration_seconds_bucket{http_route="/users/{id}",le="0.25"} 1"#,
            r#"http_server_request_duration_seconds_bucket{http_route="/users/{id}",le="0.1"} 0"#,
            r#"http_server_request_duration_seconds_count{http_route="/users/{id}"} 1"#,
            "jobs_total 2",
            "in_flight 2.0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(
            !text.contains("# EOF") && !text.contains("trace_id"),
            "{text}"
        );
    }

    #[test]
    fn a_sampled_span_becomes_the_exemplar_of_its_bucket() {
        let recorder = recorder();
        let key = Key::from_name("http.server.request.duration");
        let metadata = Metadata::new("test", ::metrics::Level::INFO, None);
        let histogram = recorder.register_histogram(&key, &metadata);
        let context = |flags| {
            opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
                SpanId::from_hex("00f067aa0ba902b7").unwrap(),
                flags,
                true,
                TraceState::default(),
            ))
        };
        {
            let _sampled = context(TraceFlags::SAMPLED).attach();
            histogram.record(0.003);
        }
        {
            let _unsampled = context(TraceFlags::default()).attach();
            histogram.record(0.7);
        }
        histogram.record(0.8);
        let text = recorder.handle().render_openmetrics();
        let exemplars: Vec<&str> = text.lines().filter(|l| l.contains(" # {")).collect();
        assert_eq!(
            exemplars.len(),
            1,
            "only the sampled request leaves an exemplar:\n{text}"
        );
        assert!(
            exemplars[0].starts_with(r#"http_server_request_duration_seconds_bucket{le="0.005"} 1 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 0.003 "#),
            "{}",
            exemplars[0]
        );
        assert!(text.contains("# UNIT http_server_request_duration_seconds seconds"));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn the_scrapers_accept_header_chooses_the_format() {
        let recorder = recorder();
        let handle = recorder.handle();
        let prometheus = http::HeaderValue::from_static(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        );
        assert_eq!(
            handle.render_for(Some(&prometheus)).0,
            OPENMETRICS_CONTENT_TYPE
        );
        for plain in [
            "text/plain",
            "*/*",
            "application/openmetrics-text;q=0,text/plain",
        ] {
            let accept = http::HeaderValue::from_static(plain);
            assert_eq!(
                handle.render_for(Some(&accept)).0,
                TEXT_CONTENT_TYPE,
                "{plain}"
            );
        }
        assert_eq!(handle.render_for(None).0, TEXT_CONTENT_TYPE);
    }

    #[test]
    fn units_become_suffixes_and_every_handle_records() {
        let recorder = PrometheusRecorder::new();
        let metadata = Metadata::new("test", ::metrics::Level::INFO, None);
        recorder.describe_counter("jobs".into(), Some(Unit::Count), "Jobs run.".into());
        recorder.describe_gauge("payload".into(), Some(Unit::Bytes), "Payload.".into());
        recorder.describe_gauge("cpu".into(), Some(Unit::Percent), "CPU.".into());
        recorder.describe_histogram("wait".into(), Some(Unit::Milliseconds), "Wait.".into());
        recorder.describe_histogram("body".into(), Some(Unit::Bytes), "Body.".into());
        recorder
            .register_histogram(&Key::from_name("body"), &metadata)
            .record(100.0);
        let jobs = recorder.register_counter(&Key::from_name("jobs"), &metadata);
        jobs.absolute(5);
        jobs.absolute(3);
        recorder
            .register_gauge(&Key::from_name("payload"), &metadata)
            .set(1.5);
        recorder
            .register_gauge(&Key::from_name("cpu"), &metadata)
            .set(2.0);
        recorder
            .register_histogram(&Key::from_name("wait"), &metadata)
            .record(1.0);
        // The same name again: the same family, registered once.
        recorder
            .register_counter(&Key::from_name("jobs"), &metadata)
            .increment(1);
        let text = recorder.handle().render();
        for line in [
            "jobs_total 6",
            "payload_bytes 1.5",
            "cpu_percent 2.0",
            "wait_ms_count 1",
            // Bytes get the body size buckets, not the duration ones.
            "body_bytes_bucket{le=\"64\"} 0",
            "body_bytes_bucket{le=\"256\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert_eq!(
            text.matches("# TYPE jobs_total counter").count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn names_are_sanitized() {
        assert_eq!(
            sanitize("http.server.request.duration", true),
            "http_server_request_duration"
        );
        assert_eq!(sanitize("9lives:ok-ish", true), "_9lives:ok_ish");
        assert_eq!(sanitize("a:b", false), "a_b");
    }
}
