#![doc = include_str!("../docs/metrics.md")]

mod labels;
pub(crate) mod layer;
mod operation;
pub(crate) mod part;
mod record;
pub(crate) mod service;
pub(crate) mod shared;

pub use self::labels::OVERFLOW_LABEL;
pub use self::layer::{
    BODY_SIZE_BUCKETS, DEFAULT_EXCLUDED_PATHS, DEFAULT_MAX_LABEL_SETS, DURATION_BUCKETS,
    MetricsClientLayer, MetricsLayer,
};
pub use self::operation::{Operation, OperationFuture, OperationLayer};
pub use self::part::MetricsPart;
pub use self::record::CANCELLED;
pub use self::service::{
    BodySizes, Metrics, RequestBodies, RequestBody, ResponseBody, ResponseFuture,
};
