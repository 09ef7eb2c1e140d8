//! A real OTLP receiver in the test process: the generated tonic servers of
//! `opentelemetry-proto` for OTLP/gRPC and axum routes decoding the same messages for
//! OTLP/HTTP, both on one address, over plain TCP or TLS (certificates made by the test).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// One received span and the `service.name` of its resource.
#[derive(Clone, Debug)]
pub struct Received {
    pub service: String,
    pub span: Span,
}

impl Received {
    /// An attribute's value, as text.
    pub fn attr(&self, key: &str) -> Option<String> {
        attr(&self.span.attributes, key)
    }

    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    pub fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
}

/// One received log record and the `service.name` of its resource.
#[derive(Clone, Debug)]
pub struct ReceivedLog {
    pub service: String,
    pub record: LogRecord,
}

impl ReceivedLog {
    pub fn attr(&self, key: &str) -> Option<String> {
        attr(&self.record.attributes, key)
    }

    /// The body, as text.
    pub fn body(&self) -> Option<String> {
        self.record.body.as_ref().and_then(text)
    }

    pub fn trace_id(&self) -> String {
        hex(&self.record.trace_id)
    }

    pub fn span_id(&self) -> String {
        hex(&self.record.span_id)
    }
}

fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()
        .and_then(text)
}

fn text(value: &AnyValue) -> Option<String> {
    Some(match value.value.as_ref()? {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn service(resource: Option<&Resource>) -> String {
    resource
        .iter()
        .flat_map(|r| r.attributes.iter())
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref().and_then(text))
        .unwrap_or_default()
}

/// One received metric and the `service.name` of its resource.
#[derive(Clone, Debug)]
pub struct ReceivedMetric {
    pub service: String,
    pub metric: Metric,
}

/// The attributes of a data point, as `(key, text)` pairs.
pub fn attrs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.as_ref().and_then(text)?)))
        .collect()
}

#[derive(Clone, Default)]
struct Store {
    metrics: Arc<Mutex<Vec<ReceivedMetric>>>,
    spans: Arc<Mutex<Vec<Received>>>,
    logs: Arc<Mutex<Vec<ReceivedLog>>>,
    /// The request headers of every export, names in lower case.
    headers: Arc<Mutex<Vec<http::HeaderMap>>>,
}

