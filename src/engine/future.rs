//! [`ResponseFuture`]: tells the parts about the response head and hands them to the body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::{Classify, End, Part, ResponseBody};
use crate::error_type::{ErrorRef, ErrorTypeFn, error_type_of};

pin_project! {
    /// The response future of this crate's layers: polls the inner future with the request's
    /// context current, then passes the response on with its body wrapped in
    /// [`ResponseBody`]. Dropped before the response, it ends the parts as
    /// [`End::Cancelled`].
    pub struct ResponseFuture<F, P: Part, C> {
        #[pin]
        inner: F,
        // `None` once the response has been handed on, or the exchange ended.
        part: Option<P>,
        classifier: Option<C>,
        // The request was a HEAD: its response has no body, whatever the head says.
        head_request: bool,
        error_types: Option<ErrorTypeFn>,
    }

    impl<F, P: Part, C> PinnedDrop for ResponseFuture<F, P, C> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(mut part) = this.project().part.take() {
                part.end(End::Cancelled);
            }
        }
    }
}

impl<F, P: Part, C> ResponseFuture<F, P, C> {
    /// `error_types` names the errors of the service and the body before the built-in names.
    pub(crate) fn new(
        inner: F,
        part: P,
        classifier: C,
        head_request: bool,
        error_types: Option<ErrorTypeFn>,
    ) -> Self {
        Self {
            inner,
            part: Some(part),
            classifier: Some(classifier),
            head_request,
            error_types,
        }
    }
}

impl<F, P, C, B, E> Future for ResponseFuture<F, P, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    E: 'static,
    P: Part,
    C: Classify,
{
    type Output = Result<Response<ResponseBody<B, P, C::Settle>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.part.as_mut().map(Part::enter);
            ready!(this.inner.poll(cx))
        };
        Poll::Ready(match result {
            Ok(mut response) => {
                // The parts stay here until the classifier has decided: a classifier that
                // panics leaves them to the drop, which ends them as cancelled.
                let settle = match (this.part.as_mut(), this.classifier.take()) {
                    (Some(part), Some(classifier)) => {
                        part.head(&mut response);
                        Some(classifier.head(&response))
                    }
                    _ => None,
                };
                let state = this.part.take().zip(settle);
                // RFC 9110, 6.4.1: responses to HEAD, 1xx, 204 and 304 have no content, and
                // servers drop such a body unread.
                let status = response.status();
                let bodyless = *this.head_request
                    || status.is_informational()
                    || status == http::StatusCode::NO_CONTENT
                    || status == http::StatusCode::NOT_MODIFIED;
                let error_types = *this.error_types;
                Ok(response.map(|body| ResponseBody::new(body, state, bodyless, error_types)))
            }
            Err(err) => {
                if let Some(mut part) = this.part.take() {
                    let error_type = error_type_of(&ErrorRef::new(&err), *this.error_types);
                    part.end(End::ServiceError(error_type));
                }
                Err(err)
            }
        })
    }
}

impl<F, P: Part, C> std::fmt::Debug for ResponseFuture<F, P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
