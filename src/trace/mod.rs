#![doc = include_str!("../docs/trace.md")]

mod attributes;
mod client;
pub(crate) mod layer;
pub(crate) mod part;
pub(crate) mod service;

pub use self::client::{TraceClient, TraceClientLayer};
pub use self::layer::TraceLayer;
pub use self::part::TracePart;
pub use self::service::Trace;
pub use crate::semconv::DEFAULT_SENSITIVE_QUERY_PARAMETERS;

/// Response future of [`Trace`] and [`TraceClient`].
pub type ResponseFuture<F, C> = crate::engine::ResponseFuture<F, TracePart, C>;

/// Response body of [`Trace`] and [`TraceClient`].
///
/// Passes every frame through unchanged, polls the inner body with the request's spans
/// current, and ends the span at the end of the stream (classifying the trailers when the
/// policy waits for them, as gRPC's does), on a body error, or when dropped before the end
/// (recorded as `error.type = "cancelled"`).
pub type ResponseBody<B, E> =
    crate::engine::ResponseBody<B, TracePart, crate::classify::Verdict<E>>;
