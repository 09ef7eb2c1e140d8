//! [`ResponseBody`]: writes the access log when the body ends or is dropped.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::access_log::{Outcome, RequestLog};

pin_project! {
    /// Response body of [`Correlation`](super::Correlation).
    ///
    /// It passes every frame through unchanged, polls the inner body inside the request span
    /// (so events from a streaming body carry the correlation ID), and writes the access log
    /// at the end of the stream, on a body error, or when dropped before the end.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        log: RequestLog,
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn new(inner: B, mut log: RequestLog) -> Self {
        // A body that is already at its end may never be polled by the server.
        if inner.is_end_stream() {
            log.finish(Outcome::Completed);
        }
        Self { inner, log }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = {
            let _entered = this.log.span().enter();
            ready!(this.inner.as_mut().poll_frame(cx))
        };
        match &frame {
            None => this.log.finish(Outcome::Completed),
            Some(Err(_)) => this.log.finish(Outcome::BodyFailed),
            Some(Ok(_)) if this.inner.is_end_stream() => this.log.finish(Outcome::Completed),
            Some(Ok(_)) => {}
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
