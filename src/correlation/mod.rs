#![doc = include_str!("../docs/correlation.md")]

pub(crate) mod access_log;
mod client;
#[cfg(feature = "axum")]
mod extract;
mod id;
pub(crate) mod layer;
mod make;
pub(crate) mod part;
mod scope;
pub(crate) mod service;

pub use self::client::{CorrelationClient, CorrelationClientLayer, OutsideRequest};
#[cfg(feature = "axum")]
pub use self::extract::MissingCorrelationId;
pub use self::id::{CorrelationId, CorrelationIdReason, DEFAULT_MAX_LEN, InvalidCorrelationId};
pub use self::layer::CorrelationLayer;
pub use self::make::{MakeCorrelationId, UuidV7};
pub use self::part::CorrelationPart;
pub use self::scope::{CorrelationFutureExt, WithCorrelationId};
pub use self::service::{Correlation, ResponseBody, ResponseFuture};

/// `x-request-id`, the default correlation header.
pub const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");
