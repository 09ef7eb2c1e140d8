//! [`ResponseFuture`]: classifies the response head and hands the record to the body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::ResponseBody;
use super::record::{Outcome, Record};
use crate::classify::{ClassifyResponse, ErrorType, Verdict};

pin_project! {
    /// Response future of [`Metrics`](super::Metrics).
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: F,
        // Both `None` once the response has been handed on.
        classifier: Option<C>,
        record: Option<Record>,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn new(inner: F, classifier: C, record: Record) -> Self {
        Self {
            inner,
            classifier: Some(classifier),
            record: Some(record),
        }
    }

    /// A request the layer does not record (an excluded path).
    pub(crate) fn unrecorded(inner: F) -> Self {
        Self {
            inner,
            classifier: None,
            record: None,
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
        let result = ready!(this.inner.poll(cx));
        let (classifier, mut record) = (this.classifier.take(), this.record.take());
        Poll::Ready(match result {
            Ok(response) => {
                let mut verdict = None;
                if let (Some(classifier), Some(record)) = (classifier, record.as_mut()) {
                    record.head(response.status());
                    record.grpc_status(response.headers());
                    // Decided by the head or not, the measurement waits for the end of the body.
                    verdict = Some(Verdict::of_head(classifier, &response));
                }
                Ok(response.map(|body| ResponseBody::new(body, record, verdict)))
            }
            Err(err) => {
                if let Some(mut record) = record {
                    record.finish(Outcome::Error(std::any::type_name::<E>()));
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
