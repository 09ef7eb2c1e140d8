//! The Grafana dashboard of a [`RuleGenerator`], built with `serde_json`.

use super::{RuleGenerator, quote, round};
use crate::semconv::metric;

impl RuleGenerator {
    /// A Grafana dashboard (JSON model, for *Dashboards → Import*) with the RED panels of the
    /// service (request rate, error ratio and p50/p95/p99 latency per route, requests in flight,
    /// named operations) and, per SLO, its error ratio against the page and ticket thresholds
    /// and the error budget left over its window. Queries read a Prometheus data source chosen
    /// at import (`${datasource}`) and the recording rules of [`to_yaml`](Self::to_yaml).
    pub fn grafana_dashboard(&self, title: &str) -> String {
        let mut panels = Vec::new();
        let mut y = 0;
        let mut panel = |title: &str, unit: &str, targets: Vec<(String, String)>| {
            let id = panels.len() + 1;
            let (x, row) = (if id % 2 == 1 { 0 } else { 12 }, y);
            if id % 2 == 0 {
                y += 8;
            }
            let targets: Vec<_> = targets
                .into_iter()
                .enumerate()
                .map(|(i, (expr, legend))| {
                    serde_json::json!({
                        "refId": char::from(b'A' + u8::try_from(i % 26).unwrap_or(0)).to_string(),
                        "expr": expr,
                        "legendFormat": legend,
                        "datasource": { "type": "prometheus", "uid": "${datasource}" },
                    })
                })
                .collect();
            panels.push(serde_json::json!({
                "id": id,
                "type": "timeseries",
                "title": title,
                "gridPos": { "x": x, "y": row, "w": 12, "h": 8 },
                "datasource": { "type": "prometheus", "uid": "${datasource}" },
                "fieldConfig": { "defaults": { "unit": unit }, "overrides": [] },
                "targets": targets,
            }));
        };
        let http = metric::HTTP_SERVER_DURATION.prometheus;
        panel(
            "Request rate by route",
            "reqps",
            vec![(
                format!("sum by (http_route) (rate({http}_count[5m]))"),
                "{{http_route}}".into(),
            )],
        );
        panel(
            "Error ratio by route",
            "percentunit",
            vec![(
                format!(
                    "sum by (http_route) (rate({http}_count{{error_type!=\"\"}}[5m])) / sum by (http_route) (rate({http}_count[5m]))"
                ),
                "{{http_route}}".into(),
            )],
        );
        panel(
            "Latency by route",
            "s",
            [0.5, 0.95, 0.99]
                .iter()
                .map(|q| {
                    (
                        format!("histogram_quantile({q}, sum by (le, http_route) (rate({http}_bucket[5m])))"),
                        format!("p{} {{{{http_route}}}}", q * 100.0),
                    )
                })
                .collect(),
        );
        panel(
            "Requests in flight",
            "short",
            vec![(
                "sum by (http_request_method) (http_server_active_requests)".into(),
                "{{http_request_method}}".into(),
            )],
        );
        panel(
            "Named operations: rate and error ratio",
            "short",
            vec![
                ("sum by (operation) (rate(operation_duration_seconds_count[5m]))".into(), "{{operation}} rate".into()),
                (
                    "sum by (operation) (rate(operation_duration_seconds_count{error_type!=\"\"}[5m])) / sum by (operation) (rate(operation_duration_seconds_count[5m]))".into(),
                    "{{operation}} error ratio".into(),
                ),
            ],
        );
        panel(
            "Named operations: p99 latency",
            "s",
            vec![(
                "histogram_quantile(0.99, sum by (le, operation) (rate(operation_duration_seconds_bucket[5m])))".into(),
                "{{operation}}".into(),
            )],
        );
        for slo in &self.slos {
            let budget = slo.error_budget();
            let selector = format!("{{slo={}}}", quote(&slo.name));
            let mut targets = vec![
                (
                    format!("slo:error_ratio:rate5m{selector}"),
                    "error ratio 5m".to_owned(),
                ),
                (
                    format!("slo:error_ratio:rate1h{selector}"),
                    "error ratio 1h".to_owned(),
                ),
            ];
            for alert in &self.alerts {
                let threshold = (alert.factor * budget).min(1.0);
                targets.push((
                    format!("vector({})", round(threshold)),
                    format!(
                        "{} threshold {}x ({})",
                        alert.severity,
                        round(alert.factor),
                        alert.long
                    ),
                ));
            }
            panel(
                &format!("SLO {}: error ratio against its alert thresholds", slo.name),
                "percentunit",
                targets,
            );
            panel(
                &format!("SLO {}: error budget left over the last 3 days", slo.name),
                "percentunit",
                vec![(
                    format!("1 - slo:error_ratio:rate3d{selector} / {budget}"),
                    "budget left".into(),
                )],
            );
        }
        serde_json::json!({
            "title": title,
            "uid": null,
            "schemaVersion": 39,
            "time": { "from": "now-6h", "to": "now" },
            "refresh": "30s",
            "tags": ["tower-telemetry", "slo"],
            "templating": { "list": [{
                "name": "datasource",
                "type": "datasource",
                "query": "prometheus",
                "label": "Prometheus",
            }] },
            "panels": panels,
        })
        .to_string()
    }

    /// Every PromQL expression of [`grafana_dashboard`](Self::grafana_dashboard), to check them.
    pub fn dashboard_queries(&self, title: &str) -> Vec<String> {
        let dashboard: serde_json::Value =
            serde_json::from_str(&self.grafana_dashboard(title)).unwrap_or_default();
        dashboard["panels"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
            .filter_map(|target| target["expr"].as_str().map(str::to_owned))
            .collect()
    }
}
