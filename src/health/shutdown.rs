//! [`Shutdown`]: the graceful shutdown sequence every server of ours follows.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::Health;
use super::checks::Stage;

/// The variable that sets the drain, in milliseconds.
pub const SHUTDOWN_DRAIN_MS: &str = "SHUTDOWN_DRAIN_MS";

/// The drain when neither the code nor [`SHUTDOWN_DRAIN_MS`] sets one.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

/// The graceful shutdown sequence, as Kubernetes expects it of a pod:
///
/// 1. **SIGTERM or SIGINT** (or [`Shutdown::trigger`]) starts it.
/// 2. **Not ready**: `GET /readyz` answers 503 and the gRPC health service says NOT_SERVING
///    for every name, at once, while the server keeps serving.
/// 3. **Drain**: for the drain period the server still answers, so that load balancers and
///    kube-proxy notice the readiness change before connections stop being accepted. A
///    second signal ends the drain early.
/// 4. **Stop**: [`stopping`](Shutdown::stopping) resolves; give it to the server's graceful
///    shutdown (`axum::serve(..).with_graceful_shutdown`, tonic's `serve_with_shutdown`), which
///    stops accepting connections and lets in-flight requests finish. Open gRPC health Watch
///    streams end now, so that they do not hold the server open.
/// 5. **Flush and exit**: when the server returns, flush what is pushed (the spans:
///    [`TelemetryGuard::shutdown`](crate::setup::TelemetryGuard::shutdown) with the `setup`
///    feature) and return from `main`: exit code 0.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tower_telemetry::health::{Health, HealthLayer, Shutdown};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let health = Health::builder().build();
/// // Listens for SIGTERM and SIGINT from now on; the drain is SHUTDOWN_DRAIN_MS, else 5 s.
/// let shutdown = Shutdown::new(&health);
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(HealthLayer::new(health));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app)
///     .with_graceful_shutdown(shutdown.stopping())
///     .await?;
/// // flush the spans here (`TelemetryGuard::shutdown`), then exit 0
/// # Ok(())
/// # }
/// ```
///
/// Cheap to clone; every clone sees the same sequence, so several servers of one process
/// (an API and its metrics endpoint, HTTP and gRPC) can each wait for [`stopping`](Self::stopping).
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

struct Inner {
    stage: watch::Sender<Stage>,
    trigger: Notify,
    drain: Duration,
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("stage", &*self.inner.stage.borrow())
            .field("drain", &self.inner.drain)
            .finish_non_exhaustive()
    }
}

impl Shutdown {
    /// The sequence for `health`, started by SIGTERM or SIGINT, with the drain from
    /// [`SHUTDOWN_DRAIN_MS`] or else [`DEFAULT_DRAIN`]. Call it inside a Tokio runtime: the
    /// signal handlers are installed now, so a signal that arrives at any time after this
    /// call is seen.
    pub fn new(health: &Health) -> Self {
        Self::builder().health(health.clone()).build()
    }

    /// A builder, to choose the drain or a sequence without signal handlers.
    pub fn builder() -> ShutdownBuilder {
        ShutdownBuilder {
            health: None,
            drain: DEFAULT_DRAIN,
            drain_from_env: true,
            signals: true,
        }
    }

    /// Starts the sequence now, as a signal would (an admin endpoint, a test); a second call
    /// ends the drain early.
    pub fn trigger(&self) {
        self.inner.trigger.notify_one();
    }

    /// The drain period in force.
    pub fn drain(&self) -> Duration {
        self.inner.drain
    }

    /// Resolves when the sequence has begun: the service is not ready and draining.
    pub fn draining(&self) -> impl Future<Output = ()> + Send + 'static {
        self.reached(Stage::Draining)
    }

    /// Resolves when the drain is over and servers should stop: the future to give to
    /// `with_graceful_shutdown` or `serve_with_shutdown`.
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        self.reached(Stage::Stopped)
    }

    fn reached(&self, stage: Stage) -> impl Future<Output = ()> + Send + 'static {
        let mut stages = self.inner.stage.subscribe();
        async move {
            // Fails only when the sequence is gone, which it never is while a clone exists;
            // resolving then is the safe choice.
            let _ = stages.wait_for(|now| *now >= stage).await;
        }
    }
}

/// Builder of [`Shutdown`].
#[derive(Debug)]
#[must_use]
pub struct ShutdownBuilder {
    health: Option<Health>,
    drain: Duration,
    drain_from_env: bool,
    signals: bool,
}

impl ShutdownBuilder {
    /// The health whose readiness goes down when the sequence starts (HTTP probes and the gRPC
    /// health service alike).
    ///
    /// Defaults to none: the sequence then only drains and stops.
    pub fn health(mut self, health: Health) -> Self {
        self.health = Some(health);
        self
    }

