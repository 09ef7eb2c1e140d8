#![doc = include_str!("../docs/trace.md")]

mod attributes;
mod body;
mod future;
mod layer;
mod server_span;
mod service;

pub use self::body::ResponseBody;
pub use self::future::ResponseFuture;
pub use self::layer::{InboundTrace, TraceLayer};
pub use self::service::Trace;
