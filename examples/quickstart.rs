//! Quickstart: an axum service with correlation IDs, OpenTelemetry spans, JSON logs and
//! Prometheus metrics, needing nothing else.
//!
//! Run it:
//!
//! ```sh
//! cargo run --example quickstart                 # listens on 127.0.0.1:3000
//! ADDR=127.0.0.1:18080 METRICS_ADDR=127.0.0.1:19464 cargo run --example quickstart
//! LOG_FORMAT=text cargo run --example quickstart # human-readable logs
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 cargo run --example quickstart
//!                                                # also export spans to a collector
//! ```
//!
//! Then, from another terminal:
//!
//! ```sh
//! curl -i http://127.0.0.1:3000/users/42
//! curl -i -H 'x-request-id: my-first-request' http://127.0.0.1:3000/users/42/summary
//! curl -i -H 'x-request-id: bad value!' http://127.0.0.1:3000/users/42
//! curl -i -X POST -d 'secret' http://127.0.0.1:3000/login
//! curl -i http://127.0.0.1:3000/users/42/ai-summary
//! curl -s http://127.0.0.1:9464/metrics
//! curl -i http://127.0.0.1:3000/readyz               # 200, with the `users-api` check
//! curl -i -X POST http://127.0.0.1:3000/admin/outage # SIMULATED outage: /users answers 503
//! curl -i http://127.0.0.1:3000/readyz               # 503 within a second, `users-api` failing
//! ```
//!
//! What to look at:
//! - every response carries `x-request-id`: yours when it is valid, a new UUID v7 otherwise;
//! - every JSON log line of a request has the same top-level `"correlation_id"`, including the
//!   access-log line (`"target":"tower_telemetry::access_log"`) written when the response ends;
//! - every line also has `"trace_id"` and `"span_id"`: the server span of the request, made
//!   whether or not a collector is configured; send a `traceparent` header and the trace ID is
//!   yours;
//! - `/users/{id}/summary` calls this service's own `/users/{id}` over HTTP through
//!   `CorrelationClientLayer`, `TraceClientLayer` and `MetricsClientLayer`: both requests log
//!   the same `correlation_id` and `trace_id`, with a collector the trace shows server, client
//!   and server spans, and `/metrics` has `http_client_request_duration_seconds` by server;
//! - `GET /metrics` on `METRICS_ADDR` (default 127.0.0.1:9464): `http_server_request_duration_seconds`
//!   by route, status and `error_type`, `http_server_active_requests`, and
//!   `operation_duration_seconds` for three named operations: `auth.login` (the login route),
//!   `ai.request` (a SIMULATED AI call: a sleep that sometimes times out) and `billing.sync` (a
//!   SIMULATED background job every 2 s that sometimes fails).
//!
//! - `GET /livez` is always 200; `GET /readyz` runs one real check (`users-api`: an HTTP call
//!   to this service's own `/users/1`), cached for a second. Probes are answered before the
//!   other layers, so they are not in the metrics, spans or access log.
//!
//! Slow clients: a client has `HEADER_READ_TIMEOUT_MS` (default 10000) to send a request head,
//! on a new connection or a kept-alive one, then the connection is closed; HTTP/2 connections
//! are pinged when idle (examples/common/serve.rs).
//!
//! Stop it with Ctrl-C (or SIGTERM): readiness turns 503 at once, the service keeps serving
//! for `SHUTDOWN_DRAIN_MS` (default 5000; a second Ctrl-C ends the drain) so load balancers
//! notice, then in-flight requests finish, the queued spans are flushed and it exits with 0.

use std::net::SocketAddr;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_telemetry::classify::{
    Failure, ServerErrorsAsFailures, SharedClassifier, StatusInRangeAsFailures,
};
use tower_telemetry::correlation::{CorrelationClient, CorrelationClientLayer, CorrelationId};
use tower_telemetry::health::{Check, Health, HealthLayer, Shutdown};
use tower_telemetry::metrics::{Metrics, MetricsClientLayer};
use tower_telemetry::setup::{TEXT_CONTENT_TYPE, TelemetryBuilder};
use tower_telemetry::trace::{TraceClient, TraceClientLayer};
use tower_telemetry::{OperationLayer, TelemetryLayer};
use tracing::Instrument;

#[path = "common/serve.rs"]
mod serve;

/// The HTTP client for outbound calls: hyper-util's client, sending the correlation ID and the
/// trace context, and recording `http.client.*` metrics per server.
type HttpClient = CorrelationClient<
    TraceClient<
        Metrics<Client<HttpConnector, Empty<Bytes>>, SharedClassifier<StatusInRangeAsFailures>>,
    >,
>;

