#![doc = include_str!("docs/crate.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "correlation")]
#[cfg_attr(docsrs, doc(cfg(feature = "correlation")))]
pub mod correlation;

#[cfg(feature = "setup")]
#[cfg_attr(docsrs, doc(cfg(feature = "setup")))]
pub mod setup;

#[cfg(feature = "correlation")]
mod route;

#[cfg(feature = "correlation")]
pub use correlation::{CorrelationClientLayer, CorrelationId, CorrelationLayer};
