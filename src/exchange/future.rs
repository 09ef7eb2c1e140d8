//! [`ResponseFuture`]: tells the parts about the response head and hands them to the body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::{Classify, End, Part, ResponseBody};

pin_project! {
    /// The response future of this crate's layers: polls the inner future with the request's
    /// context current, then passes the response on with its body wrapped in
    /// [`ResponseBody`].
    pub struct ResponseFuture<F, P, C> {
        #[pin]
        inner: F,
        // Both `None` once the response has been handed on.
        part: Option<P>,
        classifier: Option<C>,
    }
}

impl<F, P, C> ResponseFuture<F, P, C> {
    pub(crate) fn new(inner: F, part: P, classifier: C) -> Self {
        Self {
            inner,
            part: Some(part),
            classifier: Some(classifier),
        }
    }
}

impl<F, P, C, B, E> Future for ResponseFuture<F, P, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    P: Part,
    C: Classify,
{
    type Output = Result<Response<ResponseBody<B, P, C::Verdict>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.part.as_mut().map(Part::enter);
            ready!(this.inner.poll(cx))
        };
        let mut part = this.part.take();
        Poll::Ready(match result {
            Ok(mut response) => {
                let state = part
                    .zip(this.classifier.take())
                    .map(|(mut part, classifier)| {
                        part.head(&mut response);
                        (part, classifier.head(&response))
                    });
                Ok(response.map(|body| ResponseBody::new(body, state)))
            }
            Err(err) => {
                if let Some(part) = part.as_mut() {
                    part.end(End::ServiceError(std::any::type_name::<E>()));
                }
                Err(err)
            }
        })
    }
}

impl<F, P, C> std::fmt::Debug for ResponseFuture<F, P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
