//! [`ResponseFuture`]: echoes the ID and hands the request log to the body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderName, Response};
use pin_project_lite::pin_project;

use super::access_log::{Outcome, RequestLog};
use super::scope::with_current;
use super::{CorrelationId, ResponseBody};

pin_project! {
    /// Response future of [`Correlation`](super::Correlation).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // Moved into the thread-local for the length of each poll, back here between polls.
        id: Option<CorrelationId>,
        header_name: HeaderName,
        // `None` once the response has been handed on.
        log: Option<RequestLog>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        id: Option<CorrelationId>,
        header_name: HeaderName,
        log: RequestLog,
    ) -> Self {
        Self {
            inner,
            id,
            header_name,
            log: Some(log),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let result = {
            let _entered = this.log.as_ref().map(|log| log.span().enter());
            ready!(with_current(this.id, || inner.poll(cx)))
        };
        let mut log = this.log.take().unwrap_or_else(RequestLog::none);
        Poll::Ready(match result {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                if let Some(id) = this.id.as_ref() {
                    parts
                        .headers
                        .insert(this.header_name.clone(), id.header_value().clone());
                }
                log.set_status(parts.status);
                Ok(Response::from_parts(parts, ResponseBody::new(body, log)))
            }
            Err(err) => {
                log.finish(Outcome::Failed);
                Err(err)
            }
        })
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
