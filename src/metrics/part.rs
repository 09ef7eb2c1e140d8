//! [`MetricsPart`]: one request's measurement, started as it arrives (in flight +1).

use std::sync::Arc;

use http::{Request, Response};

use super::record::{Record, RouteOrHost, Subject};
use super::shared::{Shared, Side};
use crate::engine::{self, Begin, End};
use crate::request::RequestContext;
use crate::rpc::Call;
use crate::semconv::Protocol;
use crate::semconv::{known_method, server_of, url_scheme};

impl Begin for Arc<Shared> {
    type Part = MetricsPart;

    fn error_types(&self) -> Option<crate::error_type::ErrorTypeFn> {
        self.error_types
    }

    /// Starts the record of `request` (in flight +1), or nothing for an excluded path.
    fn begin<B>(&self, request: &mut Request<B>, cx: &mut RequestContext) -> MetricsPart {
        MetricsPart(start(self, request, cx))
    }
}

pub(crate) fn start<B>(
    shared: &Arc<Shared>,
    request: &Request<B>,
    cx: &mut RequestContext,
) -> Option<Record> {
    if shared.excluded.contains(request.uri().path()) {
        return None;
    }
    let start = cx.start();
    let subject = match shared.protocol {
        Protocol::Http => {
            let (target, port) = match shared.side {
                Side::Server => (cx.route(request).cloned().map(RouteOrHost::Route), None),
                Side::Client => match server_of(request.uri()) {
                    Some((host, port)) => (Some(RouteOrHost::Host(shared.host(host))), port),
                    None => (None, None),
                },
            };
            Subject::Http {
                method: known_method(request.method()).unwrap_or(crate::classify::OTHER),
                scheme: url_scheme(request, shared.scheme, &shared.forwarded),
                target,
                port,
                version: crate::semconv::protocol_version(request.version()),
            }
        }
        Protocol::Grpc => Subject::Rpc {
            call: Call::start(&shared.methods, request, start),
            // `server.address` and `server.port` are opt-in on server metrics: not recorded.
            server: match shared.side {
                Side::Server => None,
                Side::Client => match server_of(request.uri()) {
                    Some((host, port)) => Some((shared.host(host), port)),
                    None => shared.target.clone(),
                },
            },
        },
    };
    let request_body_read = cx.request_body_read();
    Some(Record::start(
        Arc::clone(shared),
        subject,
        start,
        request_body_read,
    ))
}

/// The per-request state of [`Metrics`](super::Metrics) inside its
/// [`ResponseFuture`](super::ResponseFuture) and [`ResponseBody`](super::ResponseBody):
/// the pending measurement, or nothing for a request the layer does not record.
#[derive(Debug)]
pub struct MetricsPart(pub(crate) Option<Record>);

impl crate::engine::sealed::Part for MetricsPart {}

impl engine::Part for MetricsPart {
    fn enter(&mut self) -> impl Sized + '_ {}

    fn head<B>(&mut self, response: &mut Response<B>) {
        if let Some(record) = &mut self.0 {
            record.head(response.status(), response.version(), response.headers());
        }
    }

    fn trailers(&mut self, trailers: &http::HeaderMap) {
        if let Some(record) = &mut self.0 {
            record.trailers(trailers);
        }
    }

    fn data(&mut self, len: usize) {
        if let Some(record) = &mut self.0 {
            record.data(len);
        }
    }

    fn end(&mut self, end: End<'_>) {
        if let Some(record) = &mut self.0 {
            record.finish(end);
        }
    }
}
