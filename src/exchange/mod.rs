//! The one response future and response body behind every server and client layer of this
//! crate.
//!
//! Each layer contributes a *part*: the per-request state of its capability (the correlation
//! ID and access log, the OpenTelemetry span, the metrics record). A part is told when the
//! inner service is polled, when the response head arrives, when trailers arrive and how the
//! exchange ended; if it is dropped before the end, its own `Drop` records the cancellation.
//! [`ResponseFuture`] and [`ResponseBody`] drive any part, or a tuple of parts, so the
//! individual layers and the all-in-one [`TelemetryLayer`](crate::stack::TelemetryLayer) run
//! the same code: the all-in-one layer is one future and one body around three parts, not
//! three wrappers around each other.
//!
//! A *classifier* decides from the response head whether it is a failure, or asks to wait for
//! the trailers (gRPC); the body then tells the parts the outcome once, at the end of the
//! stream.

mod body;
mod future;

pub use self::body::ResponseBody;
pub use self::future::ResponseFuture;

use http::{HeaderMap, Response};

/// How an exchange ended, as told to every part once.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum End<'a> {
    /// The body reached its end and the classifier saw no failure.
    Success,
    /// The body reached its end and the classifier called the response a failure; the value
    /// is its bounded `error.type`.
    Failure(&'a str),
    /// The inner service returned an error (its type name) instead of a response.
    ServiceError(&'static str),
    /// The response body returned an error (its type name) part-way.
    BodyError(&'static str),
}

/// The per-request state of one capability. See the module docs.
///
/// Sealed: the parts are this crate's own.
pub trait Part: sealed::Part {
    /// Makes the part's context current (spans entered, correlation ID in scope) while the
    /// inner future or body is polled; undone when the guard drops.
    fn enter(&mut self) -> impl Sized + '_;

    /// The response head arrived; the part may read it and add headers.
    fn head<B>(&mut self, response: &mut Response<B>);

    /// The response trailers arrived.
    fn trailers(&mut self, _trailers: &HeaderMap) {}

    /// The exchange ended. Called at most once; a part dropped without it was cancelled.
    fn end(&mut self, end: End<'_>);
}

#[allow(unreachable_pub)] // the sealed-trait pattern: nameable by nobody outside this crate
pub(crate) mod sealed {
    pub trait Part {}
    pub trait Classify {}
    pub trait Verdict {}
}

impl<P: sealed::Part> sealed::Part for Option<P> {}
impl<A: sealed::Part, B: sealed::Part, C: sealed::Part> sealed::Part for (A, B, C) {}
impl sealed::Classify for Unclassified {}
impl sealed::Verdict for Unclassified {}

/// A layer that excludes some requests (probe paths) carries no part for them.
impl<P: Part> Part for Option<P> {
    fn enter(&mut self) -> impl Sized + '_ {
        self.as_mut().map(P::enter)
    }

    fn head<B>(&mut self, response: &mut Response<B>) {
        if let Some(part) = self {
            part.head(response);
        }
    }

    fn trailers(&mut self, trailers: &HeaderMap) {
        if let Some(part) = self {
            part.trailers(trailers);
        }
    }

    fn end(&mut self, end: End<'_>) {
        if let Some(part) = self {
            part.end(end);
        }
    }
}

/// Parts in layer order, outermost first. Events on the way out reach the innermost part
/// first, as they would through stacked layers.
impl<A: Part, B: Part, C: Part> Part for (A, B, C) {
    fn enter(&mut self) -> impl Sized + '_ {
        let (a, b, c) = self;
        (a.enter(), b.enter(), c.enter())
    }

    fn head<Body>(&mut self, response: &mut Response<Body>) {
        self.2.head(response);
        self.1.head(response);
        self.0.head(response);
    }

    fn trailers(&mut self, trailers: &HeaderMap) {
        self.2.trailers(trailers);
        self.1.trailers(trailers);
        self.0.trailers(trailers);
    }

    fn end(&mut self, end: End<'_>) {
        self.2.end(end);
        self.1.end(end);
        self.0.end(end);
    }
}

/// Decides from the response head whether the response failed, or defers to the trailers.
///
/// Sealed: implemented for `tower_http` classifiers and for [`Unclassified`].
pub trait Classify: sealed::Classify {
    /// The decision, carried to the end of the body.
    type Verdict: Verdict;

    /// Classifies the response head.
    fn head<B>(self, response: &Response<B>) -> Self::Verdict;
}

/// A classification carried from the head to the end of the body.
///
/// Sealed, like [`Classify`].
pub trait Verdict: sealed::Verdict {
    /// At the end of the stream, with its trailers if any: the `error.type` of a failure, or
    /// `None` for a success. Called at most once.
    fn at_end(&mut self, trailers: Option<&HeaderMap>, end: impl FnOnce(Option<&str>));
}

/// Layers that do not classify (correlation IDs): every complete response is a success.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unclassified;

impl Classify for Unclassified {
    type Verdict = Unclassified;

    fn head<B>(self, _response: &Response<B>) -> Self {
        self
    }
}

impl Verdict for Unclassified {
    fn at_end(&mut self, _trailers: Option<&HeaderMap>, end: impl FnOnce(Option<&str>)) {
        end(None);
    }
}

#[cfg(any(feature = "trace", feature = "metrics"))]
mod classified {
    use http::{HeaderMap, Response};

    use super::{Classify, Verdict};
    use crate::classify::{ClassifyEos, ClassifyResponse, ErrorType};

    impl<C> super::sealed::Classify for C
    where
        C: ClassifyResponse,
        C::FailureClass: ErrorType,
    {
    }

    impl<E> super::sealed::Verdict for crate::classify::Verdict<E>
    where
        E: ClassifyEos,
        E::FailureClass: ErrorType,
    {
    }

    impl<C> Classify for C
    where
        C: ClassifyResponse,
        C::FailureClass: ErrorType,
    {
        type Verdict = crate::classify::Verdict<C::ClassifyEos>;

        fn head<B>(self, response: &Response<B>) -> Self::Verdict {
            crate::classify::Verdict::of_head(self, response)
        }
    }

    impl<E> Verdict for crate::classify::Verdict<E>
    where
        E: ClassifyEos,
        E::FailureClass: ErrorType,
    {
        fn at_end(&mut self, trailers: Option<&HeaderMap>, end: impl FnOnce(Option<&str>)) {
            let failure = crate::classify::Verdict::at_end(self, trailers);
            end(failure.as_ref().map(ErrorType::error_type));
        }
    }
}

/// Calls the inner service with the part entered, and wraps its future.
pub(crate) fn call<P: Part, C, F>(
    mut part: P,
    classifier: C,
    call: impl FnOnce() -> F,
) -> ResponseFuture<F, P, C> {
    let inner = {
        let _entered = part.enter();
        call()
    };
    ResponseFuture::new(inner, part, classifier)
}
