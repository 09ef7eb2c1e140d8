//! The Grafana dashboard of a [`RuleGenerator`], built with `serde_json`.

use super::{RuleGenerator, quote, round};
use crate::semconv::metric;

impl RuleGenerator {
    /// A Grafana dashboard (JSON model, for *Dashboards → Import*) with the RED panels of the
    /// service (request rate, error ratio and p50/p95/p99 latency per route, requests in flight,
    /// named operations) and, per SLO, its error ratio against the page and ticket thresholds
    /// and the error budget left over its window. Queries read a Prometheus data source chosen
    /// at import (`${datasource}`) and the recording rules of [`to_yaml`](Self::to_yaml).
    ///
    /// A service selector (`$job`, the Prometheus jobs that have this crate's metrics; all by
    /// default) scopes every panel. Error ratios leave out requests whose client went away
    /// (`error_type="cancelled"`), as the SLO rules do, and count the overflow series.
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
        let active = metric::HTTP_SERVER_ACTIVE.prometheus;
        let operation = metric::OPERATION_DURATION.prometheus;
        const JOB: &str = "job=~\"$job\"";
        // Failures, and every request but those whose client went away.
        const FAILED: &str = "job=~\"$job\",error_type!=\"\",error_type!=\"cancelled\"";
        const COUNTED: &str = "job=~\"$job\",error_type!=\"cancelled\"";
        panel(
            "Request rate by route",
            "reqps",
            vec![(
                format!("sum by (http_route) (rate({http}_count{{{JOB}}}[5m]))"),
                "{{http_route}}".into(),
            )],
        );
        panel(
            "Error ratio by route",
            "percentunit",
            vec![
                (
                    format!(
                        "sum by (http_route) (rate({http}_count{{{FAILED}}}[5m])) / sum by (http_route) (rate({http}_count{{{COUNTED}}}[5m]))"
                    ),
                    "{{http_route}}".into(),
                ),
                (
                    format!(
                        "sum(rate({http}_count{{{FAILED}}}[5m])) / sum(rate({http}_count{{{COUNTED}}}[5m]))"
                    ),
                    "all requests (overflow included)".into(),
                ),
            ],
        );
        panel(
            "Latency by route",
            "s",
            [0.5, 0.95, 0.99]
                .iter()
                .map(|q| {
                    (
                        format!("histogram_quantile({q}, sum by (le, http_route) (rate({http}_bucket{{{JOB}}}[5m])))"),
                        format!("p{} {{{{http_route}}}}", q * 100.0),
                    )
                })
                .collect(),
        );
        panel(
            "Requests in flight",
            "short",
            vec![(
                format!("sum by (http_request_method) ({active}{{{JOB}}})"),
                "{{http_request_method}}".into(),
            )],
        );
        panel(
            "Named operations: rate and error ratio",
            "short",
            vec![
                (
                    format!("sum by (operation) (rate({operation}_count{{{JOB}}}[5m]))"),
                    "{{operation}} rate".into(),
                ),
                (
                    format!(
                        "sum by (operation) (rate({operation}_count{{{FAILED}}}[5m])) / sum by (operation) (rate({operation}_count{{{COUNTED}}}[5m]))"
                    ),
                    "{{operation}} error ratio".into(),
                ),
            ],
        );
        panel(
            "Named operations: p99 latency",
            "s",
            vec![(
                format!(
                    "histogram_quantile(0.99, sum by (le, operation) (rate({operation}_bucket{{{JOB}}}[5m])))"
                ),
                "{{operation}}".into(),
            )],
        );
        for slo in &self.slos {
            let budget = slo.error_budget();
            let selector = format!("{{slo={},{JOB}}}", quote(&slo.name));
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
        let jobs = format!(
            "label_values({{__name__=~\"{}_count|{}_count|{}_count\"}}, job)",
            http,
            metric::RPC_SERVER_DURATION.prometheus,
            operation
        );
        serde_json::json!({
            "title": title,
            "uid": null,
            "schemaVersion": 39,
            "time": { "from": "now-6h", "to": "now" },
            "refresh": "30s",
            "tags": ["tower-telemetry", "slo"],
            "templating": { "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                },
                {
                    "name": "job",
                    "label": "Service (job)",
                    "type": "query",
                    "datasource": { "type": "prometheus", "uid": "${datasource}" },
                    "definition": jobs,
                    "query": { "query": jobs, "refId": "jobs" },
                    "refresh": 2,
                    "multi": true,
                    "includeAll": true,
                    "allValue": ".+",
                    "current": { "text": "All", "value": "$__all" },
                },
            ] },
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
