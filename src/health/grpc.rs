//! The standard `grpc.health.v1.Health` service, driven by the same checks, as the protocol's
//! `health.proto` describes it.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health as HealthProtocol, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tower_service::Service;

use super::Health;
use super::checks::{Lifecycle, Stage};

/// What every Check and Watch answers from: the overall serving status, the registered names,
/// and whether the server is stopping.
#[derive(Clone, Debug)]
struct Statuses {
    serving: bool,
    names: Arc<BTreeSet<String>>,
    stopped: bool,
}

impl Statuses {
    /// The status of `name`: SERVICE_UNKNOWN when it is not registered.
    fn of(&self, name: &str) -> ServingStatus {
        match (self.names.contains(name), self.serving) {
            (false, _) => ServingStatus::ServiceUnknown,
            (true, true) => ServingStatus::Serving,
            (true, false) => ServingStatus::NotServing,
        }
    }
}

/// The state the service and its updating task share.
#[derive(Debug)]
struct Shared {
    statuses: watch::Sender<Statuses>,
}

impl Shared {
    /// Changes the statuses; watchers hear of it only if something changed.
    fn update(&self, change: impl FnOnce(&mut Statuses)) {
        self.statuses.send_if_modified(|statuses| {
            let before = (
                statuses.serving,
                statuses.stopped,
                Arc::clone(&statuses.names),
            );
            change(statuses);
            (statuses.serving, statuses.stopped) != (before.0, before.1)
                || statuses.names != before.2
        });
    }
}

impl Health {
    /// The `grpc.health.v1.Health` service (Check and Watch), answering from the readiness
    /// report: the overall status (service name `""`) and each name in `services` are SERVING
    /// when ready and NOT_SERVING otherwise.
    ///
    /// - The report is taken now, before this returns, so no client ever sees a registered name
    ///   as unknown; then again every `every`, and at once when [`Health::set_ready`] changes or
    ///   a [`Shutdown`](super::Shutdown) begins.
    /// - **Check** answers the current status of a registered name, and `NOT_FOUND` for any
    ///   other name.
    /// - **Watch** sends the current status at once, then one message each time that status
    ///   changes, never the same status twice in a row. For a name that is not registered it
    ///   sends SERVICE_UNKNOWN and keeps the stream open; if the name is registered later
    ///   ([`GrpcHealthService::register`]), the stream sends its status then.
    /// - **Shutdown**: when a [`Shutdown`](super::Shutdown) begins, every name becomes
    ///   NOT_SERVING (Watch streams hear it during the drain); when the drain is over, open
    ///   Watch streams end with status OK, so that a graceful server shutdown does not wait
    ///   for them. Clients retry a Watch that ended, as the protocol asks them to.
    ///
    /// Call it inside a Tokio runtime: a task keeps the statuses up to date for as long as the
    /// service (any clone of it) exists.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_telemetry::health::Health;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let health = Health::builder().build();
    /// let grpc_health = health
    ///     .grpc_service(["inventory.v1.Inventory"], Duration::from_secs(1))
    ///     .await;
    /// // tonic::transport::Server::builder().add_service(grpc_health.clone()) ...
    /// grpc_health.register("inventory.v2.Inventory"); // a name that appears later
    /// # }
    /// ```
    pub async fn grpc_service<I, N>(&self, services: I, every: Duration) -> GrpcHealthService
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        let names: BTreeSet<String> = std::iter::once(String::new())
            .chain(services.into_iter().map(Into::into))
            .collect();
        let mut lifecycle = self.lifecycle();
        let first = *lifecycle.borrow_and_update();
        let serving = first.accepts() && self.report().await.ready;
        let shared = Arc::new(Shared {
            statuses: watch::Sender::new(Statuses {
                serving,
                names: Arc::new(names),
                stopped: first.stage == Stage::Stopped,
            }),
        });
        tokio::spawn(keep_up_to_date(
            self.clone(),
            lifecycle,
            Arc::downgrade(&shared),
            every,
        ));
        GrpcHealthService {
            server: HealthServer::new(Protocol {
                shared: Arc::clone(&shared),
            }),
            shared,
        }
    }
}

