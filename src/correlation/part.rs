//! [`CorrelationPart`]: the correlation ID of one request, chosen as it arrives, current
//! while it is served, echoed on the response, and its access log.

use http::{HeaderMap, HeaderName, Request, Response};
use tracing::Level;

use super::CorrelationId;
use super::access_log::{Outcome, RequestLog};
use super::id::{CorrelationIdReason, InvalidCorrelationId};
use super::make::MakeCorrelationId;
use super::scope::enter;
use crate::engine::{self, Begin, End};
use crate::request::RequestContext;
use crate::trust::TrustPolicy;

/// The settings of a [`CorrelationLayer`](super::CorrelationLayer), shared by its services.
#[derive(Debug, Clone)]
pub(crate) struct Config<M> {
    /// The first name is the one echoed; all of them are read, in order.
    pub(crate) header_names: Vec<HeaderName>,
    pub(crate) max_len: usize,
    pub(crate) trust: TrustPolicy,
    pub(crate) generator: M,
    pub(crate) span_level: Level,
    pub(crate) access_log: Option<Level>,
    /// Whether the access log carries `url.path`.
    pub(crate) record_path: bool,
}

/// What the request's headers offered.
enum Inbound<'a> {
    Absent,
    Valid(CorrelationId),
    Invalid(&'a HeaderName, InvalidCorrelationId),
}

/// Reads the first of `names` that the request carries and validates it.
fn inbound<'a>(headers: &HeaderMap, names: &'a [HeaderName], max_len: usize) -> Inbound<'a> {
    for name in names {
        let mut values = headers.get_all(name).iter();
        let Some(value) = values.next() else {
            continue;
        };
        if values.next().is_some() {
            return Inbound::Invalid(
                name,
                InvalidCorrelationId::new(CorrelationIdReason::MultipleValues),
            );
        }
        return match CorrelationId::from_header(value, max_len) {
            Ok(id) => Inbound::Valid(id),
            Err(err) => Inbound::Invalid(name, err),
        };
    }
    Inbound::Absent
}

/// The target of the refusal events, for filters (docs/operations/observability.md).
const REFUSALS: &str = "tower_telemetry::correlation::service";

/// Why an inbound ID was not taken.
#[derive(Debug)]
enum Refusal {
    Invalid(HeaderName, CorrelationIdReason),
    Untrusted,
}

impl<M: MakeCorrelationId> Begin for Config<M> {
    type Part = CorrelationPart;

    /// Keeps the ID an outer layer of this crate chose (it opened the span and writes the
    /// access log); otherwise takes a valid inbound ID from a trusted caller or makes a new
    /// one, puts it in the request's extensions and starts the access log.
    fn begin<B>(&self, request: &mut Request<B>, cx: &mut RequestContext) -> CorrelationPart {
        let header_name = self.header_names[0].clone();
        if let Some(outer) = cx.outer_id(request) {
            return CorrelationPart::new(outer.clone(), header_name, RequestLog::none(), None);
        }
        cx.want_log_span(self.span_level);
        let mut refusal = None;
        let accepted = if self.trust.trusts_nobody() {
            None
        } else {
            match inbound(request.headers(), &self.header_names, self.max_len) {
                Inbound::Absent => None,
                Inbound::Invalid(name, err) => {
                    refusal = Some(Refusal::Invalid(name.clone(), err.reason()));
                    None
                }
                Inbound::Valid(id) if self.trust.trusts(request) => Some(id),
                Inbound::Valid(_) => {
                    refusal = Some(Refusal::Untrusted);
                    None
                }
            }
        };
        let id = accepted.unwrap_or_else(|| self.generator.make_correlation_id());
        request.extensions_mut().insert(id.clone());
        cx.chose_id(id.clone());
        let log = RequestLog::start((self.access_log, self.record_path), request, cx);
        CorrelationPart::new(id, header_name, log, refusal)
    }
}

/// The per-request state of [`Correlation`](super::Correlation) inside its
/// [`ResponseFuture`](super::ResponseFuture) and [`ResponseBody`](super::ResponseBody): the ID (current while the request's future and body are polled, echoed on
/// the response) and the pending access log.
#[derive(Debug)]
pub struct CorrelationPart {
    // Moved into the thread-local for the length of each poll, back here between polls.
    id: Option<CorrelationId>,
    header_name: HeaderName,
    log_span: tracing::Span,
    log: RequestLog,
    // Boxed: refusals are rare, and the part travels in every request's future and body.
    refusal: Option<Box<Refusal>>,
}

impl CorrelationPart {
    fn new(
        id: CorrelationId,
        header_name: HeaderName,
        log: RequestLog,
        refusal: Option<Refusal>,
    ) -> Self {
        Self {
            id: Some(id),
            header_name,
            log_span: tracing::Span::none(),
            log,
            refusal: refusal.map(Box::new),
        }
    }
}

impl crate::engine::sealed::Part for CorrelationPart {}

impl engine::Part for CorrelationPart {
    fn log_refusals(&self) {
        match self.refusal.as_deref() {
            // The reason names the broken rule; the raw value is never repeated.
            Some(Refusal::Invalid(name, reason)) => tracing::debug!(
                target: REFUSALS,
                header = %name,
                %reason,
                "refused the inbound correlation ID and generated a new one"
            ),
            Some(Refusal::Untrusted) => tracing::debug!(
                target: REFUSALS,
                "ignored the inbound correlation ID of an untrusted caller and generated a new one"
            ),
            None => {}
        }
    }

    fn keep_log_span(&mut self, log_span: tracing::Span) -> Option<tracing::Span> {
        self.log_span = log_span;
        None
    }

    fn enter(&mut self) -> impl Sized + '_ {
        (self.log_span.enter(), enter(&mut self.id))
    }

    fn head<B>(&mut self, response: &mut Response<B>) {
        if let Some(id) = &self.id {
            response
                .headers_mut()
                .insert(self.header_name.clone(), id.header_value().clone());
        }
        self.log.set_status(response.status());
    }

    fn end(&mut self, end: End<'_>) {
        let _in_span = self.log_span.enter();
        self.log.finish(match end {
            End::Success | End::Failure(_) => Outcome::Completed,
            End::ServiceError(_) => Outcome::Failed,
            End::BodyError(_) => Outcome::BodyFailed,
            End::Cancelled => Outcome::Cancelled,
        });
    }
}
