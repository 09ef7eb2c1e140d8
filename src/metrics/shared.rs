//! [`Shared`]: what every clone of a metrics layer and its services share, the configuration
//! and the registered handles.

use std::sync::Arc;

use ::metrics::{Gauge, Histogram};

use super::labels::LabelSets;
use crate::request::ExcludedPaths;
use crate::rpc::Methods;
use crate::semconv::Protocol;
use crate::semconv::metric;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

#[derive(Debug)]
pub(crate) struct Names {
    pub(crate) duration: &'static str,
    pub(crate) active: &'static str,
    /// HTTP only: the body size histograms.
    pub(crate) request_body_size: &'static str,
    pub(crate) response_body_size: &'static str,
}

pub(crate) const SERVER: Names = Names {
    duration: metric::HTTP_SERVER_DURATION.name,
    active: metric::HTTP_SERVER_ACTIVE.name,
    request_body_size: metric::HTTP_SERVER_REQUEST_BODY_SIZE.name,
    response_body_size: metric::HTTP_SERVER_RESPONSE_BODY_SIZE.name,
};
pub(crate) const CLIENT: Names = Names {
    duration: metric::HTTP_CLIENT_DURATION.name,
    active: metric::HTTP_CLIENT_ACTIVE.name,
    request_body_size: metric::HTTP_CLIENT_REQUEST_BODY_SIZE.name,
    response_body_size: metric::HTTP_CLIENT_RESPONSE_BODY_SIZE.name,
};
pub(crate) const RPC_SERVER: Names = Names {
    duration: metric::RPC_SERVER_DURATION.name,
    active: metric::RPC_SERVER_ACTIVE.name,
    request_body_size: "",
    response_body_size: "",
};
pub(crate) const RPC_CLIENT: Names = Names {
    duration: metric::RPC_CLIENT_DURATION.name,
    active: metric::RPC_CLIENT_ACTIVE.name,
    request_body_size: "",
    response_body_size: "",
};

/// What every clone of a layer and its services share: configuration and registered handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) side: Side,
    pub(crate) protocol: Protocol,
    pub(crate) names: Names,
    pub(crate) scheme: &'static str,
    pub(crate) until_first_byte: bool,
    /// Request paths recorded by nothing.
    pub(crate) excluded: ExcludedPaths,
    /// HTTP: `[method, scheme, route or server.address, status, error.type, server.port
    /// (clients), network.protocol.version]`; gRPC: `[rpc.system.name, rpc.method,
    /// rpc.status_code, error.type, server.address, server.port, -]`.
    pub(crate) durations: LabelSets<7, Histogram>,
    /// HTTP: `[method, scheme, server.address, server.port]` (the last two for clients);
    /// gRPC: `[rpc.system.name, rpc.method, -, -]`.
    pub(crate) active: LabelSets<4, Gauge>,
    /// Client hosts seen so far, so that a request for a known host copies nothing.
    pub(crate) hosts: LabelSets<1, Arc<str>>,
    /// The gRPC methods recognized.
    pub(crate) methods: Arc<Methods>,
    /// A gRPC client's configured target: `server.address` and `server.port` of calls whose
    /// URI has no authority.
    pub(crate) target: Option<(Arc<str>, Option<u16>)>,
    /// The user's names for errors, before the built-in ones.
    pub(crate) error_types: Option<crate::error_type::ErrorTypeFn>,
    /// A server's callers whose forwarded headers say the scheme.
    pub(crate) forwarded: crate::trust::TrustPolicy,
    /// The body size histograms, when the layer records them (HTTP only).
    pub(crate) body_sizes: Option<BodySizeHandles>,
}

/// The handles of the request and response body size histograms, by the duration's labels.
#[derive(Debug)]
pub(crate) struct BodySizeHandles {
    pub(crate) request: LabelSets<7, Histogram>,
    pub(crate) response: LabelSets<7, Histogram>,
}

impl Shared {
    /// The shared copy of a client request's host; past the label-set cap, `_OTHER`.
    pub(crate) fn host(&self, host: &str) -> Arc<str> {
        self.hosts.get(
            &super::labels::Values([Some(host)]),
            super::labels::Outcome::Success,
            |labels| match labels.first() {
                Some(label) if label.key() != super::labels::OVERFLOW_LABEL => {
                    Arc::from(label.value())
                }
                _ => Arc::from(crate::classify::OTHER),
            },
        )
    }
}
