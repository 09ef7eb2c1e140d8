//! [`OperationLayer`]: duration and outcome of a named operation, for any `tower::Service`.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use ::metrics::{Histogram, Unit};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::labels::{LabelSets, Outcome, Values};
use super::layer::DEFAULT_MAX_LABEL_SETS;
use super::record::CANCELLED;
use crate::classify::{ClassifyOutcome, Failure, OnlyErrors};
use crate::error_type::{ErrorRef, ErrorTypeFn, error_type_of};

const DURATION: &str = crate::semconv::metric::OPERATION_DURATION.name;

/// Records `operation.duration` (seconds, labelled `operation`, and `error.type` on failures)
/// for every call of the wrapped service: a background job, an outbound call, a route.
///
/// Works on any `tower::Service<Req>`. By default a call is a failure when it returns `Err`;
/// [`classifier`](Self::classifier) can also call some `Ok` responses failures. A call whose
/// future is dropped before it completes is recorded with `error.type="cancelled"`.
///
/// ```
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use tower_telemetry::metrics::OperationLayer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // A background job as a service: `billing.sync` gets a latency histogram and success rate.
/// let sync = ServiceBuilder::new()
///     .layer(OperationLayer::new("billing.sync"))
///     .service(service_fn(|batch: u32| async move {
///         if batch % 10 == 0 { Err("ledger unavailable") } else { Ok(batch) }
///     }));
/// assert_eq!(sync.oneshot(7).await, Ok(7));
/// # }
/// ```
#[derive(Debug)]
#[must_use]
pub struct OperationLayer<C = OnlyErrors> {
    shared: Arc<OperationShared>,
    classifier: C,
}

impl<C: Clone> Clone for OperationLayer<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            classifier: self.classifier.clone(),
        }
    }
}

#[derive(Debug)]
struct OperationShared {
    name: Cow<'static, str>,
    /// `[operation, error.type]`.
    durations: LabelSets<2, Histogram>,
    /// The user's names for errors, before the built-in ones.
    error_types: Option<ErrorTypeFn>,
}

impl OperationShared {
    fn new(name: Cow<'static, str>, error_types: Option<ErrorTypeFn>) -> Arc<Self> {
        Arc::new(Self {
            name,
            durations: LabelSets::new(
                DURATION,
                ["operation", "error.type"],
                DEFAULT_MAX_LABEL_SETS,
            ),
            error_types,
        })
    }
}

impl OperationLayer {
    /// Records the operation `name` (for example `auth.login`, `billing.sync`,
    /// `ai.request`); `Err` results are failures.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        ::metrics::describe_histogram!(
            DURATION,
            Unit::Seconds,
            "Duration of named operations, labelled with their outcome."
        );
        Self {
            shared: OperationShared::new(name.into(), None),
            classifier: OnlyErrors,
        }
    }
}

impl<C> OperationLayer<C> {
    /// Sets which successful responses count as failures, and with which `error.type`.
    ///
    /// Defaults to [`OnlyErrors`]: every `Ok` is a success.
    pub fn classifier<D>(self, classifier: D) -> OperationLayer<D> {
        OperationLayer {
            shared: self.shared,
            classifier,
        }
    }

    /// Sets the user's names for the errors the operation returns (`error.type`), tried
    /// before the built-in ones ([`error_type_of`](crate::classify::error_type_of) lists
    /// them); `None` from the function leaves an error to them.
    ///
    /// ```
    /// use tower_telemetry::classify::ErrorRef;
    /// use tower_telemetry::metrics::OperationLayer;
    ///
    /// #[derive(Debug)]
    /// enum LedgerError { Unavailable, Rejected }
    /// # impl std::fmt::Display for LedgerError {
    /// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") }
    /// # }
    /// impl std::error::Error for LedgerError {}
    ///
    /// let layer = OperationLayer::new("billing.sync").error_types(|error: &ErrorRef<'_>| {
    ///     error.downcast_ref::<LedgerError>().map(|error| match error {
    ///         LedgerError::Unavailable => "ledger_unavailable",
    ///         LedgerError::Rejected => "ledger_rejected",
    ///     })
    /// });
    /// ```
    pub fn error_types(self, error_types: ErrorTypeFn) -> Self {
        Self {
            shared: OperationShared::new(self.shared.name.clone(), Some(error_types)),
            classifier: self.classifier,
        }
    }
}

