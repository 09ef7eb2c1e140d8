//! Shared test parts: real servers on 127.0.0.1, a real hyper client, and captured JSON logs.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Serves `router` on a free port of 127.0.0.1 until the test process ends.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Serves `router` with the peer address recorded as `ConnectInfo<SocketAddr>`.
pub async fn serve_with_peer(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// A real hyper client, HTTP/1.1 over loopback.
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `GET addr/path` with the given extra header lines and returns the status, the
/// response headers and the body as text.
pub async fn fetch(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &[u8])],
) -> (http::StatusCode, http::HeaderMap, String) {
    let mut request = http::Request::get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, http::HeaderValue::from_bytes(value).unwrap());
    }
    let response = tokio::time::timeout(
        Duration::from_secs(20),
        client.request(request.body(Empty::new()).unwrap()),
    )
    .await
    .expect("the server answers within 20 s")
    .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// The `x-request-id` of a response, as text.
pub fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .expect("every response carries x-request-id")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Asserts that `id` is a freshly generated UUID v7.
pub fn assert_generated(id: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{id:?} is not a UUID"));
    assert_eq!(uuid.get_version_num(), 7, "{id} is not a UUID v7");
    assert_eq!(
        id,
        uuid.hyphenated().to_string(),
        "lowercase hyphenated form"
    );
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INSTALLED: OnceLock<tower_telemetry::setup::TelemetryGuard> = OnceLock::new();

/// A log writer into memory, read back with `log_lines` and `raw_logs`.
pub struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs, once per test binary, the crate's JSON log setup writing into memory.
pub fn capture_logs() {
    INSTALLED.get_or_init(|| {
        tower_telemetry::setup::TelemetryBuilder::from_env()
            .log_format(tower_telemetry::setup::LogFormat::Json)
            .filter("info,tower_telemetry=debug")
            .writer(|| Capture)
            .prometheus(false)
            .init()
            .unwrap()
    });
}

/// Every captured log line, parsed. Panics on a line that is not JSON.
pub fn log_lines() -> Vec<Value> {
    let logs = LOGS.lock().unwrap();
    String::from_utf8_lossy(&logs)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The raw captured text, to check what must never appear in logs.
pub fn raw_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// The captured lines whose top-level `correlation_id` is `id`.
pub fn lines_of(id: &str) -> Vec<Value> {
    log_lines()
        .into_iter()
        .filter(|line| line["correlation_id"] == id)
        .collect()
}

/// Waits (at most 10 s) for a line of `id` with the given message, and returns it.
pub async fn wait_for_line(id: &str, message: &str) -> Value {
    for _ in 0..200 {
        if let Some(line) = lines_of(id).into_iter().find(|l| l["message"] == message) {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no {message:?} line for {id} within 10 s; lines: {:?}",
        lines_of(id)
    );
}

/// `GET http://{addr}{path}` with `x-request-id: {id}`: the status and the response headers.
pub async fn get_with_id(addr: &str, path: &str, id: &str) -> (u16, http::HeaderMap) {
    let (status, headers, _) = fetch(
        &client(),
        addr.parse().unwrap(),
        path,
        &[("x-request-id", id.as_bytes())],
    )
    .await;
    (status.as_u16(), headers)
}

/// Waits (at most 10 s) until `happened` says the event came, asking every 50 ms; panics
/// with `what` otherwise. The one way these tests wait for something they cannot be told of.
pub async fn until(what: &str, mut happened: impl AsyncFnMut() -> bool) {
    until_value(what, async || happened().await.then_some(())).await
}

/// [`until`], for an event that comes with a value.
pub async fn until_value<T>(what: &str, happened: impl AsyncFnMut() -> Option<T>) -> T {
    match within(happened).await {
        Some(value) => value,
        None => panic!("{what} did not happen within 10 s"),
    }
}

/// [`until_value`], returning `None` when the event did not come, for a caller that says
/// more about what it saw instead.
pub async fn within<T>(happened: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    within_for(Duration::from_secs(10), happened).await
}

/// [`within`], for an event that may take longer than 10 s to be seen (a scrape by a real
/// Prometheus): at most `bound`, asking every 50 ms.
pub async fn within_for<T>(
    bound: Duration,
    mut happened: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let tries = bound.as_millis() / 50;
    for _ in 0..tries {
        if let Some(value) = happened().await {
            return Some(value);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// A response body that sends `chunks` chunks, `delay` apart; `usize::MAX` means forever.
pub struct SlowBody {
    pub chunks: usize,
    pub delay: Duration,
    pub sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SlowBody {
    pub fn new(chunks: usize, delay: Duration) -> Self {
        Self {
            chunks,
            delay,
            sleep: None,
        }
    }
}

impl Body for SlowBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.chunks == 0 {
            return Poll::Ready(None);
        }
        let delay = self.delay;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
        std::task::ready!(sleep.as_mut().poll(cx));
        self.sleep = None;
        self.chunks = self.chunks.saturating_sub(1);
        tracing::info!("sent a chunk");
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"chunk\n")))))
    }
}

use std::future::Future as _;

pub mod emitted;
pub mod otlp;
pub mod process;
pub mod prom;
pub mod prometheus_server;
pub mod tls;
