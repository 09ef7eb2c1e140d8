//! [`ResponseBody`]: ends the span when the body ends or is dropped.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::http_span::{End, HttpSpan};

pin_project! {
    /// Response body of [`Trace`](super::Trace).
    ///
    /// Passes every frame through unchanged, polls the inner body with the request's spans
    /// current, and ends the server span at the end of the stream, on a body error, or when
    /// dropped before the end (recorded as `error.type = "cancelled"`).
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        span: Option<HttpSpan>,
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn new(inner: B, mut span: Option<HttpSpan>) -> Self {
        // A body that is already at its end may never be polled by the server.
        if let Some(span) = span.as_mut().filter(|_| inner.is_end_stream()) {
            span.end(End::Completed);
        }
        Self { inner, span }
    }
}

impl<B: Body> Body for ResponseBody<B> {
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
        if let Some(span) = this.span.as_mut() {
            match &frame {
                None => span.end(End::Completed),
                Some(Err(_)) => span.end(End::Failed(std::any::type_name::<B::Error>())),
                Some(Ok(_)) if this.inner.is_end_stream() => span.end(End::Completed),
                Some(Ok(_)) => {}
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

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}
