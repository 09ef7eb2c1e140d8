//! The client side: [`CorrelationClientLayer`] puts the current correlation ID on outbound
//! requests.

mod layer;
mod service;

pub use self::layer::CorrelationClientLayer;
pub use self::service::{CorrelationClient, OutsideRequest};
