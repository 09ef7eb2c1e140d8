#![doc = include_str!("../docs/trace.md")]

mod attributes;
mod body;
mod client;
mod future;
mod http_span;
mod layer;
mod service;

pub use self::body::ResponseBody;
pub use self::client::{TraceClient, TraceClientLayer};
pub use self::future::ResponseFuture;
pub use self::layer::{InboundTrace, TraceLayer};
pub use self::service::Trace;
