#![doc = include_str!("docs/crate.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod macros;

#[cfg(any(feature = "correlation", feature = "trace", feature = "metrics"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "correlation", feature = "trace", feature = "metrics")))
)]
pub mod engine;

#[cfg(feature = "correlation")]
#[cfg_attr(docsrs, doc(cfg(feature = "correlation")))]
pub mod correlation;

#[cfg(feature = "propagation")]
#[cfg_attr(docsrs, doc(cfg(feature = "propagation")))]
pub mod propagation;

#[cfg(any(feature = "correlation", feature = "trace", feature = "metrics"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "correlation", feature = "trace", feature = "metrics")))
)]
pub mod trust;

#[cfg(feature = "setup")]
#[cfg_attr(docsrs, doc(cfg(feature = "setup")))]
pub mod setup;

#[cfg(feature = "trace")]
#[cfg_attr(docsrs, doc(cfg(feature = "trace")))]
pub mod trace;

#[cfg(any(feature = "trace", feature = "metrics"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "trace", feature = "metrics"))))]
pub mod classify;

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;

#[cfg(feature = "all-in-one")]
#[cfg_attr(docsrs, doc(cfg(feature = "all-in-one")))]
pub mod all_in_one;

#[cfg(feature = "health")]
#[cfg_attr(docsrs, doc(cfg(feature = "health")))]
pub mod health;

#[cfg(feature = "slo")]
#[cfg_attr(docsrs, doc(cfg(feature = "slo")))]
pub mod slo;

#[cfg(any(feature = "correlation", feature = "trace", feature = "metrics"))]
// Public through `classify`, which the correlation feature alone does not build.
#[cfg_attr(
    not(any(feature = "trace", feature = "metrics")),
    allow(dead_code, unreachable_pub)
)]
mod error_type;
#[cfg(any(feature = "correlation", feature = "trace", feature = "metrics"))]
mod request;
#[cfg(any(feature = "trace", feature = "metrics"))]
mod rpc;
#[cfg(any(feature = "trace", feature = "metrics", feature = "slo"))]
mod semconv;

// Every layer at the root; the rest of each capability in its module.
#[cfg(feature = "all-in-one")]
pub use self::all_in_one::TelemetryLayer;
#[cfg(feature = "correlation")]
pub use self::correlation::{CorrelationClientLayer, CorrelationId, CorrelationLayer};
#[cfg(feature = "health")]
pub use self::health::HealthLayer;
#[cfg(feature = "metrics")]
pub use self::metrics::{MetricsClientLayer, MetricsLayer, OperationLayer};
#[cfg(feature = "trace")]
pub use self::trace::{TraceClientLayer, TraceLayer};

/// The code blocks of README.md, compiled and run as doc tests so the README cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
