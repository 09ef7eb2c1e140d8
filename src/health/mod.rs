#![doc = include_str!("../docs/health.md")]

mod checks;
#[cfg(feature = "health-grpc")]
mod grpc;
mod http;
mod shutdown;

pub use self::checks::{Check, CheckResult, CheckStatus, Health, HealthBuilder, Report};
#[cfg(feature = "health-grpc")]
pub use self::grpc::GrpcHealthService;
pub use self::http::{HealthEndpoints, HealthFuture, HealthLayer, HealthService};
pub use self::shutdown::{DEFAULT_DRAIN, SHUTDOWN_DRAIN_MS, Shutdown, ShutdownBuilder};
