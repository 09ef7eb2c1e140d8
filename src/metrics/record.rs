//! [`Record`]: one request's measurement, written exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ::metrics::{Gauge, Histogram};
use http::StatusCode;

use super::labels::{Outcome, Values};
use super::shared::{Shared, Side};
use crate::engine::End;
use crate::request::Route;
use crate::rpc::Call;
use crate::semconv::rpc::GRPC;

pub use crate::classify::CANCELLED;

/// The pending measurement of one request: started on call, written once at the end the
/// engine reports (cancelled, when the request was dropped first). The in-flight gauge goes
/// back down either way.
pub(crate) struct Record {
    shared: Arc<Shared>,
    subject: Subject,
    start: Instant,
    first_byte: Option<Duration>,
    status: Option<StatusCode>,
    active: Gauge,
    /// The bytes of the request body read so far, when the layer records body sizes.
    request_body_read: Option<Arc<AtomicU64>>,
    /// The bytes of the response body sent so far.
    response_body_sent: u64,
}

/// What the labels describe: an HTTP request, or a gRPC call.
pub(crate) enum Subject {
    /// The normalised method, the route (server) or host and port (client), and the protocol
    /// version (the request's, then the response's on a client, which learns it from the
    /// connection).
    Http {
        method: &'static str,
        /// `url.scheme`: the request URI's (absolute-form requests, HTTP/2), else the
        /// layer's.
        scheme: &'static str,
        target: Option<RouteOrHost>,
        port: Option<u16>,
        version: Option<&'static str>,
    },
    /// The call, and for a client the server it went to (`server.address`, `server.port`).
    Rpc {
        call: Call,
        server: Option<(Arc<str>, Option<u16>)>,
    },
}

/// A port as text, without allocating.
struct Port {
    digits: [u8; 5],
    len: usize,
}

impl Port {
    fn new(mut port: u16) -> Self {
        let mut digits = [0; 5];
        let mut len = 0;
        loop {
            digits[len] = b'0' + (port % 10) as u8;
            len += 1;
            port /= 10;
            if port == 0 {
                break;
            }
        }
        digits[..len].reverse();
        Self { digits, len }
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(&self.digits[..self.len]).unwrap_or("0")
    }
}

/// What the route label comes from: the matched route of a server request, or the host of a
/// client request.
pub(crate) enum RouteOrHost {
    Route(Route),
    Host(Arc<str>),
}

impl RouteOrHost {
    fn as_str(&self) -> &str {
        match self {
            Self::Route(route) => route.as_str(),
            Self::Host(host) => host,
        }
    }
}

impl Record {
    pub(crate) fn start(
        shared: Arc<Shared>,
        subject: Subject,
        start: Instant,
        request_body_read: Option<Arc<AtomicU64>>,
    ) -> Self {
        let active = match &subject {
            Subject::Http {
                method,
                scheme,
                target,
                port,
                ..
            } => {
                let port = port.map(Port::new);
                let host = match target {
                    Some(RouteOrHost::Host(host)) => Some(&**host),
                    _ => None,
                };
                shared.active.get(
                    &Values([
                        Some(*method),
                        Some(*scheme),
                        host,
                        port.as_ref().map(Port::as_str),
                    ]),
                    Outcome::Success,
                    |labels| ::metrics::gauge!(shared.names.active, labels),
                )
            }
            Subject::Rpc { call, .. } => shared.active.get(
                &Values([Some(GRPC), Some(call.method_label()), None, None]),
                Outcome::Success,
                |labels| ::metrics::gauge!(shared.names.active, labels),
            ),
        };
        active.increment(1.0);
        Self {
            shared,
            subject,
            start,
            first_byte: None,
            status: None,
            active,
            request_body_read,
            response_body_sent: 0,
        }
    }

    /// A data frame of the response body went by.
    pub(crate) fn data(&mut self, len: usize) {
        self.response_body_sent = self.response_body_sent.saturating_add(len as u64);
    }

    /// The response head arrived.
    pub(crate) fn head(
        &mut self,
        status: StatusCode,
        response_version: http::Version,
        headers: &http::HeaderMap,
    ) {
        self.status = Some(status);
        match &mut self.subject {
            Subject::Rpc { call, .. } => call.head(status, headers),
            // A client learns the version the connection speaks from the response.
            Subject::Http { version, .. } if self.shared.side == Side::Client => {
                *version = crate::semconv::protocol_version(response_version).or(*version);
            }
            Subject::Http { .. } => {}
        }
        if self.shared.until_first_byte {
            self.first_byte = Some(self.start.elapsed());
        }
    }

    /// The trailers arrived.
    pub(crate) fn trailers(&mut self, trailers: &http::HeaderMap) {
        // HTTP requests have no status in their trailers: no lookup.
        if let Subject::Rpc { call, .. } = &mut self.subject {
            call.trailers(trailers);
        }
    }

    /// Writes the measurement: how the exchange ended.
    pub(crate) fn finish(&mut self, end: End<'_>) {
        let elapsed = self.first_byte.unwrap_or_else(|| self.start.elapsed());
        let histogram: Histogram = match &self.subject {
            Subject::Http {
                method,
                scheme,
                target,
                port,
                version,
            } => {
                let error_type = match end {
                    End::Cancelled => Some(CANCELLED),
                    End::Success => None,
                    End::Failure(error_type)
                    | End::ServiceError(error_type)
                    | End::BodyError(error_type) => Some(error_type),
                };
                let port = port.map(Port::new);
                let values = Values([
                    Some(*method),
                    Some(*scheme),
                    target.as_ref().map(RouteOrHost::as_str),
                    self.status.as_ref().map(StatusCode::as_str),
                    error_type,
                    port.as_ref().map(Port::as_str),
                    *version,
                ]);
                let outcome = Outcome::of(error_type);
                if let Some(sizes) = &self.shared.body_sizes {
                    let read = self
                        .request_body_read
                        .as_ref()
                        .map_or(0, |read| read.load(Ordering::Relaxed));
                    let shared = &self.shared;
                    let request = shared.names.request_body_size;
                    let response = shared.names.response_body_size;
                    sizes
                        .request
                        .get(&values, outcome, |labels| {
                            ::metrics::histogram!(request, labels)
                        })
                        .record(read as f64);
                    sizes
                        .response
                        .get(&values, outcome, |labels| {
                            ::metrics::histogram!(response, labels)
                        })
                        .record(self.response_body_sent as f64);
                }
                self.histogram(&values, outcome)
            }
            Subject::Rpc { call, server } => {
                let outcome = call.end(end);
                let port = server.as_ref().and_then(|(_, port)| port.map(Port::new));
                self.histogram(
                    &Values([
                        Some(GRPC),
                        Some(outcome.method),
                        outcome.status,
                        outcome.error_type,
                        server.as_ref().map(|(address, _)| &**address),
                        port.as_ref().map(Port::as_str),
                        None,
                    ]),
                    Outcome::of(outcome.error_type),
                )
            }
        };
        histogram.record(elapsed.as_secs_f64());
        self.active.decrement(1.0);
    }

    fn histogram(&self, values: &Values<'_, 7>, outcome: Outcome) -> Histogram {
        let shared = &self.shared;
        shared.durations.get(values, outcome, |labels| {
            ::metrics::histogram!(shared.names.duration, labels)
        })
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("side", &self.shared.side)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::Port;

    #[test]
    fn ports_as_text() {
        for port in [0, 7, 80, 443, 8080, 50051, u16::MAX] {
            assert_eq!(Port::new(port).as_str(), port.to_string());
        }
    }
}
