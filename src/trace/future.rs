//! [`ResponseFuture`]: records the status and hands the span to the body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::ResponseBody;
use super::http_span::{End, HttpSpan};

pin_project! {
    /// Response future of [`Trace`](super::Trace).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // `None` once the response has been handed on.
        span: Option<HttpSpan>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, span: HttpSpan) -> Self {
        Self {
            inner,
            span: Some(span),
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
        let result = {
            let _entered = this.span.as_ref().map(HttpSpan::enter);
            ready!(this.inner.poll(cx))
        };
        let mut span = this.span.take();
        Poll::Ready(match result {
            Ok(response) => {
                if let Some(span) = span.as_mut() {
                    span.response(response.status());
                }
                Ok(response.map(|body| ResponseBody::new(body, span)))
            }
            Err(err) => {
                if let Some(mut span) = span {
                    span.end(End::Failed(std::any::type_name::<E>()));
                }
                Err(err)
            }
        })
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