#[derive(Clone)]
struct AppState {
    client: HttpClient,
    /// Where this service listens, so `/users/{id}/summary` can call it.
    base: String,
    /// SIMULATED outage of the users API, toggled by `POST /admin/outage`.
    outage: Arc<AtomicBool>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // JSON logs on stdout (LOG_FORMAT=text for humans), filtered by RUST_LOG (default info);
    // spans exported when OTEL_EXPORTER_OTLP_ENDPOINT is set; the Prometheus recorder.
    // Install before building layers.
    let telemetry = TelemetryBuilder::from_env()
        .service_name("quickstart")
        .init()?;

    // Prometheus scrapes its own address, so the metrics endpoint is not in the app's metrics.
    let metrics_addr: SocketAddr = std::env::var("METRICS_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:9464".to_owned())
        .parse()?;
    let metrics_listener = tokio::net::TcpListener::bind(metrics_addr).await?;
    let metrics_addr = metrics_listener.local_addr()?;
    let prometheus = telemetry.prometheus().cloned();
    let metrics_app = Router::new().route(
        "/metrics",
        // OpenMetrics, with exemplars linking latency buckets to traces, to a scraper that
        // asks for it (Prometheus with exemplar storage does); the classic text otherwise.
        get(move |headers: http::HeaderMap| {
            let (content_type, body) = match &prometheus {
                Some(p) => p.render_for(headers.get(http::header::ACCEPT)),
                None => (TEXT_CONTENT_TYPE, String::new()),
            };
            async move { ([("content-type", content_type)], body) }
        }),
    );

    // SIMULATED background job: `billing.sync` every 2 s, about one run in five fails.
    tokio::spawn(billing_sync());

    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;

    let client = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .layer(TraceClientLayer::new())
        .layer(MetricsClientLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http());
    let state = AppState {
        client,
        base: format!("http://{addr}"),
        outage: Arc::new(AtomicBool::new(false)),
    };

    // Readiness: one real check, an HTTP call to our own users API.
    let probe_client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let users_url = format!("{}/users/1", state.base);
    let health = Health::builder()
        .check(
            Check::new("users-api", move || {
                let (client, url) = (probe_client.clone(), users_url.clone());
                async move {
                    let request = http::Request::get(url)
                        .body(Empty::new())
                        .map_err(|e| e.to_string())?;
                    let response = client.request(request).await.map_err(|e| e.to_string())?;
                    if response.status().is_success() {
                        Ok(())
                    } else {
                        Err(format!("GET /users/1 answered {}", response.status()))
                    }
                }
            })
            .timeout(Duration::from_millis(500)),
        )
        .cache_for(Duration::from_secs(1))
        .build();
    // SIGTERM or SIGINT: `/readyz` answers 503 at once, the service keeps serving for
    // SHUTDOWN_DRAIN_MS (default 5 s; a second Ctrl-C skips it), then in-flight requests finish.
    let shutdown = Shutdown::new(&health);
    let metrics_server = tokio::spawn(serve::serve(
        metrics_listener,
        metrics_app,
        shutdown.stopping(),
    ));

    let app = Router::new()
        .route("/users/{id}", get(get_user))
        .route("/users/{id}/summary", get(user_summary))
        .route("/users/{id}/ai-summary", get(ai_summary))
        .route("/admin/outage", post(toggle_outage))
        // The login route is also the `auth.login` operation: its success rate is one query.
        .route(
            "/login",
            post(login)
                .layer(OperationLayer::new("auth.login").classifier(ServerErrorsAsFailures::new())),
        )
        .with_state(state)
        // Everything per request, in one layer: correlation IDs, the request's log span and
        // the access log; the server span, continuing the caller's trace; duration, outcome
        // and in-flight requests per route. The same as `CorrelationLayer`, `TraceLayer` and
        // `MetricsLayer` stacked, for less.
        .layer(TelemetryLayer::new())
        // Outermost: `/livez` and `/readyz`, answered before everything else.
        .layer(HealthLayer::new(health.clone()));

    tracing::info!(%addr, %metrics_addr, "quickstart listening");
    // With a header-read timeout and keep-alive limits, which `axum::serve` does not set: a
    // client that sends half a request and stops cannot hold a connection (examples/common/).
    serve::serve(listener, app, shutdown.stopping()).await?;
    metrics_server.await??;
    tracing::info!("quickstart stopped");
    // Flush the spans still queued; a collector that cannot take them is not a reason to fail.
    if let Err(err) = telemetry.shutdown() {
        tracing::warn!(error = %err, "flushing telemetry at exit");
    }
    Ok(())
}

/// `POST /admin/outage`: toggles a SIMULATED outage of the users API.
async fn toggle_outage(State(state): State<AppState>) -> Json<Value> {
    let outage = !state.outage.fetch_xor(true, Ordering::Relaxed);
    tracing::warn!(outage, "SIMULATED users API outage toggled");
    Json(json!({ "outage": outage }))
}

