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

impl<A: sealed::Part, B: sealed::Part, C: sealed::Part> sealed::Part for (A, B, C) {}
impl sealed::Classify for Unclassified {}
impl sealed::Verdict for Unclassified {}

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

    /// Each part ends inside the scope of the parts outside it, as the inner of stacked
    /// layers ends inside the outer ones' polls: the metrics part records while the trace
    /// part's span is current (its histogram's exemplar), the trace part ends while the
    /// correlation part's ID is.
    fn end(&mut self, end: End<'_>) {
        let (a, b, c) = self;
        {
            let _outer = (a.enter(), b.enter());
            c.end(end);
        }
        {
            let _outer = a.enter();
            b.end(end);
        }
        a.end(end);
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http::{HeaderMap, Response};
    use http_body::{Body, Frame};
    use http_body_util::BodyExt;

    use super::*;

    /// A part that writes down what it is told.
    struct Recorder {
        name: &'static str,
        log: Rc<RefCell<Vec<String>>>,
        ended: bool,
    }

    impl Recorder {
        fn new(name: &'static str, log: &Rc<RefCell<Vec<String>>>) -> Self {
            Self {
                name,
                log: Rc::clone(log),
                ended: false,
            }
        }

        fn say(&self, what: String) {
            self.log.borrow_mut().push(format!("{} {what}", self.name));
        }
    }

    impl sealed::Part for Recorder {}

    impl Part for Recorder {
        fn enter(&mut self) -> impl Sized + '_ {
            self.say("enter".to_owned());
        }

        fn head<B>(&mut self, response: &mut Response<B>) {
            self.say(format!("head {}", response.status().as_u16()));
        }

        fn trailers(&mut self, trailers: &HeaderMap) {
            self.say(format!("trailers {}", trailers.len()));
        }

        fn end(&mut self, end: End<'_>) {
            self.ended = true;
            self.say(format!("end {end:?}"));
        }
    }

    impl Drop for Recorder {
        fn drop(&mut self) {
            if !self.ended {
                self.say("dropped".to_owned());
            }
        }
    }

    /// Frames, then an error or the end.
    struct Frames(Vec<Result<Frame<Bytes>, &'static str>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = &'static str;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            Poll::Ready((!self.0.is_empty()).then(|| self.0.remove(0)))
        }
    }

    fn ready<T>(poll: Poll<T>) -> T {
        let Poll::Ready(value) = poll else { panic!() };
        value
    }

    fn log() -> Rc<RefCell<Vec<String>>> {
        Rc::default()
    }

    async fn run<B: Body<Data = Bytes>>(
        log: &Rc<RefCell<Vec<String>>>,
        body: B,
    ) -> Result<Bytes, B::Error> {
        let parts = (
            Recorder::new("outer", log),
            Recorder::new("middle", log),
            Recorder::new("inner", log),
        );
        let future = call(parts, Unclassified, || {
            std::future::ready(Ok::<_, Infallible>(Response::new(body)))
        });
        let response = future.await.unwrap();
        response.into_body().collect().await.map(|c| c.to_bytes())
    }

    #[tokio::test]
    async fn parts_hear_of_the_exchange_innermost_first_and_end_once() {
        let log = log();
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let body = Frames(vec![
            Ok(Frame::data(Bytes::from_static(b"a"))),
            Ok(Frame::trailers(trailers)),
        ]);
        assert_eq!(run(&log, body).await.unwrap(), "a");
        let log = log.borrow();
        let after_enters: Vec<_> = log.iter().filter(|l| !l.ends_with("enter")).collect();
        assert_eq!(
            after_enters,
            [
                "inner head 200",
                "middle head 200",
                "outer head 200",
                "inner trailers 1",
                "middle trailers 1",
                "outer trailers 1",
                "inner end Success",
                "middle end Success",
                "outer end Success",
            ]
        );
        // Entered for the call, the future's poll and each poll of the body.
        assert!(log.iter().filter(|l| *l == "outer enter").count() >= 3);
    }

    #[tokio::test]
    async fn a_body_error_ends_the_parts_with_its_type() {
        let log = log();
        let body = Frames(vec![
            Ok(Frame::data(Bytes::from_static(b"a"))),
            Err("broken"),
        ]);
        assert_eq!(run(&log, body).await.unwrap_err(), "broken");
        assert!(
            log.borrow()
                .contains(&"inner end BodyError(\"&str\")".to_owned()),
            "{:?}",
            log.borrow()
        );
    }

    #[tokio::test]
    async fn a_service_error_ends_the_parts_and_a_dropped_body_drops_them() {
        let log = log();
        let future = call(Recorder::new("part", &log), Unclassified, || {
            std::future::ready(Err::<Response<Frames>, _>(std::fmt::Error))
        });
        assert!(future.await.is_err());
        assert_eq!(
            log.borrow().last().unwrap(),
            "part end ServiceError(\"core::fmt::Error\")"
        );

        let log = self::log();
        let future = call(Recorder::new("part", &log), Unclassified, || {
            std::future::ready(Ok::<_, Infallible>(Response::new(Frames(vec![Ok(
                Frame::data(Bytes::from_static(b"a")),
            )]))))
        });
        let body = future.await.unwrap().into_body();
        assert_eq!(format!("{body:?}"), "ResponseBody { .. }");
        drop(body);
        assert_eq!(log.borrow().last().unwrap(), "part dropped");
    }

    #[tokio::test]
    async fn a_future_polled_after_it_completed_passes_the_body_through() {
        /// A future that answers every time it is polled (against the contract).
        struct Always;
        impl std::future::Future for Always {
            type Output = Result<Response<Frames>, Infallible>;
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
                Poll::Ready(Ok(Response::new(Frames(vec![Ok(Frame::data(
                    Bytes::from_static(b"again"),
                ))]))))
            }
        }
        let log = log();
        let mut future = std::pin::pin!(call(Recorder::new("part", &log), Unclassified, || Always));
        assert!(format!("{future:?}").starts_with("ResponseFuture"));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let first = ready(future.as_mut().poll(&mut cx)).unwrap();
        let second = ready(future.as_mut().poll(&mut cx)).unwrap();
        let events = log.borrow().len();
        assert_eq!(
            second.into_body().collect().await.unwrap().to_bytes(),
            "again"
        );
        assert_eq!(
            log.borrow().len(),
            events,
            "no part is told about the second body"
        );
        drop(first);
    }
}