/// Publishes the report every `every` and on each change of the lifecycle, until the service
/// is gone or the server stopped.
async fn keep_up_to_date(
    health: Health,
    mut lifecycle: watch::Receiver<Lifecycle>,
    service: Weak<Shared>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is now, and that report is already published
    // Whether to wait for the next tick or change; not after a change that interrupted checks.
    let mut wait = true;
    loop {
        if wait {
            tokio::select! {
                _ = tick.tick() => {}
                changed = lifecycle.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
        wait = true;
        let now = *lifecycle.borrow_and_update();
        let serving = if now.accepts() {
            // A change of the lifecycle while the checks run wins at once: shutdown must not
            // wait for a slow check.
            tokio::select! {
                report = health.report() => report.ready,
                changed = lifecycle.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    wait = false;
                    continue;
                }
            }
        } else {
            false
        };
        let Some(shared) = service.upgrade() else {
            return;
        };
        let stopped = now.stage == Stage::Stopped;
        shared.update(|statuses| {
            statuses.serving = serving;
            statuses.stopped = stopped;
        });
        if stopped {
            return;
        }
    }
}

/// The `grpc.health.v1.Health` service, made by [`Health::grpc_service`]: add it to a tonic
/// server (`Server::builder().add_service(grpc_health)`), keeping a clone to register names
/// later.
#[derive(Clone)]
pub struct GrpcHealthService {
    server: HealthServer<Protocol>,
    shared: Arc<Shared>,
}

impl GrpcHealthService {
    /// Registers `name`: from now on Check answers its status and Watch streams on it send it.
    /// Names follow the same readiness as the overall status `""`.
    pub fn register(&self, name: impl Into<String>) {
        let name = name.into();
        self.shared.update(|statuses| {
            if !statuses.names.contains(&name) {
                Arc::make_mut(&mut statuses.names).insert(name);
            }
        });
    }

    /// Removes `name`: Check answers `NOT_FOUND` for it and Watch streams on it send
    /// SERVICE_UNKNOWN. The overall status `""` cannot be removed.
    pub fn unregister(&self, name: &str) {
        if name.is_empty() {
            return;
        }
        self.shared.update(|statuses| {
            if statuses.names.contains(name) {
                Arc::make_mut(&mut statuses.names).remove(name);
            }
        });
    }
}

impl fmt::Debug for GrpcHealthService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcHealthService")
            .field("statuses", &*self.shared.statuses.borrow())
            .finish_non_exhaustive()
    }
}

impl NamedService for GrpcHealthService {
    const NAME: &'static str = "grpc.health.v1.Health";
}

impl<B> Service<http::Request<B>> for GrpcHealthService
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    // `HealthServer` answers every error as a gRPC status: no transport error reaches the
    // server.
    type Error = Infallible;
    type Future = tonic::codegen::BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::<http::Request<B>>::poll_ready(&mut self.server, cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.server.call(request)
    }
}

/// The protocol's two methods over the shared statuses.
#[derive(Debug)]
struct Protocol {
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl HealthProtocol for Protocol {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let name = &request.get_ref().service;
        match self.shared.statuses.borrow().of(name) {
            ServingStatus::ServiceUnknown => Err(Status::not_found("service not registered")),
            status => Ok(Response::new(HealthCheckResponse {
                status: status.into(),
            })),
        }
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        Ok(Response::new(WatchStream {
            updates: tokio_stream::wrappers::WatchStream::new(self.shared.statuses.subscribe()),
            name: request.into_inner().service,
            last: None,
            done: false,
        }))
    }
}

/// The messages of one Watch call: the current status, then each change of it; the end once
/// the server stops.
struct WatchStream {
    updates: tokio_stream::wrappers::WatchStream<Statuses>,
    name: String,
    last: Option<ServingStatus>,
    done: bool,
}

impl WatchStream {
    fn message(&mut self, status: ServingStatus) -> Option<Result<HealthCheckResponse, Status>> {
        self.last = Some(status);
        Some(Ok(HealthCheckResponse {
            status: status.into(),
        }))
    }
}

impl Stream for WatchStream {
    type Item = Result<HealthCheckResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            // The service is gone when the updates end: so is the stream.
            let Some(statuses) = ready!(Pin::new(&mut this.updates).poll_next(cx)) else {
                return Poll::Ready(None);
            };
            let status = statuses.of(&this.name);
            this.done = statuses.stopped;
            if this.last != Some(status) {
                return Poll::Ready(this.message(status));
            }
        }
    }
}
