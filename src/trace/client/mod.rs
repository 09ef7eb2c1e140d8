//! The client side: [`TraceClientLayer`] starts a CLIENT span per outbound call and injects the
//! trace context.

mod layer;
mod service;

pub use self::layer::TraceClientLayer;
pub use self::service::TraceClient;
