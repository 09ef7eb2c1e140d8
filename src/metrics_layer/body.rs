//! [`ResponseBody`]: finishes the record at the end of the body, or as cancelled when dropped.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::record::{Outcome, Record};
use crate::classify::{ClassifyEos, ErrorType, Verdict};

pin_project! {
    /// Response body of [`Metrics`](super::Metrics).
    ///
    /// Passes every frame through unchanged. At the end of the stream it classifies the
    /// trailers when the policy asked to wait for them (gRPC) and records the request; on a
    /// body error it records the error's type; dropped before the end, it records
    /// `error.type="cancelled"`.
    pub struct ResponseBody<B, E: ClassifyEos> {
        #[pin]
        inner: B,
        // Both `None` when the request is not recorded.
        record: Option<Record>,
        verdict: Option<Verdict<E>>,
    }
}

impl<B: Body, E> ResponseBody<B, E>
where
    E: ClassifyEos,
    E::FailureClass: ErrorType,
{
    pub(crate) fn new(inner: B, record: Option<Record>, verdict: Option<Verdict<E>>) -> Self {
        let mut body = Self {
            inner,
            record,
            verdict,
        };
        // A body that is already at its end may never be polled by the server.
        if body.inner.is_end_stream() {
            finish(&mut body.record, &mut body.verdict, None);
        }
        body
    }
}

/// Records the outcome at the end of the stream.
fn finish<E>(
    record: &mut Option<Record>,
    verdict: &mut Option<Verdict<E>>,
    trailers: Option<&HeaderMap>,
) where
    E: ClassifyEos,
    E::FailureClass: ErrorType,
{
    let Some(mut record) = record.take() else {
        return;
    };
    match verdict
        .as_mut()
        .and_then(|verdict| verdict.at_end(trailers))
    {
        Some(class) => record.finish(Outcome::Failure(&class)),
        None => record.finish(Outcome::Success),
    }
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
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            None => finish(this.record, this.verdict, None),
            Some(Err(_)) => {
                if let Some(mut record) = this.record.take() {
                    record.finish(Outcome::Error(std::any::type_name::<B::Error>()));
                }
            }
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(record) = this.record.as_mut() {
                        record.grpc_status(trailers);
                    }
                    finish(this.record, this.verdict, Some(trailers));
                } else if this.inner.is_end_stream() {
                    finish(this.record, this.verdict, None);
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
