#![doc = include_str!("../docs/health.md")]

mod checks;
#[cfg(feature = "health-grpc")]
mod grpc;
mod http;

pub use self::checks::{Check, CheckResult, CheckStatus, Health, HealthBuilder, Report};
pub use self::http::{HealthEndpoints, HealthFuture, HealthLayer, HealthService};
