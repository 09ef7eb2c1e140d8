//! [`ResponseBody`]: tells the parts how the exchange ended, once.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf as _;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::{End, Part, Settle};
use crate::error_type::{ErrorRef, ErrorTypeFn, error_type_of};

pin_project! {
    /// The response body of this crate's layers.
    ///
    /// Passes every frame through unchanged and polls the inner body with the request's
    /// context current. At the end of the stream it classifies the trailers when the policy
    /// waits for them (gRPC) and records the outcome; on a body error it records the error's
    /// type; dropped before the end, it ends the parts as [`End::Cancelled`], unless the
    /// response has no content by definition (the answer to a HEAD, a 1xx, 204 or 304), whose
    /// body servers drop unread: that ends with the response's own outcome.
    pub struct ResponseBody<B, P: Part, V: Settle> {
        #[pin]
        inner: B,
        // `None` once the outcome is recorded.
        state: Option<(P, V)>,
        bodyless: bool,
        error_types: Option<ErrorTypeFn>,
    }

    impl<B, P: Part, V: Settle> PinnedDrop for ResponseBody<B, P, V> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.bodyless {
                finish(this.state, None);
            } else if let Some((mut part, _)) = this.state.take() {
                part.end(End::Cancelled);
            }
        }
    }
}

impl<B: Body, P: Part, V: Settle> ResponseBody<B, P, V> {
    /// `state` is `None` only for a response future polled again after it completed;
    /// `bodyless` for a response that has no content by definition.
    pub(crate) fn new(
        inner: B,
        state: Option<(P, V)>,
        bodyless: bool,
        error_types: Option<ErrorTypeFn>,
    ) -> Self {
        let mut body = Self {
            inner,
            state,
            bodyless,
            error_types,
        };
        // A body that is already at its end may never be polled by the server.
        if body.inner.is_end_stream() {
            finish(&mut body.state, None);
        }
        body
    }
}

/// At the end of the stream: the trailers to the parts, then the outcome.
fn finish<P: Part, V: Settle>(state: &mut Option<(P, V)>, trailers: Option<&HeaderMap>) {
    let Some((mut part, mut settle)) = state.take() else {
        return;
    };
    if let Some(trailers) = trailers {
        part.trailers(trailers);
    }
    settle.at_end(trailers, |failure| {
        part.end(failure.map_or(End::Success, End::Failure));
    });
}

impl<B, P, V> Body for ResponseBody<B, P, V>
where
    B: Body,
    B::Error: 'static,
    P: Part,
    V: Settle,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = {
            let _entered = this.state.as_mut().map(|(part, _)| part.enter());
            ready!(this.inner.as_mut().poll_frame(cx))
        };
        match &frame {
            None => finish(this.state, None),
            Some(Err(err)) => {
                if let Some((mut part, _)) = this.state.take() {
                    part.end(End::BodyError(error_type_of(
                        &ErrorRef::new(err),
                        *this.error_types,
                    )));
                }
            }
            Some(Ok(frame)) => {
                if let (Some(data), Some((part, _))) = (frame.data_ref(), this.state.as_mut()) {
                    part.data(data.remaining());
                }
                if let Some(trailers) = frame.trailers_ref() {
                    finish(this.state, Some(trailers));
                } else if this.inner.is_end_stream() {
                    finish(this.state, None);
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

impl<B, P: Part, V: Settle> std::fmt::Debug for ResponseBody<B, P, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}
