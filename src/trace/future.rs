//! [`ResponseFuture`]: records the status, classifies the head and hands the span to the body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::ResponseBody;
use super::http_span::HttpSpan;
use crate::classify::{ClassifyResponse, ErrorType, Verdict};

pin_project! {
    /// Response future of [`Trace`](super::Trace) and [`TraceClient`](super::TraceClient).
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: F,
        // Both `None` once the response has been handed on.
        classifier: Option<C>,
        span: Option<HttpSpan>,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn new(inner: F, classifier: C, span: HttpSpan) -> Self {
        Self {
            inner,
            classifier: Some(classifier),
            span: Some(span),
        }
    }

    /// A request the layer does not trace (an excluded path).
    pub(crate) fn untraced(inner: F) -> Self {
        Self {
            inner,
            classifier: None,
            span: None,
        }
    }
}

impl<F, C, B, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    C: ClassifyResponse,
    C::FailureClass: ErrorType,
{
    type Output = Result<Response<ResponseBody<B, C::ClassifyEos>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.span.as_ref().map(HttpSpan::enter);
            ready!(this.inner.poll(cx))
        };
        let (classifier, mut span) = (this.classifier.take(), this.span.take());
        Poll::Ready(match result {
            Ok(response) => {
                let mut verdict = None;
                if let (Some(classifier), Some(span)) = (classifier, span.as_ref()) {
                    span.head(&response);
                    verdict = Some(Verdict::of_head(classifier, &response));
                }
                Ok(response.map(|body| ResponseBody::new(body, span, verdict)))
            }
            Err(err) => {
                if let Some(span) = span.as_mut() {
                    span.fail(std::any::type_name::<E>());
                    span.end();
                }
                Err(err)
            }
        })
    }
}

impl<F, C> std::fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
