//! [`Health`]: the checks, their cached results, and the readiness flag.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

type CheckFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// One readiness check: an async function with its own timeout, critical or not.
#[derive(Clone)]
#[must_use]
pub struct Check {
    name: Arc<str>,
    run: CheckFn,
    timeout: Duration,
    critical: bool,
}

impl Check {
    /// A critical check named `name`: readiness fails when it returns `Err`, times out or
    /// panics. The error's `Display` is shown in detailed reports.
    ///
    /// ```
    /// use tower_telemetry::health::Check;
    ///
    /// use tower_telemetry::health::Health;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let database = Check::new("database", || async {
    ///     // e.g. `pool.get().await?.execute("SELECT 1").await`
    ///     Err::<(), _>(std::io::Error::other("connection refused"))
    /// });
    /// let health = Health::builder().check(database).build();
    /// let report = health.report().await;
    /// assert!(!report.ready, "a failing critical check fails readiness");
    /// assert_eq!(&*report.checks[0].name, "database");
    /// # }
    /// ```
    pub fn new<F, Fut, E>(name: impl Into<Arc<str>>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        Self {
            name: name.into(),
            run: Arc::new(move || {
                let future = check();
                Box::pin(async move { future.await.map_err(|err| err.to_string()) })
            }),
            timeout: Duration::from_secs(2),
            critical: true,
        }
    }

    /// Sets how long the check may take before it counts as failed.
    ///
    /// Defaults to 2 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Makes the check non-critical: reported, but its failure leaves the service ready.
    ///
    /// Defaults to critical.
    pub fn non_critical(mut self) -> Self {
        self.critical = false;
        self
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("critical", &self.critical)
            .finish_non_exhaustive()
    }
}

/// How one check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckStatus {
    /// It returned `Ok`.
    Pass,
    /// It returned an error (its message).
    Fail(String),
    /// It did not finish within its timeout.
    Timeout,
    /// It panicked.
    Panic,
}

impl CheckStatus {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail(_) => "fail",
            Self::Timeout => "timeout",
            Self::Panic => "panic",
        }
    }
}

/// The result of one check in a [`Report`].
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// The check's name.
    pub name: Arc<str>,
    /// Whether a failure makes the service not ready.
    pub critical: bool,
    /// How it ended.
    pub status: CheckStatus,
    /// How long it ran.
    pub duration: Duration,
}

/// A readiness report: the flag set by the application, and the latest check results.
#[derive(Clone, Debug)]
pub struct Report {
    /// Ready: the application says so and every critical check passed.
    pub ready: bool,
    /// The flag set with [`Health::set_ready`], `false` once a [`Shutdown`](super::Shutdown)
    /// began, whatever the flag says.
    pub accepting: bool,
    /// The check results, in registration order.
    pub checks: Arc<[CheckResult]>,
}

impl Report {
    /// The report as JSON: `{"status":"ready"|"not_ready"}`, with the checks when `details`.
    pub(crate) fn to_json(&self, details: bool) -> serde_json::Value {
        let status = if self.ready { "ready" } else { "not_ready" };
        if !details {
            return serde_json::json!({ "status": status });
        }
        let checks: Vec<_> = self
            .checks
            .iter()
            .map(|check| {
                let mut value = serde_json::json!({
                    "name": &*check.name,
                    "status": check.status.as_str(),
                    "critical": check.critical,
                    "duration_ms": check.duration.as_secs_f64() * 1e3,
                });
                if let CheckStatus::Fail(message) = &check.status {
                    value["error"] = serde_json::Value::from(message.as_str());
                }
                value
            })
            .collect();
        serde_json::json!({ "status": status, "accepting": self.accepting, "checks": checks })
    }
}

/// The service's health: its readiness checks and a readiness flag the application controls.
///
/// Cheap to clone; all clones share the checks, the cache and the flag. Results are cached for
/// [`HealthBuilder::cache_for`] and the checks run at most once at a time, so any number of
/// probes costs one run per interval.
///
/// ```
/// use std::time::Duration;
/// use tower_telemetry::health::{Check, Health};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let health = Health::builder()
///     .check(Check::new("cache", || async { Ok::<_, String>(()) }).non_critical())
///     .cache_for(Duration::from_secs(2))
///     .build();
/// assert!(health.report().await.ready);
/// health.set_ready(false); // shutting down: stop taking traffic
/// assert!(!health.report().await.ready);
/// # }
/// ```
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    checks: Vec<Check>,
    cache_for: Duration,
    /// The readiness flag and the shutdown stage; the gRPC health service watches it.
    lifecycle: watch::Sender<Lifecycle>,
    latest: tokio::sync::Mutex<Option<(Instant, Arc<[CheckResult]>)>>,
}

/// What the application said: the readiness flag, and how far shutdown has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lifecycle {
    pub(crate) accepting: bool,
    pub(crate) stage: Stage,
}

impl Lifecycle {
    /// Accepting traffic: the flag is up and shutdown has not begun.
    pub(crate) fn accepts(self) -> bool {
        self.accepting && self.stage == Stage::Running
    }
}

