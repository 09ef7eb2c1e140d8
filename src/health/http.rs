//! Liveness and readiness over HTTP: [`HealthService`] and [`HealthLayer`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::Health;

/// Where the probes are and what they show.
#[derive(Clone, Debug)]
struct Endpoints {
    health: Health,
    liveness: Arc<str>,
    readiness: Arc<str>,
    details: bool,
}

impl Endpoints {
    fn new(health: Health) -> Self {
        Self {
            health,
            liveness: "/livez".into(),
            readiness: "/readyz".into(),
            details: true,
        }
    }

    fn is_probe<B>(&self, request: &Request<B>) -> bool {
        let path = request.uri().path();
        matches!(*request.method(), Method::GET | Method::HEAD)
            && (path == &*self.liveness || path == &*self.readiness)
    }

    /// Answers a probe, or 404 for any other path.
    fn answer<B>(&self, request: &Request<B>) -> ProbeFuture {
        let path = request.uri().path();
        if path == &*self.liveness {
            // Liveness is the process answering: it never waits for a dependency.
            let response = json(StatusCode::OK, &serde_json::json!({ "status": "alive" }));
            return Box::pin(async move { response });
        }
        if path == &*self.readiness {
            let (health, details) = (self.health.clone(), self.details);
            return Box::pin(async move {
                let report = health.report().await;
                let status = if report.ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json(status, &report.to_json(details))
            });
        }
        let response = json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({ "status": "not_found" }),
        );
        Box::pin(async move { response })
    }
}

type ProbeFuture = Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>;

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

macro_rules! endpoint_setters {
    () => {
        /// Sets the liveness path.
        ///
        /// Defaults to `/livez`.
        pub fn liveness_path(mut self, path: impl Into<Arc<str>>) -> Self {
            self.endpoints.liveness = path.into();
            self
        }

        /// Sets the readiness path.
        ///
        /// Defaults to `/readyz`.
        pub fn readiness_path(mut self, path: impl Into<Arc<str>>) -> Self {
            self.endpoints.readiness = path.into();
            self
        }

        /// Sets whether readiness responses list each check (name, status, duration, error
        /// message). Turn it off on endpoints the public can reach.
        ///
        /// Defaults to `true`.
        pub fn details(mut self, details: bool) -> Self {
            self.endpoints.details = details;
            self
        }
    };
}

/// A service answering `GET /livez` (always 200 while the process answers) and `GET /readyz`
/// (200 when ready, else 503, with a JSON body listing the checks), and 404 otherwise: mount
/// it on a router, or serve it on its own port.
///
/// ```
/// use axum::Router;
/// use tower_telemetry::health::{Health, HealthService};
///
/// let health = Health::builder().build();
/// let app: Router = Router::new()
///     .route_service("/livez", HealthService::new(health.clone()))
///     .route_service("/readyz", HealthService::new(health));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct HealthService {
    endpoints: Endpoints,
}

impl HealthService {
    /// The probe endpoints of `health`.
    pub fn new(health: Health) -> Self {
        Self {
            endpoints: Endpoints::new(health),
        }
    }

    endpoint_setters!();
}

impl<B> Service<Request<B>> for HealthService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let answer = self.endpoints.answer(&request);
        Box::pin(async move { Ok(answer.await) })
    }
}

/// A layer answering the probe paths before the inner service, which never sees them, so
/// probes stay out of whatever the inner layers measure. Put it outside the metrics and trace
/// layers.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower_telemetry::health::{Health, HealthLayer};
/// use tower_telemetry::MetricsLayer;
///
/// let health = Health::builder().build();
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(MetricsLayer::new())
///     .layer(HealthLayer::new(health).details(false));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct HealthLayer {
    endpoints: Endpoints,
}

impl HealthLayer {
    /// Probe endpoints of `health` in front of the inner service.
    pub fn new(health: Health) -> Self {
        Self {
            endpoints: Endpoints::new(health),
        }
    }

    endpoint_setters!();
}

impl<S> Layer<S> for HealthLayer {
    type Service = HealthEndpoints<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HealthEndpoints {
            inner,
            endpoints: self.endpoints.clone(),
        }
    }
}

/// Middleware that answers the probe paths. Made by [`HealthLayer`].
#[derive(Clone, Debug)]
pub struct HealthEndpoints<S> {
    inner: S,
    endpoints: Endpoints,
}

impl<S> HealthEndpoints<S> {
    define_inner_service_accessors!();
}

impl<S, B, ResBody> Service<Request<B>> for HealthEndpoints<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<Either<Full<Bytes>, ResBody>>;
    type Error = S::Error;
    type Future = HealthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.endpoints.is_probe(&request) {
            HealthFuture {
                state: State::Probe {
                    future: self.endpoints.answer(&request),
                },
            }
        } else {
            HealthFuture {
                state: State::Inner {
                    future: self.inner.call(request),
                },
            }
        }
    }
}

pin_project! {
    /// Response future of [`HealthEndpoints`].
    pub struct HealthFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // A probe, answered here.
        Probe { future: ProbeFuture },
        // Any other request, answered by the inner service.
        Inner { #[pin] future: F },
    }
}

impl<F, ResBody, E> Future for HealthFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<Either<Full<Bytes>, ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Probe { future } => future
                .as_mut()
                .poll(cx)
                .map(|response| Ok(response.map(Either::Left))),
            StateProj::Inner { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(Either::Right))),
        }
    }
}

impl<F> std::fmt::Debug for HealthFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.state {
            State::Probe { .. } => "HealthFuture(probe)",
            State::Inner { .. } => "HealthFuture(inner)",
        })
    }
}
