//! The engine behind every server and client layer of this crate: the request side
//! (each capability's `begin` over one request context) and the one response future and
//! response body.
//!
//! Each capability contributes a *part*: the per-request state of its capability (the
//! correlation ID and access log, the OpenTelemetry span, the metrics record). A layer's
//! `call` builds the request's context, lets each capability `begin` (which returns its part),
//! opens the request's log span once with what they found, and calls the inner service. The
//! part is then told when the inner service is polled, when the response head arrives, when
//! trailers arrive and how the exchange ended, including [`End::Cancelled`] when the future or
//! body is dropped first. [`ResponseFuture`] and [`ResponseBody`] drive any part, or parts
//! nested in pairs ([`Layered`]), so the individual layers and the all-in-one
//! [`TelemetryLayer`](crate::all_in_one::TelemetryLayer) run the same code: the all-in-one layer is
//! one future and one body around three parts, not three wrappers around each other.
//!
//! A *classifier* decides from the response head whether it is a failure, or asks to wait for
//! the trailers (gRPC); the body then tells the parts the outcome once, at the end of the
//! stream.

mod body;
mod future;

pub use self::body::ResponseBody;
pub use self::future::ResponseFuture;

use http::{HeaderMap, Request, Response};
use tower_service::Service;

use crate::request::RequestContext;

