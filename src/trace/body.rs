//! [`ResponseBody`]: ends the span when the body ends or is dropped.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::http_span::HttpSpan;
use crate::classify::{ClassifyEos, ErrorType, Verdict};

pin_project! {
    /// Response body of [`Trace`](super::Trace) and [`TraceClient`](super::TraceClient).
    ///
    /// Passes every frame through unchanged, polls the inner body with the request's spans
    /// current, and ends the span at the end of the stream (classifying the trailers when the
    /// policy waits for them, as gRPC's does), on a body error, or when dropped before the end
    /// (recorded as `error.type = "cancelled"`).
    pub struct ResponseBody<B, E: ClassifyEos> {
        #[pin]
        inner: B,
        // Both `None` when the request is not traced.
        span: Option<HttpSpan>,
        verdict: Option<Verdict<E>>,
    }
}

impl<B, E> ResponseBody<B, E>
where
    B: Body,
    E: ClassifyEos,
    E::FailureClass: ErrorType,
{
    pub(crate) fn new(inner: B, span: Option<HttpSpan>, verdict: Option<Verdict<E>>) -> Self {
        let mut body = Self {
            inner,
            span,
            verdict,
        };
        // A body that is already at its end may never be polled by the server.
        if body.inner.is_end_stream() {
            end(&mut body.span, &mut body.verdict, None);
        }
        body
    }
}

/// Ends the span at the end of the stream, failed if the response is a failure.
fn end<E>(
    span: &mut Option<HttpSpan>,
    verdict: &mut Option<Verdict<E>>,
    trailers: Option<&HeaderMap>,
) where
    E: ClassifyEos,
    E::FailureClass: ErrorType,
{
    let Some(mut span) = span.take() else {
        return;
    };
    if let Some(class) = verdict
        .as_mut()
        .and_then(|verdict| verdict.at_end(trailers))
    {
        span.fail(class.error_type());
    }
    span.end();
}

impl<B, E> Body for ResponseBody<B, E>
where
    B: Body,
    E: ClassifyEos,
    E::FailureClass: ErrorType,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = {
            let _entered = this.span.as_ref().map(HttpSpan::enter);
            ready!(this.inner.as_mut().poll_frame(cx))
        };
        match &frame {
            None => end(this.span, this.verdict, None),
            Some(Err(_)) => {
                if let Some(mut span) = this.span.take() {
                    span.fail(std::any::type_name::<B::Error>());
                    span.end();
                }
            }
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(span) = this.span.as_ref() {
                        span.grpc_status(trailers);
                    }
                    end(this.span, this.verdict, Some(trailers));
                } else if this.inner.is_end_stream() {
                    end(this.span, this.verdict, None);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B, E: ClassifyEos> std::fmt::Debug for ResponseBody<B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}
