//! Quickstart: an axum service with correlation IDs, OpenTelemetry spans and JSON logs,
//! needing nothing else.
//!
//! Run it:
//!
//! ```sh
//! cargo run --example quickstart                 # listens on 127.0.0.1:3000
//! ADDR=127.0.0.1:18080 cargo run --example quickstart
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
//!   `CorrelationClientLayer` and `TraceClientLayer`: both requests log the same
//!   `correlation_id` and `trace_id`, and with a collector the trace shows server, client and
//!   server spans.
//!
//! Stop it with Ctrl-C (or SIGTERM): in-flight requests finish before it exits.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt};
use tower_telemetry::correlation::{CorrelationClient, CorrelationClientLayer, CorrelationId};
use tower_telemetry::setup::Telemetry;
use tower_telemetry::trace::{TraceClient, TraceClientLayer};
use tower_telemetry::{CorrelationLayer, TraceLayer};

/// The HTTP client for outbound calls: hyper-util's client, sending the correlation ID and the
/// trace context.
type HttpClient = CorrelationClient<TraceClient<Client<HttpConnector, Empty<Bytes>>>>;

#[derive(Clone)]
struct AppState {
    client: HttpClient,
    /// Where this service listens, so `/users/{id}/summary` can call it.
    base: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // JSON logs on stdout (LOG_FORMAT=text for humans), filtered by RUST_LOG (default info);
    // spans exported when OTEL_EXPORTER_OTLP_ENDPOINT is set. Install before building layers.
    let telemetry = Telemetry::from_env().service_name("quickstart").init()?;

    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;

    let client = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .layer(TraceClientLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http());
    let state = AppState {
        client,
        base: format!("http://{addr}"),
    };

    let app = Router::new()
        .route("/users/{id}", get(get_user))
        .route("/users/{id}/summary", get(user_summary))
        .with_state(state)
        // The server span of each request, continuing the caller's trace.
        .layer(TraceLayer::new())
        // Outermost: correlation IDs, the request's log span and the access log.
        .layer(CorrelationLayer::new());

    tracing::info!(%addr, "quickstart listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("quickstart stopped");
    telemetry.shutdown()?;
    Ok(())
}

/// `GET /users/{id}`: a small JSON body; ids above 1000 do not exist.
async fn get_user(Path(id): Path<u32>) -> Result<Json<Value>, StatusCode> {
    tracing::info!(user.id = id, "loading user");
    if id > 1000 {
        tracing::warn!(user.id = id, "no such user");
        return Err(StatusCode::NOT_FOUND);
    }
    Ok(Json(json!({ "id": id, "name": format!("user-{id}") })))
}

/// `GET /users/{id}/summary`: fetches `/users/{id}` from this same service over HTTP. The
/// outbound request carries this request's correlation ID without any code here passing it.
async fn user_summary(
    State(state): State<AppState>,
    Path(id): Path<u32>,
    correlation_id: CorrelationId,
) -> Result<Json<Value>, StatusCode> {
    tracing::info!(user.id = id, "building summary");
    let request = http::Request::get(format!("{}/users/{id}", state.base))
        .body(Empty::new())
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let response = state.client.oneshot(request).await.map_err(|err| {
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
    let user: Value = serde_json::from_slice(&body).map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok(Json(json!({
        "user": user,
        "correlation_id": correlation_id.as_str(),
    })))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
