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

/// The key of the correlation ID on spans and on OpenTelemetry log records:
/// `tower_telemetry.correlation_id`, namespaced as the semantic conventions ask of attributes
/// outside the registry (JSON log lines keep the field `correlation_id`).
pub const CORRELATION_ID_ATTRIBUTE: &str = "tower_telemetry.correlation_id";

/// `x-request-id`, the default correlation header.
pub const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");