/// How an exchange ended, as told to every part once.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum End<'a> {
    /// The body reached its end and the classifier saw no failure.
    Success,
    /// The body reached its end and the classifier called the response a failure; the value
    /// is its bounded `error.type`.
    Failure(&'a str),
    /// The inner service returned an error instead of a response; the value is its
    /// `error.type` ([`error_type_of`](crate::classify::error_type_of)).
    ServiceError(&'static str),
    /// The response body returned an error part-way; the value is its `error.type`.
    BodyError(&'static str),
    /// The response future or body was dropped before the end: the client went away.
    Cancelled,
}

/// The per-request state of one capability. See the module docs.
///
/// Sealed: the parts are this crate's own.
pub trait Part: sealed::Part {
    /// Says, inside the request's log span, what the capability refused of the inbound
    /// request (an invalid correlation ID, a malformed `traceparent`). Called once, right
    /// after the inner service was called.
    fn log_refusals(&self) {}

    /// Offered the request's log span once it is open: a part that enters it while polled
    /// (and ends inside it) keeps it; the others hand it back for the next part.
    fn keep_log_span(&mut self, log_span: tracing::Span) -> Option<tracing::Span> {
        Some(log_span)
    }

    /// Makes the part's context current (the log span entered, the correlation ID in scope,
    /// the OpenTelemetry context attached) while the inner future or body is polled; undone
    /// when the guard drops.
    fn enter(&mut self) -> impl Sized + '_;

    /// The response head arrived; the part may read it and add headers.
    fn head<B>(&mut self, response: &mut Response<B>);

    /// The response trailers arrived.
    fn trailers(&mut self, _trailers: &HeaderMap) {}

    /// A data frame of `len` bytes of the response body went by.
    fn data(&mut self, _len: usize) {}

    /// The exchange ended. Called exactly once.
    fn end(&mut self, end: End<'_>);
}

/// What a capability does as a request arrives: reads (and may change) the request, records
/// what it decided in the context, and returns its part.
pub(crate) trait Begin {
    /// The capability's per-request state.
    type Part: Part;

    fn begin<B>(&self, request: &mut Request<B>, cx: &mut RequestContext) -> Self::Part;

    /// The user's mapping from errors to `error.type`, if the capability has one.
    fn error_types(&self) -> Option<crate::error_type::ErrorTypeFn> {
        None
    }
}

impl<T: Begin> Begin for std::sync::Arc<T> {
    type Part = T::Part;

    fn begin<B>(&self, request: &mut Request<B>, cx: &mut RequestContext) -> Self::Part {
        (**self).begin(request, cx)
    }

    fn error_types(&self) -> Option<crate::error_type::ErrorTypeFn> {
        (**self).error_types()
    }
}

/// Two capabilities, the first outside the second, as stacked layers would be.
impl<O: Begin, I: Begin> Begin for (O, I) {
    type Part = Layered<O::Part, I::Part>;

    fn begin<B>(&self, request: &mut Request<B>, cx: &mut RequestContext) -> Self::Part {
        let outer = self.0.begin(request, cx);
        let inner = self.1.begin(request, cx);
        Layered { outer, inner }
    }

    fn error_types(&self) -> Option<crate::error_type::ErrorTypeFn> {
        self.0.error_types().or_else(|| self.1.error_types())
    }
}

#[allow(unreachable_pub)] // the sealed-trait pattern: nameable by nobody outside this crate
pub(crate) mod sealed {
    pub trait Part {}
    pub trait Classify {}
    pub trait Settle {}
}

/// Two parts, `O` outside `I`, as their layers would stack: events on the way out reach the
/// inner part first. Nest them for more (`Layered<A, Layered<B, C>>`), as tracing-subscriber
/// nests its layers.
#[derive(Debug)]
pub struct Layered<O, I> {
    outer: O,
    inner: I,
}

impl<O: sealed::Part, I: sealed::Part> sealed::Part for Layered<O, I> {}
impl sealed::Classify for Unclassified {}
impl sealed::Settle for Unclassified {}

impl<O: Part, I: Part> Part for Layered<O, I> {
    fn log_refusals(&self) {
        self.outer.log_refusals();
        self.inner.log_refusals();
    }

    fn keep_log_span(&mut self, log_span: tracing::Span) -> Option<tracing::Span> {
        self.outer
            .keep_log_span(log_span)
            .and_then(|log_span| self.inner.keep_log_span(log_span))
    }

    fn enter(&mut self) -> impl Sized + '_ {
        (self.outer.enter(), self.inner.enter())
    }

    fn head<B>(&mut self, response: &mut Response<B>) {
        self.inner.head(response);
        self.outer.head(response);
    }

    fn trailers(&mut self, trailers: &HeaderMap) {
        self.inner.trailers(trailers);
        self.outer.trailers(trailers);
    }

    fn data(&mut self, len: usize) {
        self.inner.data(len);
        self.outer.data(len);
    }

    /// The inner part ends inside the outer part's scope, as the inner of stacked layers ends
    /// inside the outer one's poll: the metrics part records while the trace part's span is
    /// current (its histogram's exemplar), the trace part ends while the correlation part's
    /// ID is.
    fn end(&mut self, end: End<'_>) {
        {
            let _outer = self.outer.enter();
            self.inner.end(end);
        }
        self.outer.end(end);
    }
}

/// Decides from the response head whether the response failed, or defers to the trailers.
///
/// Sealed: implemented for `tower_http` classifiers and for [`Unclassified`].
pub trait Classify: sealed::Classify {
    /// The decision, carried to the end of the body.
    type Settle: Settle;

    /// Classifies the response head.
    fn head<B>(self, response: &Response<B>) -> Self::Settle;
}

/// A classification carried from the head to the end of the body, where it settles.
///
/// Sealed, like [`Classify`].
pub trait Settle: sealed::Settle {
    /// At the end of the stream, with its trailers if any: the `error.type` of a failure, or
    /// `None` for a success. Called at most once.
    fn at_end(&mut self, trailers: Option<&HeaderMap>, end: impl FnOnce(Option<&str>));
}

/// Layers that do not classify (correlation IDs): every complete response is a success.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unclassified;

impl Classify for Unclassified {
    type Settle = Unclassified;

    fn head<B>(self, _response: &Response<B>) -> Self {
        self
    }
}

impl Settle for Unclassified {
    fn at_end(&mut self, _trailers: Option<&HeaderMap>, end: impl FnOnce(Option<&str>)) {
        end(None);
    }
}

#[cfg(any(feature = "trace", feature = "metrics"))]
mod classified {
    use http::{HeaderMap, Response};

    use super::{Classify, Settle};
    use crate::classify::{ClassifyEos, ClassifyResponse, ErrorType, Verdict};

    impl<C> super::sealed::Classify for C
    where
        C: ClassifyResponse,
        C::FailureClass: ErrorType,
    {
    }

    impl<E> super::sealed::Settle for Verdict<E>
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
        type Settle = Verdict<C::ClassifyEos>;

        fn head<B>(self, response: &Response<B>) -> Self::Settle {
            Verdict::of_head(self, response)
        }
    }

    impl<E> Settle for Verdict<E>
    where
        E: ClassifyEos,
        E::FailureClass: ErrorType,
    {
        fn at_end(&mut self, trailers: Option<&HeaderMap>, end: impl FnOnce(Option<&str>)) {
            let failure = Verdict::at_end(self, trailers);
            end(failure.as_ref().map(ErrorType::error_type));
        }
    }
}

/// A layer's `call`: the request's context, the capabilities' `begin`, the log span opened
/// once with what they found, the inner service called with everything entered, and the
/// capabilities' refusals logged inside the span.
#[inline]
// The metrics layers call `call_in`, with the context they prepare.
#[cfg_attr(not(any(feature = "correlation", feature = "trace")), allow(dead_code))]
pub(crate) fn call<K, S, B, C>(
    capabilities: &K,
    classifier: C,
    inner: &mut S,
    request: Request<B>,
) -> ResponseFuture<S::Future, K::Part, C>
where
    K: Begin,
    S: Service<Request<B>>,
{
    call_in(
        RequestContext::new(),
        capabilities,
        classifier,
        inner,
        request,
    )
}

/// [`call`] with a context a layer prepared (a counter of the request body's bytes).
#[inline]
pub(crate) fn call_in<K, S, B, C>(
    mut cx: RequestContext,
    capabilities: &K,
    classifier: C,
    inner: &mut S,
    mut request: Request<B>,
) -> ResponseFuture<S::Future, K::Part, C>
where
    K: Begin,
    S: Service<Request<B>>,
{
    let head_request = request.method() == http::Method::HEAD;
    let mut part = capabilities.begin(&mut request, &mut cx);
    let log_span = cx.open_log_span();
    let inner = {
        let _in_span = log_span.enter();
        let inner = {
            let _entered = part.enter();
            inner.call(request)
        };
        // After the call: layers further in (stacked) have recorded their fields into the log
        // span by now, so a refusal's line carries every ID, stacked or fused.
        part.log_refusals();
        inner
    };
    drop(part.keep_log_span(log_span));
    ResponseFuture::new(
        inner,
        part,
        classifier,
        head_request,
        capabilities.error_types(),
    )
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
    }

    impl Recorder {
        fn new(name: &'static str, log: &Rc<RefCell<Vec<String>>>) -> Self {
            Self {
                name,
                log: Rc::clone(log),
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
            self.say(format!("end {end:?}"));
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

    /// The inner future `make` returns, wrapped as a layer's `call` wraps it.
    fn call<P: Part, F>(
        mut part: P,
        make: impl FnOnce() -> F,
    ) -> ResponseFuture<F, P, Unclassified> {
        let inner = {
            let _entered = part.enter();
            make()
        };
        ResponseFuture::new(inner, part, Unclassified, false, None)
    }

    async fn run<B: Body<Data = Bytes, Error: 'static>>(
        log: &Rc<RefCell<Vec<String>>>,
        body: B,
    ) -> Result<Bytes, B::Error> {
        let parts = Layered {
            outer: Recorder::new("outer", log),
            inner: Layered {
                outer: Recorder::new("middle", log),
                inner: Recorder::new("inner", log),
            },
        };
        let future = call(parts, || {
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
                .contains(&"inner end BodyError(\"_OTHER\")".to_owned()),
            "{:?}",
            log.borrow()
        );
    }

    #[tokio::test]
    async fn a_service_error_ends_the_parts_and_a_dropped_future_or_body_cancels_them() {
        let log = log();
        let future = call(Recorder::new("part", &log), || {
            std::future::ready(Err::<Response<Frames>, _>(std::fmt::Error))
        });
        assert!(future.await.is_err());
        assert_eq!(
            log.borrow().last().unwrap(),
            "part end ServiceError(\"_OTHER\")"
        );

        let log = self::log();
        let future = call(Recorder::new("part", &log), || {
            std::future::ready(Ok::<_, Infallible>(Response::new(Frames(vec![Ok(
                Frame::data(Bytes::from_static(b"a")),
            )]))))
        });
        let body = future.await.unwrap().into_body();
        assert_eq!(format!("{body:?}"), "ResponseBody { .. }");
        drop(body);
        assert_eq!(log.borrow().last().unwrap(), "part end Cancelled");

        let log = self::log();
        let future = call(
            Recorder::new("part", &log),
            std::future::pending::<Result<Response<Frames>, Infallible>>,
        );
        assert_eq!(format!("{future:?}"), "ResponseFuture { .. }");
        drop(future);
        assert_eq!(
            log.borrow()
                .iter()
                .filter(|l| l.contains("end"))
                .collect::<Vec<_>>(),
            ["part end Cancelled"],
            "ended once, as cancelled"
        );
    }

    #[tokio::test]
    async fn a_bodyless_response_dropped_unread_ends_as_it_says() {
        let body = || Frames(vec![Ok(Frame::data(Bytes::from_static(b"dropped")))]);
        for (head_request, status, end) in [
            (true, 200, "part end Success"),
            (false, 204, "part end Success"),
            (false, 304, "part end Success"),
            (false, 200, "part end Cancelled"),
        ] {
            let log = log();
            let response = Response::builder().status(status).body(body()).unwrap();
            let future = ResponseFuture::new(
                std::future::ready(Ok::<_, Infallible>(response)),
                Recorder::new("part", &log),
                Unclassified,
                head_request,
                None,
            );
            drop(future.await.unwrap());
            assert_eq!(log.borrow().last().unwrap(), end, "{head_request} {status}");
        }
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
        let mut future = std::pin::pin!(call(Recorder::new("part", &log), || Always));
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
