//! [`Record`]: one request's measurement, written exactly once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use metrics::{Gauge, Histogram};

use super::labels::Values;
use super::layer::Shared;
use crate::route::Route;

pub use crate::classify::CANCELLED;

/// The pending measurement of one request: started on call, written on the outcome, or as
/// cancelled when dropped first. The in-flight gauge goes back down either way.
pub(crate) struct Record {
    shared: Arc<Shared>,
    subject: Subject,
    start: Instant,
    first_byte: Option<Duration>,
    status: Option<StatusCode>,
    grpc_status: Option<&'static str>,
    active: Gauge,
    done: bool,
}

/// What the labels describe: an HTTP request, or a gRPC call.
pub(crate) enum Subject {
    /// The normalised method and the route (server) or host (client).
    Http {
        method: &'static str,
        target: Option<Target>,
    },
    /// The call's path, `/package.Service/Method`.
    Rpc(http::uri::PathAndQuery),
}

impl Subject {
    /// `rpc.service` and `rpc.method` of a gRPC path; `_OTHER` for paths of another shape.
    fn rpc(path: &http::uri::PathAndQuery) -> (&str, &str) {
        crate::semconv::rpc_service_method(path.path()).unwrap_or(("_OTHER", "_OTHER"))
    }
}

/// What the route label comes from: the matched route of a server request, or the host of a
/// client request.
pub(crate) enum Target {
    Route(Route),
    Host(Arc<str>),
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
    pub(crate) fn start(shared: Arc<Shared>, subject: Subject, start: Instant) -> Self {
        let values = match &subject {
            Subject::Http { method, .. } => Values([Some(*method), Some(shared.scheme)]),
            Subject::Rpc(path) => Values([Some("grpc"), Some(Subject::rpc(path).0)]),
        };
        let active = shared.active.get(&values, |labels| {
            metrics::gauge!(shared.names.active, labels)
        });
        active.increment(1.0);
        Self {
            shared,
            subject,
            start,
            first_byte: None,
            status: None,
            grpc_status: None,
            active,
            done: false,
        }
    }

    /// A `grpc-status` was seen, in the head (trailers-only responses) or the trailers.
    pub(crate) fn grpc_status(&mut self, headers: &http::HeaderMap) {
        // HTTP requests have no gRPC status label: no lookup.
        if !matches!(self.subject, Subject::Rpc(_)) {
            return;
        }
        if let Some(code) = headers
            .get(crate::semconv::GRPC_STATUS)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
        {
            self.grpc_status = Some(crate::classify::grpc_code(code));
        }
    }

    /// The response head arrived.
    pub(crate) fn head(&mut self, status: StatusCode) {
        self.status = Some(status);
        if self.shared.until_first_byte {
            self.first_byte = Some(self.start.elapsed());
        }
    }

    /// Writes the measurement, once: a success, or the failure's `error.type`.
    pub(crate) fn finish(&mut self, error_type: Option<&str>) {
        if self.done {
            return;
        }
        self.done = true;
        let elapsed = self.first_byte.unwrap_or_else(|| self.start.elapsed());
        let values = match &self.subject {
            Subject::Http { method, target } => Values([
                Some(*method),
                Some(self.shared.scheme),
                target.as_ref().map(Target::as_str),
                self.status.as_ref().map(StatusCode::as_str),
                error_type,
            ]),
            Subject::Rpc(path) => {
                let (service, method) = Subject::rpc(path);
                Values([
                    Some("grpc"),
                    Some(service),
                    Some(method),
                    self.grpc_status,
                    error_type,
                ])
            }
        };
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
        self.finish(Some(CANCELLED));
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("side", &self.shared.side)
            .finish_non_exhaustive()
    }
}
