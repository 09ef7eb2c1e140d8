//! Correlation IDs over gRPC: a real tonic server and a real tonic client on 127.0.0.1, the ID
//! travelling in metadata both ways.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

use std::time::Duration;

use tonic::transport::{Channel, Server};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tower::ServiceBuilder;
use tower_telemetry::correlation::{
    CorrelationClient, CorrelationClientLayer, CorrelationId, CorrelationLayer,
};

/// Starts the standard gRPC health service behind `CorrelationLayer`, and a client for it
/// behind `CorrelationClientLayer`.
async fn health_pair() -> HealthClient<CorrelationClient<Channel>> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .layer(CorrelationLayer::new())
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    let channel = ServiceBuilder::new()
        .layer(CorrelationClientLayer::new())
        .service(channel);
    HealthClient::new(channel)
}

fn echoed<T>(response: &tonic::Response<T>) -> String {
    response
        .metadata()
        .get("x-request-id")
        .expect("the server echoes the ID in the response metadata")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_current_id_travels_in_metadata_and_is_echoed() {
    let mut client = health_pair().await;
    let id: CorrelationId = "grpc-call-1".parse().unwrap();
    let response = id
        .scope(client.check(HealthCheckRequest::default()))
        .await
        .unwrap();
    assert_eq!(response.get_ref().status(), ServingStatus::Serving);
    assert_eq!(echoed(&response), "grpc-call-1");
}

#[tokio::test]
async fn explicit_metadata_wins_and_outside_a_request_one_is_generated() {
    let mut client = health_pair().await;
    let mut request = tonic::Request::new(HealthCheckRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", "set-by-caller".parse().unwrap());
    let id: CorrelationId = "ambient".parse().unwrap();
    let response = id.scope(client.check(request)).await.unwrap();
    assert_eq!(echoed(&response), "set-by-caller");

    let response = client.check(HealthCheckRequest::default()).await.unwrap();
    let generated = echoed(&response);
    let uuid = uuid::Uuid::parse_str(&generated).unwrap();
    assert_eq!(uuid.get_version_num(), 7);
}

#[tokio::test]
async fn error_statuses_carry_the_id_too() {
    let mut client = health_pair().await;
    let id: CorrelationId = "grpc-missing".parse().unwrap();
    let status = id
        .scope(client.check(HealthCheckRequest {
            service: "no.such.Service".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(
        status.metadata().get("x-request-id").unwrap(),
        "grpc-missing"
    );
}