impl Store {
    fn spans(&self, request: ExportTraceServiceRequest, headers: http::HeaderMap) {
        self.headers.lock().unwrap().push(headers);
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.resource_spans {
            let service = service(resource_spans.resource.as_ref());
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    spans.push(Received {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
    }

    fn metrics(&self, request: ExportMetricsServiceRequest, headers: http::HeaderMap) {
        self.headers.lock().unwrap().push(headers);
        let mut metrics = self.metrics.lock().unwrap();
        for resource_metrics in request.resource_metrics {
            let service = service(resource_metrics.resource.as_ref());
            for scope_metrics in resource_metrics.scope_metrics {
                for metric in scope_metrics.metrics {
                    metrics.push(ReceivedMetric {
                        service: service.clone(),
                        metric,
                    });
                }
            }
        }
    }

    fn logs(&self, request: ExportLogsServiceRequest, headers: http::HeaderMap) {
        self.headers.lock().unwrap().push(headers);
        let mut logs = self.logs.lock().unwrap();
        for resource_logs in request.resource_logs {
            let service = service(resource_logs.resource.as_ref());
            for scope_logs in resource_logs.scope_logs {
                for record in scope_logs.log_records {
                    logs.push(ReceivedLog {
                        service: service.clone(),
                        record,
                    });
                }
            }
        }
    }
}

#[tonic::async_trait]
impl TraceService for Store {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = request.metadata().clone().into_headers();
        self.spans(request.into_inner(), headers);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Store {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let headers = request.metadata().clone().into_headers();
        self.logs(request.into_inner(), headers);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Store {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let headers = request.metadata().clone().into_headers();
        self.metrics(request.into_inner(), headers);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// The answer to an OTLP/HTTP export.
fn answer(decoded: bool, response: Vec<u8>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if decoded {
        (
            http::StatusCode::OK,
            [("content-type", "application/x-protobuf")],
            response,
        )
            .into_response()
    } else {
        (http::StatusCode::BAD_REQUEST, "not an OTLP export request").into_response()
    }
}

/// A body, gunzipped when the exporter compressed it.
fn body(headers: &http::HeaderMap, body: bytes::Bytes) -> Vec<u8> {
    use std::io::Read;
    if headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip")
    {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .is_ok()
        {
            return out;
        }
    }
    body.to_vec()
}

/// Both protocols on one router: gRPC by path and content type, HTTP on `/v1/traces` and
/// `/v1/logs`.
fn router(store: &Store) -> axum::Router {
    let grpc = tonic::service::Routes::new(
        TraceServiceServer::new(store.clone())
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
    )
    .add_service(
        LogsServiceServer::new(store.clone())
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
    )
    .add_service(
        MetricsServiceServer::new(store.clone())
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
    )
    .into_axum_router();
    grpc.route(
        "/v1/traces",
        export::<ExportTraceServiceRequest, ExportTraceServiceResponse>(store, Store::spans),
    )
    .route(
        "/v1/logs",
        export::<ExportLogsServiceRequest, ExportLogsServiceResponse>(store, Store::logs),
    )
    .route(
        "/v1/metrics",
        export::<ExportMetricsServiceRequest, ExportMetricsServiceResponse>(store, Store::metrics),
    )
}

/// The OTLP/HTTP route of one signal: decodes a `Req` (gunzipped when sent so), hands it to
/// `take`, answers an empty `Res`; a body that is not a `Req` gets 400.
fn export<Req, Res>(
    store: &Store,
    take: fn(&Store, Req, http::HeaderMap),
) -> axum::routing::MethodRouter
where
    Req: Message + Default + Send + 'static,
    Res: Message + Default,
{
    let store = store.clone();
    axum::routing::post(move |headers: http::HeaderMap, bytes: bytes::Bytes| {
        let store = store.clone();
        async move {
            match Req::decode(&body(&headers, bytes)[..]) {
                Ok(request) => {
                    take(&store, request, headers);
                    answer(true, Res::default().encode_to_vec())
                }
                Err(_) => answer(false, Vec::new()),
            }
        }
    })
}

/// A collector listening on 127.0.0.1 until the test process ends.
pub struct Collector {
    pub addr: SocketAddr,
    store: Store,
}

impl Collector {
    /// OTLP over gRPC and HTTP: export to `http://{addr}` (gRPC) or `http://{addr}/v1/traces`.
    pub async fn start() -> Self {
        let store = Store::default();
        let addr = super::serve(router(&store)).await;
        Self { addr, store }
    }

    /// The same as [`Collector::start`]; the name says which protocol the test uses.
    pub async fn grpc() -> Self {
        Self::start().await
    }

    /// The same as [`Collector::start`]; the name says which protocol the test uses.
    pub async fn http() -> Self {
        Self::start().await
    }

    /// Both protocols over TLS with `tls`'s server certificate: export to `https://{addr}`.
    pub async fn tls(tls: &super::tls::Pki, client_auth: bool) -> Self {
        let store = Store::default();
        let addr = super::tls::serve(router(&store), tls.server_config(client_auth)).await;
        Self { addr, store }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.store.spans.lock().unwrap().clone()
    }

    /// Every log record received so far.
    pub fn logs(&self) -> Vec<ReceivedLog> {
        self.store.logs.lock().unwrap().clone()
    }

    /// Every metric received so far, one entry per metric per export.
    pub fn metrics(&self) -> Vec<ReceivedMetric> {
        self.store.metrics.lock().unwrap().clone()
    }

    /// Waits (at most 10 s) until `done` holds for the metrics received, and returns them.
    pub async fn wait_for_metrics(
        &self,
        done: impl Fn(&[ReceivedMetric]) -> bool,
    ) -> Vec<ReceivedMetric> {
        let waited = super::within(async || {
            let metrics = self.metrics();
            done(&metrics).then_some(metrics)
        });
        match waited.await {
            Some(metrics) => metrics,
            None => panic!(
                "the collector did not receive the expected metrics within 10 s: {:#?}",
                self.metrics()
            ),
        }
    }

    /// The request headers of every export so far.
    pub fn headers(&self) -> Vec<http::HeaderMap> {
        self.store.headers.lock().unwrap().clone()
    }

    /// Waits (at most 10 s) until `done` holds for the spans received, and returns them.
    pub async fn wait_until(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let waited = super::within(async || {
            let spans = self.spans();
            done(&spans).then_some(spans)
        });
        match waited.await {
            Some(spans) => spans,
            None => panic!(
                "the collector did not receive the expected spans within 10 s: {:#?}",
                self.spans()
            ),
        }
    }

    /// Waits (at most 10 s) until `done` holds for the log records received, and returns them.
    pub async fn wait_for_logs(&self, done: impl Fn(&[ReceivedLog]) -> bool) -> Vec<ReceivedLog> {
        let waited = super::within(async || {
            let logs = self.logs();
            done(&logs).then_some(logs)
        });
        match waited.await {
            Some(logs) => logs,
            None => panic!(
                "the collector did not receive the expected logs within 10 s: {:#?}",
                self.logs()
            ),
        }
    }
}
