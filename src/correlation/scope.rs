//! The correlation ID of the request being handled, scoped to the task that handles it.
//!
//! [`CorrelationLayer`](super::CorrelationLayer) makes its request's ID current while it polls
//! the inner service, so code deep inside a handler (and [`CorrelationClientLayer`] on an
//! outbound call) finds it with [`CorrelationId::current`] without any plumbing.
//!
//! [`CorrelationClientLayer`]: super::CorrelationClientLayer
//!
//! This is a thread-local slot that a future fills for the length of each of its polls, the
//! same technique as `tokio::task_local!` and OpenTelemetry's `Context::attach`. It is written
//! here rather than taken from tokio because tokio's `LocalKey::sync_scope` panics when it
//! meets a borrowed slot, and a layer must never panic; this slot is a `Cell`, so it cannot.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::CorrelationId;

thread_local! {
    static CURRENT: Cell<Option<CorrelationId>> = const { Cell::new(None) };
}

/// Makes the ID in `slot` current until the guard drops, then puts it back in `slot`.
///
/// The ID moves into the thread-local and back out, so entering costs no clone.
pub(crate) fn enter(slot: &mut Option<CorrelationId>) -> Current<'_> {
    // `Err`: the thread is being torn down and its locals are gone: run without a current ID.
    let previous = CURRENT.try_with(|current| current.replace(slot.take()));
    Current { slot, previous }
}

/// The guard of [`enter`].
pub(crate) struct Current<'a> {
    slot: &'a mut Option<CorrelationId>,
    previous: Result<Option<CorrelationId>, std::thread::AccessError>,
}

impl Drop for Current<'_> {
    fn drop(&mut self) {
        if let Ok(previous) = &mut self.previous {
            let previous = previous.take();
            if let Ok(ours) = CURRENT.try_with(|current| current.replace(previous)) {
                *self.slot = ours;
            }
        }
    }
}

/// Runs `f` with the ID in `slot` made current, then puts it back in `slot`.
pub(crate) fn with_current<R>(slot: &mut Option<CorrelationId>, f: impl FnOnce() -> R) -> R {
    let _current = enter(slot);
    f()
}

impl CorrelationId {
    /// The correlation ID of the request being handled on this task, if any.
    ///
    /// Inside a request behind [`CorrelationLayer`](super::CorrelationLayer) this is that
    /// request's ID, in the handler and in everything it awaits. A task spawned from the handler
    /// starts without one: carry it over with
    /// [`with_current_correlation_id`](CorrelationFutureExt::with_current_correlation_id).
    ///
    /// ```
    /// use tower_telemetry::correlation::CorrelationId;
    ///
    /// assert_eq!(CorrelationId::current(), None);
    /// let id: CorrelationId = "job-42".parse().unwrap();
    /// id.in_scope(|| assert_eq!(CorrelationId::current().unwrap().as_str(), "job-42"));
    /// ```
    pub fn current() -> Option<CorrelationId> {
        CURRENT
            .try_with(|current| {
                let id = current.take();
                let copy = id.clone();
                current.set(id);
                copy
            })
            .ok()
            .flatten()
    }

    /// Runs a closure with this ID current.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        with_current(&mut Some(self.clone()), f)
    }

    /// Wraps a future so that this ID is current whenever it runs.
    ///
    /// Use it for work that outlives or leaves the request's task, such as a background job
    /// that should carry the ID of the request that started it.
    pub fn scope<F: Future>(self, future: F) -> WithCorrelationId<F> {
        WithCorrelationId {
            id: Some(self),
            inner: future,
        }
    }
}

pin_project! {
    /// A future with a correlation ID made current while it is polled.
    ///
    /// Made by [`CorrelationId::scope`] and
    /// [`CorrelationFutureExt::with_current_correlation_id`].
    #[derive(Debug)]
    pub struct WithCorrelationId<F> {
        id: Option<CorrelationId>,
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for WithCorrelationId<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        with_current(this.id, || inner.poll(cx))
    }
}

/// Carries the current correlation ID into futures that run elsewhere.
///
/// ```
/// use tower_telemetry::correlation::{CorrelationFutureExt, CorrelationId};
/// use tracing::Instrument;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let id: CorrelationId = "req-1".parse().unwrap();
/// # id.scope(async {
/// // Inside a handler: the spawned task keeps the request's ID for outbound calls
/// // (`with_current_correlation_id`) and for its log lines (`in_current_span`).
/// let task = tokio::spawn(
///     async { CorrelationId::current() }
///         .with_current_correlation_id()
///         .in_current_span(),
/// );
/// assert_eq!(task.await.unwrap().unwrap().as_str(), "req-1");
/// # }).await;
/// # }
/// ```
pub trait CorrelationFutureExt: Future + Sized {
    /// Wraps the future so that the correlation ID current now is current whenever it runs.
    ///
    /// Outside any request the future runs with no current ID.
    fn with_current_correlation_id(self) -> WithCorrelationId<Self> {
        WithCorrelationId {
            id: CorrelationId::current(),
            inner: self,
        }
    }
}

impl<F: Future> CorrelationFutureExt for F {}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> CorrelationId {
        s.parse().unwrap()
    }

    #[test]
    fn scopes_nest_and_restore() {
        assert_eq!(CorrelationId::current(), None);
        id("outer").in_scope(|| {
            assert_eq!(CorrelationId::current(), Some(id("outer")));
            id("inner").in_scope(|| {
                assert_eq!(CorrelationId::current(), Some(id("inner")));
            });
            assert_eq!(CorrelationId::current(), Some(id("outer")));
        });
        assert_eq!(CorrelationId::current(), None);
    }

    #[test]
    fn restored_even_when_the_closure_panics() {
        let result = std::panic::catch_unwind(|| id("boom").in_scope(|| panic!("inside")));
        assert!(result.is_err());
        assert_eq!(CorrelationId::current(), None);
    }

    #[test]
    fn with_current_moves_the_id_back() {
        let mut slot = Some(id("moved"));
        with_current(&mut slot, || {
            assert_eq!(CorrelationId::current(), Some(id("moved")));
        });
        assert_eq!(slot, Some(id("moved")));
        assert_eq!(CorrelationId::current(), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn scoped_futures_see_their_id_across_awaits() {
        let a = id("a").scope(async {
            tokio::task::yield_now().await;
            CorrelationId::current()
        });
        let b = id("b").scope(async {
            tokio::task::yield_now().await;
            CorrelationId::current()
        });
        let (a, b) = tokio::join!(a, b);
        assert_eq!(a, Some(id("a")));
        assert_eq!(b, Some(id("b")));
        assert_eq!(CorrelationId::current(), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn spawned_tasks_start_without_an_id_unless_carried() {
        let (plain, carried) = id("parent")
            .scope(async {
                let plain = tokio::spawn(async { CorrelationId::current() });
                let carried =
                    tokio::spawn(async { CorrelationId::current() }.with_current_correlation_id());
                (plain.await.unwrap(), carried.await.unwrap())
            })
            .await;
        assert_eq!(plain, None);
        assert_eq!(carried, Some(id("parent")));
    }
}