/// `GET /users/{id}`: a small JSON body; ids above 1000 do not exist.
async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<u32>,
) -> Result<Json<Value>, StatusCode> {
    tracing::info!(user.id = id, "loading user");
    if state.outage.load(Ordering::Relaxed) {
        tracing::error!(user.id = id, "SIMULATED outage: the users API is down");
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    if id > 1000 {
        tracing::warn!(user.id = id, "no such user");
        return Err(StatusCode::NOT_FOUND);
    }
    Ok(Json(json!({ "id": id, "name": format!("user-{id}") })))
}

/// `GET /users/{id}/summary`: fetches `/users/{id}` from this same service over HTTP. The
/// outbound request carries this request's correlation ID without any code here passing it.
///
/// The handler's own spans (`user_summary`, and `fetch_user` around the outbound call) are
/// exported with the crate's: the trace reads SERVER `GET /users/{id}/summary` → `user_summary`
/// → `fetch_user` → CLIENT `GET` → SERVER `GET /users/{id}`.
#[tracing::instrument(skip_all, fields(user.id = id))]
async fn user_summary(
    State(state): State<AppState>,
    Path(id): Path<u32>,
    correlation_id: CorrelationId,
) -> Result<Json<Value>, StatusCode> {
    tracing::info!(user.id = id, "building summary");
    let user = fetch_user(&state, id)
        .instrument(tracing::info_span!("fetch_user", user.id = id))
        .await?;
    Ok(Json(json!({
        "user": user,
        "correlation_id": correlation_id.as_str(),
    })))
}

/// Calls this service's own `GET /users/{id}` through the instrumented client.
async fn fetch_user(state: &AppState, id: u32) -> Result<Value, StatusCode> {
    let request = http::Request::get(format!("{}/users/{id}", state.base))
        .body(Empty::new())
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let response = state.client.clone().oneshot(request).await.map_err(|err| {
        tracing::error!(error = %err, "outbound call failed");
        StatusCode::BAD_GATEWAY
    })?;
    if !response.status().is_success() {
        return Err(response.status());
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|_| StatusCode::BAD_GATEWAY)
}

/// `POST /login`: the body is the password; `secret` lets you in, anything else is a 401 (the
/// client's error, so still a success for the `auth.login` operation).
async fn login(password: String) -> StatusCode {
    if password.trim() == "secret" {
        tracing::info!("login accepted");
        StatusCode::OK
    } else {
        tracing::info!("login refused");
        StatusCode::UNAUTHORIZED
    }
}

/// `GET /users/{id}/ai-summary`: asks a SIMULATED AI service, measured as the `ai.request`
/// operation; a timeout counts as a failure.
async fn ai_summary(Path(id): Path<u32>) -> Result<Json<Value>, StatusCode> {
    let ai = ServiceBuilder::new()
        .layer(
            OperationLayer::new("ai.request").classifier(|answer: &Option<String>| {
                answer.is_none().then_some(Failure::Named("timeout"))
            }),
        )
        .service(service_fn(simulated_ai));
    match ai.oneshot(id).await {
        Ok(Some(summary)) => Ok(Json(json!({ "id": id, "summary": summary }))),
        Ok(None) => {
            tracing::warn!(user.id = id, "the AI service timed out");
            Err(StatusCode::GATEWAY_TIMEOUT)
        }
        Err(never) => match never {},
    }
}

/// SIMULATED: an AI call taking 20 to 200 ms, timing out (no answer) about one time in ten.
async fn simulated_ai(id: u32) -> Result<Option<String>, std::convert::Infallible> {
    let roll = random();
    tokio::time::sleep(Duration::from_millis(20 + roll % 180)).await;
    Ok((!roll.is_multiple_of(10)).then(|| format!("user {id} likes observability")))
}

/// SIMULATED: a billing sync job every 2 s, measured as the `billing.sync` operation.
async fn billing_sync() {
    let job = ServiceBuilder::new()
        .layer(OperationLayer::new("billing.sync"))
        .service(service_fn(|run: u64| async move {
            let roll = random();
            tokio::time::sleep(Duration::from_millis(50 + roll % 250)).await;
            if roll.is_multiple_of(5) {
                Err(LedgerUnavailable)
            } else {
                Ok(run)
            }
        }));
    let mut interval = tokio::time::interval(Duration::from_secs(2));
    for run in 0u64.. {
        interval.tick().await;
        match job.clone().oneshot(run).await {
            Ok(_) => tracing::info!(run, "billing sync done"),
            Err(err) => tracing::warn!(run, error = %err, "billing sync failed"),
        }
    }
}

/// The billing job's failure: a type of its own, so that its `error.type` says what failed
/// (`LedgerUnavailable`), where a `&str` error would be `_OTHER`.
#[derive(Debug)]
struct LedgerUnavailable;

impl std::fmt::Display for LedgerUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SIMULATED: the ledger did not answer")
    }
}

impl std::error::Error for LedgerUnavailable {}

/// A small xorshift generator for the simulations; not for anything that matters.
fn random() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
                | 1,
        );
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
}
