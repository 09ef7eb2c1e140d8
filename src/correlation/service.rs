//! [`Correlation`]: the server-side service.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, Request, Response};
use tower_service::Service;

use super::CorrelationId;
use super::access_log::{Outcome, RequestLog};
use super::id::{InvalidCorrelationId, Reason};
use super::layer::Config;
use super::make::{MakeCorrelationId, UuidV7};
use super::scope::enter;
use crate::exchange::{self, End, Unclassified};

/// Middleware that gives every request a correlation ID. Made by
/// [`CorrelationLayer`](super::CorrelationLayer).
#[derive(Debug)]
pub struct Correlation<S, M = UuidV7> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config<M>>,
}

impl<S: Clone, M> Clone for Correlation<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S, M> Correlation<S, M> {
    define_inner_service_accessors!();
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
            return Inbound::Invalid(name, InvalidCorrelationId::new(Reason::MultipleValues));
        }
        return match CorrelationId::from_header(value, max_len) {
            Ok(id) => Inbound::Valid(id),
            Err(err) => Inbound::Invalid(name, err),
        };
    }
    Inbound::Absent
}

/// The ID a request gets, and why an inbound one was not taken.
pub(crate) struct Chosen<'a> {
    pub(crate) id: CorrelationId,
    refused: Option<(&'a HeaderName, Reason)>,
    untrusted: bool,
}

impl Chosen<'_> {
    /// Says at DEBUG, inside the request's span, why the inbound ID was not taken.
    pub(crate) fn log_refusal(&self, span: &tracing::Span) {
        if let Some((name, reason)) = self.refused {
            // The reason names the broken rule; the raw value is never repeated.
            tracing::debug!(
                parent: span,
                header = %name,
                %reason,
                "refused the inbound correlation ID and generated a new one"
            );
        } else if self.untrusted {
            tracing::debug!(
                parent: span,
                "ignored the inbound correlation ID of an untrusted caller and generated a new one"
            );
        }
    }
}

/// The request's correlation ID: a valid inbound one from a trusted caller, or a new one.
pub(crate) fn choose<'a, M, B>(
    config: &'a Config<M>,
    request: Request<B>,
) -> (Request<B>, Chosen<'a>)
where
    M: MakeCorrelationId,
{
    let mut request = request;
    let mut untrusted = false;
    let mut refused = None;
    let accepted = if config.trust.reads_headers() {
        match inbound(request.headers(), &config.header_names, config.max_len) {
            Inbound::Absent => None,
            Inbound::Invalid(name, err) => {
                refused = Some((name, err.reason()));
                None
            }
            Inbound::Valid(id) => match config.trust.predicate() {
                None => Some(id),
                Some(is_trusted) => {
                    let (parts, body) = request.into_parts();
                    let trusted = is_trusted(&parts);
                    request = Request::from_parts(parts, body);
                    untrusted = !trusted;
                    trusted.then_some(id)
                }
            },
        }
    } else {
        None
    };
    let id = accepted.unwrap_or_else(|| config.generator.make_correlation_id());
    (
        request,
        Chosen {
            id,
            refused,
            untrusted,
        },
    )
}

impl<S, M, ReqBody, ResBody> Service<Request<ReqBody>> for Correlation<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
    M: MakeCorrelationId,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let config = &*self.config;
        let header_name = config.header_names[0].clone();

        // An outer `CorrelationLayer` already chose the ID, opened the span and will write the
        // access log: keep its ID and do nothing twice.
        if let Some(id) = request.extensions().get::<CorrelationId>() {
            let part = Part::new(id.clone(), header_name, RequestLog::none());
            return exchange::call(part, Unclassified, || self.inner.call(request));
        }

        let (mut request, chosen) = choose(config, request);
        let span = crate::request_span::open_with(config.span_level, Some(&chosen.id), None);
        chosen.log_refusal(&span);

        request.extensions_mut().insert(chosen.id.clone());
        let log = RequestLog::start(span, (config.access_log, config.log_path), &request, None);
        let part = Part::new(chosen.id, header_name, log);
        exchange::call(part, Unclassified, || self.inner.call(request))
    }
}

/// The per-request state of [`Correlation`] inside its [`ResponseFuture`] and
/// [`ResponseBody`]: the ID (current while the request's future and body are polled, echoed on
/// the response) and the pending access log.
#[derive(Debug)]
pub struct Part {
    // Moved into the thread-local for the length of each poll, back here between polls.
    id: Option<CorrelationId>,
    header_name: HeaderName,
    log: RequestLog,
}

impl Part {
    pub(crate) fn new(id: CorrelationId, header_name: HeaderName, log: RequestLog) -> Self {
        Self {
            id: Some(id),
            header_name,
            log,
        }
    }
}

impl crate::exchange::sealed::Part for Part {}

impl exchange::Part for Part {
    fn enter(&mut self) -> impl Sized + '_ {
        (self.log.span().enter(), enter(&mut self.id))
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
        self.log.finish(match end {
            End::Success | End::Failure(_) => Outcome::Completed,
            End::ServiceError(_) => Outcome::Failed,
            End::BodyError(_) => Outcome::BodyFailed,
        });
    }
}

/// Response future of [`Correlation`].
pub type ResponseFuture<F> = exchange::ResponseFuture<F, Part, Unclassified>;

/// Response body of [`Correlation`]: passes every frame through unchanged, polls the inner
/// body inside the request span with the ID current (so events from a streaming body carry the
/// correlation ID), and writes the access log at the end of the stream, on a body error, or
/// when dropped before the end.
pub type ResponseBody<B> = exchange::ResponseBody<B, Part, Unclassified>;
