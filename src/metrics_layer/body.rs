//! [`ResponseBody`]: finishes the record at the end of the body, or as cancelled when dropped.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::record::{Outcome, Record};
use crate::classify::{ClassifyEos, ErrorType};

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
        record: Option<Record>,
        // Set when the policy waits for the end of the stream (gRPC trailers).
        eos: Option<E>,
        // Set when the response head already decided the request failed.
        failure: Option<E::FailureClass>,
    }
}

impl<B: Body, E> ResponseBody<B, E>
where
    E: ClassifyEos,
    E::FailureClass: ErrorType,
{
    pub(crate) fn new(
        inner: B,
        record: Option<Record>,
        eos: Option<E>,
        failure: Option<E::FailureClass>,
    ) -> Self {
        let mut body = Self {
            inner,
            record,
            eos,
            failure,
        };
        // A body that is already at its end may never be polled by the server.
        if body.inner.is_end_stream() {
            finish(&mut body.record, &mut body.eos, &body.failure, None);
        }
        body
    }
}

/// Records the outcome at the end of the stream: the failure the head decided, else the
/// classification of `trailers` if the policy waits for them, else success.
fn finish<E>(
    record: &mut Option<Record>,
    eos: &mut Option<E>,
    failure: &Option<E::FailureClass>,
    trailers: Option<&HeaderMap>,
) where
    E: ClassifyEos,
    E::FailureClass: ErrorType,
{
    let Some(mut record) = record.take() else {
        return;
    };
    if let Some(class) = failure {
        return record.finish(Outcome::Failure(class));
    }
    match eos.take().map(|eos| eos.classify_eos(trailers)) {
        Some(Err(class)) => record.finish(Outcome::Failure(&class)),
        Some(Ok(())) | None => record.finish(Outcome::Success),
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
            None => finish(this.record, this.eos, this.failure, None),
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
                    finish(this.record, this.eos, this.failure, Some(trailers));
                } else if this.inner.is_end_stream() {
                    finish(this.record, this.eos, this.failure, None);
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
