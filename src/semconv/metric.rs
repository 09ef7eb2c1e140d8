//! The metrics this crate records, by the name the layers give the `metrics` facade and the
//! name Prometheus exposes, and their bucket boundaries: one table for the layers that record
//! them and the SLO rules and dashboard that query them.

#![cfg_attr(not(any(feature = "metrics", feature = "slo")), allow(dead_code))]

/// One histogram or gauge: its OpenTelemetry name, and its Prometheus name (dots become
/// underscores, seconds add `_seconds`, as the Prometheus exporters and the OpenTelemetry
/// Prometheus compatibility rules write it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Metric {
    pub(crate) name: &'static str,
    #[cfg_attr(not(feature = "slo"), allow(dead_code))]
    pub(crate) prometheus: &'static str,
}

pub(crate) const HTTP_SERVER_DURATION: Metric = Metric {
    name: "http.server.request.duration",
    prometheus: "http_server_request_duration_seconds",
};
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const HTTP_SERVER_ACTIVE: Metric = Metric {
    name: "http.server.active_requests",
    prometheus: "http_server_active_requests",
};
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const HTTP_CLIENT_DURATION: Metric = Metric {
    name: "http.client.request.duration",
    prometheus: "http_client_request_duration_seconds",
};
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const HTTP_CLIENT_ACTIVE: Metric = Metric {
    name: "http.client.active_requests",
    prometheus: "http_client_active_requests",
};
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const HTTP_SERVER_REQUEST_BODY_SIZE: Metric = Metric {
    name: "http.server.request.body.size",
    prometheus: "http_server_request_body_size_bytes",
};
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const HTTP_SERVER_RESPONSE_BODY_SIZE: Metric = Metric {
    name: "http.server.response.body.size",
    prometheus: "http_server_response_body_size_bytes",
};
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const HTTP_CLIENT_REQUEST_BODY_SIZE: Metric = Metric {
    name: "http.client.request.body.size",
    prometheus: "http_client_request_body_size_bytes",
};
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const HTTP_CLIENT_RESPONSE_BODY_SIZE: Metric = Metric {
    name: "http.client.response.body.size",
    prometheus: "http_client_response_body_size_bytes",
};
pub(crate) const RPC_SERVER_DURATION: Metric = Metric {
    name: "rpc.server.call.duration",
    prometheus: "rpc_server_call_duration_seconds",
};
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const RPC_SERVER_ACTIVE: Metric = Metric {
    name: "rpc.server.active_calls",
    prometheus: "rpc_server_active_calls",
};
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const RPC_CLIENT_DURATION: Metric = Metric {
    name: "rpc.client.call.duration",
    prometheus: "rpc_client_call_duration_seconds",
};
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const RPC_CLIENT_ACTIVE: Metric = Metric {
    name: "rpc.client.active_calls",
    prometheus: "rpc_client_active_calls",
};
pub(crate) const OPERATION_DURATION: Metric = Metric {
    name: "operation.duration",
    prometheus: "operation_duration_seconds",
};

/// The bucket boundaries, in seconds, the OpenTelemetry HTTP semantic conventions advise for
/// request durations. The `metrics` facade leaves buckets to the exporter: the `setup` helper
/// uses these, and so should a Prometheus exporter you install yourself; a latency SLO's
/// threshold is one of them.
#[cfg_attr(not(any(feature = "metrics", feature = "slo")), allow(unreachable_pub))]
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Bucket boundaries, in bytes, for the body size histograms (the conventions advise none):
/// an empty body, then powers of 4 from 64 B to 64 MiB.
#[cfg_attr(not(feature = "metrics"), allow(unreachable_pub, dead_code))]
pub const BODY_SIZE_BUCKETS: [f64; 12] = [
    0.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_names_follow_from_the_names() {
        for (metric, unit) in [
            (HTTP_SERVER_DURATION, "_seconds"),
            (HTTP_SERVER_ACTIVE, ""),
            (HTTP_CLIENT_DURATION, "_seconds"),
            (HTTP_CLIENT_ACTIVE, ""),
            (HTTP_SERVER_REQUEST_BODY_SIZE, "_bytes"),
            (HTTP_SERVER_RESPONSE_BODY_SIZE, "_bytes"),
            (HTTP_CLIENT_REQUEST_BODY_SIZE, "_bytes"),
            (HTTP_CLIENT_RESPONSE_BODY_SIZE, "_bytes"),
            (RPC_SERVER_DURATION, "_seconds"),
            (RPC_SERVER_ACTIVE, ""),
            (RPC_CLIENT_DURATION, "_seconds"),
            (RPC_CLIENT_ACTIVE, ""),
            (OPERATION_DURATION, "_seconds"),
        ] {
            let expected = format!("{}{unit}", metric.name.replace('.', "_"));
            assert_eq!(metric.prometheus, expected);
        }
    }
}
