//! [`Correlation`]: the server-side service.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, Request, Response};
use tower_service::Service;

use super::access_log::RequestLog;
use super::future::ResponseFuture;
use super::id::{InvalidCorrelationId, Reason};
use super::layer::Config;
use super::make::{MakeCorrelationId, UuidV7};
use super::scope::with_current;
use super::{CorrelationId, ResponseBody};

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

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let config = &*self.config;
        let header_name = config.header_names[0].clone();

        // An outer `CorrelationLayer` already chose the ID, opened the span and will write the
        // access log: keep its ID and do nothing twice.
        if let Some(id) = request.extensions().get::<CorrelationId>() {
            let mut id = Some(id.clone());
            let future = with_current(&mut id, || self.inner.call(request));
            return ResponseFuture::new(future, id, header_name, RequestLog::none());
        }

        let mut untrusted = false;
        let mut rejected = None;
        let accepted = if config.trust.reads_headers() {
            match inbound(request.headers(), &config.header_names, config.max_len) {
                Inbound::Absent => None,
                Inbound::Invalid(name, err) => {
                    rejected = Some((name, err.reason()));
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

        let span = crate::request_span::current_or_open(config.span_level);
        span.record("correlation_id", tracing::field::display(&id));
        if let Some((name, reason)) = rejected {
            // The reason names the broken rule; the raw value is never repeated.
            tracing::debug!(
                parent: &span,
                header = %name,
                %reason,
                "refused the inbound correlation ID and generated a new one"
            );
        } else if untrusted {
            tracing::debug!(
                parent: &span,
                "ignored the inbound correlation ID of an untrusted caller and generated a new one"
            );
        }

        request.extensions_mut().insert(id.clone());
        let log = RequestLog::start(span, config.access_log, &request);
        let mut id = Some(id);
        let future = {
            let _entered = log.span().enter();
            with_current(&mut id, || self.inner.call(request))
        };
        ResponseFuture::new(future, id, header_name, log)
    }
}
