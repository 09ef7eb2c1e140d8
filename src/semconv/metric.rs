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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_names_follow_from_the_names() {
        for (metric, seconds) in [
            (HTTP_SERVER_DURATION, true),
            (HTTP_SERVER_ACTIVE, false),
            (HTTP_CLIENT_DURATION, true),
            (HTTP_CLIENT_ACTIVE, false),
            (RPC_SERVER_DURATION, true),
            (RPC_SERVER_ACTIVE, false),
            (RPC_CLIENT_DURATION, true),
            (RPC_CLIENT_ACTIVE, false),
            (OPERATION_DURATION, true),
        ] {
            let base = metric.name.replace('.', "_");
            let expected = if seconds {
                format!("{base}_seconds")
            } else {
                base
            };
            assert_eq!(metric.prometheus, expected);
        }
    }
}