impl<S, C: Clone> Layer<S> for OperationLayer<C> {
    type Service = Operation<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Operation {
            inner,
            shared: Arc::clone(&self.shared),
            classifier: self.classifier.clone(),
        }
    }
}

/// Middleware that records a named operation. Made by [`OperationLayer`].
#[derive(Debug)]
pub struct Operation<S, C = OnlyErrors> {
    inner: S,
    shared: Arc<OperationShared>,
    classifier: C,
}

impl<S: Clone, C: Clone> Clone for Operation<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S, C> Operation<S, C> {
    define_inner_service_accessors!();
}

impl<S, C, Req> Service<Req> for Operation<S, C>
where
    S: Service<Req>,
    S::Error: 'static,
    C: ClassifyOutcome<S::Response> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = OperationFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        OperationFuture {
            inner: self.inner.call(request),
            shared: Arc::clone(&self.shared),
            start: Instant::now(),
            classifier: Some(self.classifier.clone()),
        }
    }
}

pin_project! {
    /// Response future of [`Operation`]: records the call once, when it completes, or as
    /// cancelled when dropped first.
    pub struct OperationFuture<F, C> {
        #[pin]
        inner: F,
        shared: Arc<OperationShared>,
        start: Instant,
        // `None` once the call is recorded.
        classifier: Option<C>,
    }

    impl<F, C> PinnedDrop for OperationFuture<F, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.classifier.take().is_some() {
                record(this.shared, *this.start, Some(CANCELLED));
            }
        }
    }
}

impl<F, C, R, E> Future for OperationFuture<F, C>
where
    F: Future<Output = Result<R, E>>,
    E: 'static,
    C: ClassifyOutcome<R>,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        // The classifier stays until it has decided: one that panics leaves the call to the
        // drop, which records it as cancelled.
        let error_type = match (&result, this.classifier.as_ref()) {
            (_, None) => return Poll::Ready(result),
            (Ok(response), Some(classifier)) => classifier.classify_outcome(response),
            (Err(error), Some(_)) => Some(Failure::Named(error_type_of(
                &ErrorRef::new(error),
                this.shared.error_types,
            ))),
        };
        *this.classifier = None;
        record(
            this.shared,
            *this.start,
            error_type.as_ref().map(Failure::as_str),
        );
        Poll::Ready(result)
    }
}

impl<F, C> std::fmt::Debug for OperationFuture<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperationFuture")
            .field("operation", &self.shared.name)
            .finish_non_exhaustive()
    }
}

/// Records one call of the operation.
fn record(shared: &OperationShared, start: Instant, error_type: Option<&str>) {
    let elapsed = start.elapsed().as_secs_f64();
    shared
        .durations
        .get(
            &Values([Some(&shared.name), error_type]),
            Outcome::of(error_type),
            |labels| ::metrics::histogram!(DURATION, labels),
        )
        .record(elapsed);
}

#[cfg(test)]
mod tests {
    use std::panic::AssertUnwindSafe;
    use std::task::Waker;

    use tower::{ServiceExt, service_fn};

    use super::*;

    #[test]
    fn a_call_whose_classifier_panics_is_recorded_once_as_cancelled() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        ::metrics::with_local_recorder(&recorder, || {
            let service = OperationLayer::new("panics")
                .classifier(|_: &u8| -> Option<Failure> { panic!("classifier failure") })
                .layer(service_fn(|_: ()| async {
                    Ok::<u8, std::convert::Infallible>(1)
                }));
            let mut future = Box::pin(service.oneshot(()));
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let _ = future
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()));
            }));
            assert!(polled.is_err(), "the classifier's panic reaches the caller");
            drop(future);
        });
        let text = handle.render();
        assert!(
            text.contains(
                r#"operation_duration_count{operation="panics",error_type="cancelled"} 1"#
            ),
            "{text}"
        );
    }
}