/// The stages of the shutdown sequence, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    /// Serving as usual.
    Running,
    /// Shutdown began: not ready, still serving while load balancers notice.
    Draining,
    /// The drain is over: servers stop accepting and long-lived health streams end.
    Stopped,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Health")
            .field("checks", &self.inner.checks)
            .field("cache_for", &self.inner.cache_for)
            .field("lifecycle", &*self.inner.lifecycle.borrow())
            .finish_non_exhaustive()
    }
}

/// Builder of [`Health`].
#[derive(Debug, Default)]
#[must_use]
pub struct HealthBuilder {
    checks: Vec<Check>,
    cache_for: Option<Duration>,
    starting: bool,
}

impl HealthBuilder {
    /// Adds a readiness check.
    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// Sets how long check results are reused.
    ///
    /// Defaults to 1 second.
    pub fn cache_for(mut self, cache_for: Duration) -> Self {
        self.cache_for = Some(cache_for);
        self
    }

    /// Starts not ready, until the application calls [`Health::set_ready`]`(true)` (startup
    /// work such as warming caches or running migrations).
    ///
    /// Defaults to starting ready.
    pub fn starting(mut self) -> Self {
        self.starting = true;
        self
    }

    /// Builds the health handle.
    pub fn build(self) -> Health {
        Health {
            inner: Arc::new(Inner {
                checks: self.checks,
                cache_for: self.cache_for.unwrap_or(Duration::from_secs(1)),
                lifecycle: watch::Sender::new(Lifecycle {
                    accepting: !self.starting,
                    stage: Stage::Running,
                }),
                latest: tokio::sync::Mutex::new(None),
            }),
        }
    }
}

impl Health {
    /// A builder with no checks, ready at start, results cached for 1 second.
    pub fn builder() -> HealthBuilder {
        HealthBuilder::default()
    }

    /// Says whether the application accepts traffic: `false` while starting or under
    /// maintenance. Takes effect at once, whatever the cache, and gRPC watchers hear of it at
    /// once. Once a [`Shutdown`](super::Shutdown) began, the service stays not ready whatever
    /// this flag says.
    pub fn set_ready(&self, ready: bool) {
        self.inner.lifecycle.send_if_modified(|lifecycle| {
            let changed = lifecycle.accepting != ready;
            lifecycle.accepting = ready;
            changed
        });
    }

    /// Moves the shutdown sequence to `stage` (never back).
    pub(crate) fn advance(&self, stage: Stage) {
        self.inner.lifecycle.send_if_modified(|lifecycle| {
            let later = stage > lifecycle.stage;
            if later {
                lifecycle.stage = stage;
            }
            later
        });
    }

    /// The readiness flag and shutdown stage, with their changes.
    #[cfg(feature = "health-grpc")]
    pub(crate) fn lifecycle(&self) -> watch::Receiver<Lifecycle> {
        self.inner.lifecycle.subscribe()
    }

    /// The readiness report: cached check results if fresh enough, else a new run of all
    /// checks (concurrently, each within its timeout; a panic counts as a failure).
    pub async fn report(&self) -> Report {
        let checks = self.checks().await;
        let accepting = self.inner.lifecycle.borrow().accepts();
        let passed = checks
            .iter()
            .all(|check| !check.critical || check.status == CheckStatus::Pass);
        Report {
            ready: accepting && passed,
            accepting,
            checks,
        }
    }

    async fn checks(&self) -> Arc<[CheckResult]> {
        // Held across the run: concurrent callers wait for it and then find fresh results.
        let mut latest = self.inner.latest.lock().await;
        if let Some((at, results)) = &*latest
            && at.elapsed() < self.inner.cache_for
        {
            return Arc::clone(results);
        }
        let runs: Vec<_> = self
            .inner
            .checks
            .iter()
            .map(|check| {
                let (run, timeout) = (Arc::clone(&check.run), check.timeout);
                let start = Instant::now();
                // Spawned, so that a panic stays in its task and becomes a failed check.
                let task = tokio::spawn(async move { tokio::time::timeout(timeout, run()).await });
                (check, start, task)
            })
            .collect();
        let mut results = Vec::with_capacity(runs.len());
        for (check, start, task) in runs {
            let status = match task.await {
                Ok(Ok(Ok(()))) => CheckStatus::Pass,
                Ok(Ok(Err(message))) => CheckStatus::Fail(message),
                Ok(Err(_elapsed)) => CheckStatus::Timeout,
                Err(_join_error) => CheckStatus::Panic,
            };
            if status != CheckStatus::Pass {
                tracing::warn!(target: "tower_telemetry::health", check = %check.name, status = status.as_str(), "readiness check failed");
            }
            results.push(CheckResult {
                name: Arc::clone(&check.name),
                critical: check.critical,
                status,
                duration: start.elapsed(),
            });
        }
        let results: Arc<[CheckResult]> = results.into();
        *latest = Some((Instant::now(), Arc::clone(&results)));
        results
    }
}
