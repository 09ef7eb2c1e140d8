//! [`Record`]: one request's measurement, written exactly once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use metrics::{Gauge, Histogram};

use super::labels::Values;
use super::layer::Shared;
use crate::classify::ErrorType;
use crate::route::Route;

pub use crate::classify::CANCELLED;

/// How the request ended.
pub(crate) enum Outcome<'a> {
    Success,
    Failure(&'a dyn ErrorType),
    Error(&'a str),
}

/// The pending measurement of one request: started on call, written on the outcome, or as
/// cancelled when dropped first. The in-flight gauge goes back down either way.
pub(crate) struct Record {
    shared: Arc<Shared>,
    method: &'static str,
    target: Option<Target>,
    start: Instant,
    first_byte: Option<Duration>,
    status: Option<StatusCode>,
    active: Gauge,
    done: bool,
}

/// What the route label comes from: the matched route of a server request, or the host of a
/// client request.
pub(crate) enum Target {
    Route(Route),
    Host(Box<str>),
}

impl Target {
    fn as_str(&self) -> &str {
        match self {
            Self::Route(route) => route.as_str(),
            Self::Host(host) => host,
        }
    }
}

impl Record {
    pub(crate) fn start(shared: Arc<Shared>, method: &'static str, target: Option<Target>) -> Self {
        let active = shared
            .active
            .get(&Values([Some(method), Some(shared.scheme)]), |labels| {
                metrics::gauge!(shared.names.active, labels)
            });
        active.increment(1.0);
        Self {
            shared,
            method,
            target,
            start: Instant::now(),
            first_byte: None,
            status: None,
            active,
            done: false,
        }
    }

    /// The response head arrived.
    pub(crate) fn head(&mut self, status: StatusCode) {
        self.status = Some(status);
        if self.shared.until_first_byte {
            self.first_byte = Some(self.start.elapsed());
        }
    }

    /// Writes the measurement, once.
    pub(crate) fn finish(&mut self, outcome: Outcome<'_>) {
        if self.done {
            return;
        }
        self.done = true;
        let elapsed = self.first_byte.unwrap_or_else(|| self.start.elapsed());
        let error_type = match outcome {
            Outcome::Success => None,
            Outcome::Failure(class) => Some(class.error_type()),
            Outcome::Error(error_type) => Some(error_type),
        };
        let values = Values([
            Some(self.method),
            Some(self.shared.scheme),
            self.target.as_ref().map(Target::as_str),
            self.status.as_ref().map(StatusCode::as_str),
            error_type,
        ]);
        let shared = &self.shared;
        let histogram: Histogram = shared.durations.get(&values, |labels| {
            metrics::histogram!(shared.names.duration, labels)
        });
        histogram.record(elapsed.as_secs_f64());
        self.active.decrement(1.0);
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        self.finish(Outcome::Error(CANCELLED));
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("method", &self.method)
            .field("side", &self.shared.side)
            .finish_non_exhaustive()
    }
}