    /// Sets how long the server keeps serving, not ready, before it stops accepting
    /// connections: longer than it takes your load balancer to notice (the readiness probe's
    /// `periodSeconds × failureThreshold` in Kubernetes). [`SHUTDOWN_DRAIN_MS`], when set to a
    /// whole number of milliseconds, wins over this, so that operators can tune it per
    /// deployment; see [`drain_from_env`](Self::drain_from_env).
    ///
    /// Defaults to [`DEFAULT_DRAIN`], 5 seconds.
    pub fn drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// Sets whether [`SHUTDOWN_DRAIN_MS`] is read. An unreadable value is ignored with a
    /// warning.
    ///
    /// Defaults to `true`.
    pub fn drain_from_env(mut self, read: bool) -> Self {
        self.drain_from_env = read;
        self
    }

    /// Sets whether SIGTERM and SIGINT (Ctrl-C) start the sequence; without them only
    /// [`Shutdown::trigger`] does.
    ///
    /// Defaults to `true`.
    pub fn signals(mut self, signals: bool) -> Self {
        self.signals = signals;
        self
    }

    /// Installs the signal handlers and starts waiting for the first signal. Call it inside a
    /// Tokio runtime.
    pub fn build(self) -> Shutdown {
        let from_env = self
            .drain_from_env
            .then(|| std::env::var(SHUTDOWN_DRAIN_MS).ok())
            .flatten();
        let drain = drain_of(from_env.as_deref(), self.drain);
        let inner = Arc::new(Inner {
            stage: watch::Sender::new(Stage::Running),
            trigger: Notify::new(),
            drain,
        });
        let signals = if self.signals {
            Signals::install()
        } else {
            Signals::none()
        };
        tokio::spawn(run(Arc::clone(&inner), self.health, signals));
        Shutdown { inner }
    }
}

/// The drain [`SHUTDOWN_DRAIN_MS`] asks for, if it is set to a whole number of milliseconds,
/// else `default`.
fn drain_of(from_env: Option<&str>, default: Duration) -> Duration {
    let Some(value) = from_env else {
        return default;
    };
    match value.trim().parse::<u64>() {
        Ok(ms) => Duration::from_millis(ms),
        Err(_) => {
            tracing::warn!(target: "tower_telemetry::shutdown", %value, "SHUTDOWN_DRAIN_MS is not a whole number of milliseconds; using the default");
            default
        }
    }
}

/// The sequence itself.
async fn run(inner: Arc<Inner>, health: Option<Health>, mut signals: Signals) {
    let cause = tokio::select! {
        signal = signals.next() => signal,
        () = inner.trigger.notified() => "trigger",
    };
    let drain_ms = u64::try_from(inner.drain.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(target: "tower_telemetry::shutdown", cause, drain_ms, "shutting down: not ready, draining");
    if let Some(health) = &health {
        health.advance(Stage::Draining);
    }
    inner.stage.send_replace(Stage::Draining);
    tokio::select! {
        () = tokio::time::sleep(inner.drain) => {}
        signal = signals.next() => {
            tracing::info!(target: "tower_telemetry::shutdown", cause = signal, "second signal: ending the drain now");
        }
        () = inner.trigger.notified() => {
            tracing::info!(target: "tower_telemetry::shutdown", cause = "trigger", "ending the drain now");
        }
    }
    if let Some(health) = &health {
        health.advance(Stage::Stopped);
    }
    inner.stage.send_replace(Stage::Stopped);
    tracing::info!(target: "tower_telemetry::shutdown", "drain over: stopping; in-flight requests finish");
}

/// SIGTERM and SIGINT, installed when the sequence is built.
struct Signals {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
    #[cfg(not(unix))]
    ctrl_c: bool,
}

impl Signals {
    fn none() -> Self {
        Self {
            #[cfg(unix)]
            unix: None,
            #[cfg(not(unix))]
            ctrl_c: false,
        }
    }

    #[cfg(unix)]
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Self {
                unix: Some((term, int)),
            },
            (Err(err), _) | (_, Err(err)) => {
                tracing::error!(target: "tower_telemetry::shutdown", error = %err, "cannot listen for SIGTERM and SIGINT; only Shutdown::trigger starts the shutdown");
                Self::none()
            }
        }
    }

    #[cfg(not(unix))]
    fn install() -> Self {
        Self { ctrl_c: true }
    }

    /// The name of the next signal; never resolves without handlers.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        if let Some((term, int)) = &mut self.unix {
            return tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
        }
        #[cfg(not(unix))]
        if self.ctrl_c && tokio::signal::ctrl_c().await.is_ok() {
            return "SIGINT";
        }
        std::future::pending().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_wins_when_it_is_a_whole_number_of_milliseconds() {
        let default = Duration::from_secs(5);
        assert_eq!(drain_of(None, default), default);
        assert_eq!(drain_of(Some("1500"), default), Duration::from_millis(1500));
        assert_eq!(drain_of(Some(" 0 "), default), Duration::ZERO);
        for bad in ["", "1.5", "-1", "5s", "99999999999999999999"] {
            assert_eq!(drain_of(Some(bad), default), default, "{bad:?}");
        }
    }
}
