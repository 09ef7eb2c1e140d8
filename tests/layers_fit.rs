//! Compile-level proof that every layer fits where users put it: `axum::Router::layer`,
//! `Router::route_layer`, `tonic::transport::Server::builder().layer`, a tonic `Channel`,
//! hyper-util's legacy client and a hyper `service_fn` stack. Each test also checks the
//! assembled stack is a `Clone + Send` service, as those frameworks require.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

use std::convert::Infallible;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tonic::transport::{Channel, Server};
use tower::ServiceBuilder;
use tower_telemetry::trace::TraceClientLayer;
use tower_telemetry::{CorrelationClientLayer, CorrelationLayer, TraceLayer};

fn assert_service<S: Clone + Send + 'static>(_: &S) {}

#[test]
fn fits_axum_router_layer_and_route_layer() {
    let router: Router = Router::new()
        .route("/", get(|| async { "ok" }))
        .route_layer(CorrelationLayer::new())
        .layer(tower_telemetry::MetricsLayer::new())
        .route_layer(tower_telemetry::OperationLayer::new("fit.check"))
        .layer(TraceLayer::new())
        .layer(CorrelationLayer::default());
    assert_service(&router);
    let _with_state: Router<u8> = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(CorrelationLayer::new());
}

#[test]
fn fits_a_hyper_service_fn_stack() {
    let service = ServiceBuilder::new()
        .layer(CorrelationLayer::new())
        .layer(TraceLayer::default())
        .service_fn(|_: http::Request<hyper::body::Incoming>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
        });
    let hyper_service = hyper_util::service::TowerToHyperService::new(service);
    assert_service(&hyper_service);
}

#[tokio::test]
async fn fits_tonic_server_builder_and_channel() {
    let (_, health) = tonic_health::server::health_reporter();
    let router = Server::builder()
        .layer(
            ServiceBuilder::new()
                .layer(CorrelationLayer::new())
                .layer(TraceLayer::new().span_level(tracing::Level::DEBUG)),
        )
        .add_service(health);
    let _serve = router.serve("127.0.0.1:0".parse().unwrap());

    // The gRPC presets, server and client, and the HTTP metrics layers on tonic too.
    let (_, health) = tonic_health::server::health_reporter();
    let _grpc = Server::builder()
        .layer(
            ServiceBuilder::new()
                .layer(CorrelationLayer::new())
                .layer(TraceLayer::new_for_grpc())
                .layer(tower_telemetry::MetricsLayer::new_for_grpc()),
        )
        .add_service(health)
        .serve("127.0.0.1:0".parse().unwrap());
    let grpc_channel = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .layer(TraceClientLayer::new_for_grpc())
        .layer(tower_telemetry::metrics::MetricsClientLayer::new_for_grpc())
        .service(Channel::from_static("http://127.0.0.1:1").connect_lazy());
    assert_service(&tonic_health::pb::health_client::HealthClient::new(
        grpc_channel,
    ));

    let channel = Channel::from_static("http://127.0.0.1:1").connect_lazy();
    let channel = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .layer(TraceClientLayer::new())
        .service(channel);
    let client = tonic_health::pb::health_client::HealthClient::new(channel);
    assert_service(&client);
}

#[tokio::test]
async fn fits_hyper_util_legacy_client() {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let client = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .layer(TraceClientLayer::default())
        .service(client);
    assert_service(&client);
}
