//! The smaller promises of the public API that the capability tests do not reach: what the
//! `Debug` output of handles shows, setters on cloned layers, the standalone health service
//! answering an unknown path, and SLO settings that change the generated rules.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt};
use tower_telemetry::classify::GrpcErrorsAsFailures;
use tower_telemetry::health::{Check, Health, HealthService};
use tower_telemetry::slo::{BurnAlert, RuleGenerator, Slo, Target};
use tower_telemetry::trace::TraceClientLayer;
use tower_telemetry::{CorrelationClientLayer, OperationLayer};

#[tokio::test]
async fn health_handles_show_their_settings_and_the_service_answers_unknown_paths() {
    let check = Check::new("db", || async { Ok::<_, std::io::Error>(()) })
        .timeout(Duration::from_millis(250))
        .non_critical();
    let debug = format!("{check:?}");
    assert!(
        debug.contains("\"db\"") && debug.contains("250ms") && debug.contains("critical: false")
    );
    let health = Health::builder()
        .check(check)
        .cache_for(Duration::from_secs(2))
        .build();
    let debug = format!("{health:?}");
    assert!(
        debug.contains("cache_for: 2s") && debug.contains("accepting: true"),
        "{debug}"
    );

    let service = HealthService::new(health)
        .liveness_path("/healthz")
        .readiness_path("/ready");
    let live = service
        .clone()
        .oneshot(Request::get("/healthz").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let unknown = service
        .oneshot(Request::get("/livez").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body = unknown.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], br#"{"status":"not_found"}"#);
}

#[tokio::test]
async fn health_layer_futures_say_which_way_the_request_went() {
    let health = Health::builder().build();
    let mut service = tower_telemetry::health::HealthLayer::new(health).layer(tower::service_fn(
        |_: Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                bytes::Bytes::from_static(b"app"),
            )))
        },
    ));
    let probe = tower::Service::call(&mut service, Request::get("/livez").body(()).unwrap());
    assert_eq!(format!("{probe:?}"), "HealthFuture(probe)");
    assert_eq!(probe.await.unwrap().status(), StatusCode::OK);
    let app = tower::Service::call(&mut service, Request::get("/users").body(()).unwrap());
    assert_eq!(format!("{app:?}"), "HealthFuture(inner)");
    let body = app
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"app");
}

#[tokio::test]
async fn an_operation_future_names_its_operation() {
    let mut service = OperationLayer::new("billing.sync").layer(tower::service_fn(|()| async {
        Ok::<_, std::convert::Infallible>(())
    }));
    let future = tower::Service::call(&mut service, ());
    assert!(format!("{future:?}").contains("billing.sync"));
    future.await.unwrap();
}

#[test]
fn client_layers_clone_and_keep_their_settings() {
    let correlation = CorrelationClientLayer::new();
    let _copy = correlation.clone();
    let trace = TraceClientLayer::with_tracer(opentelemetry::trace::noop::NoopTracer::new())
        .classifier(GrpcErrorsAsFailures::make_classifier());
    let copy = trace.clone();
    assert!(format!("{copy:?}").contains("GrpcErrorsAsFailures"));
}

#[test]
fn slo_settings_reach_the_rules() {
    let slo = Slo::availability("login", Target::operation("auth.login"), 0.999)
        .unwrap()
        .window_days(7)
        .runbook("https://runbooks.example/login");
    let rules = RuleGenerator::new([slo])
        .alerts(vec![BurnAlert {
            severity: "page".to_owned(),
            long: "1h".to_owned(),
            short: "5m".to_owned(),
            factor: 14.4,
        }])
        .to_yaml()
        .unwrap();
    assert!(rules.contains("https://runbooks.example/login"), "{rules}");
    assert!(rules.contains("over 7 days"), "{rules}");
    assert_eq!(rules.matches("alert:").count(), 1, "{rules}");
}
