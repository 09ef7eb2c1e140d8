//! The Prometheus rule file of a [`RuleGenerator`]: recording rules and burn-rate alerts.
//!
//! Written by hand rather than through a YAML serializer: `serde_yaml`, the one that was well
//! kept, is archived, and its successors are young or flagged (see ADR 0017); the file is a
//! fixed shape of quoted scalars, each quoted as JSON strings are, which YAML reads the same.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{RuleGenerator, SloError, percent, quote, round};

impl RuleGenerator {
    /// The rule file, as YAML (`promtool check rules` accepts it).
    ///
    /// For each SLO, one rule group `slo-<name>`: recording rules
    /// `slo:error_ratio:rate<window>` (labelled `slo`) for every window the alerts use, then
    /// the alerts `SLOErrorBudgetBurn` labelled `severity`, `slo` and `window` (`long/short`).
    ///
    /// An alert whose factor times the error budget exceeds 1 could never fire (the error
    /// ratio cannot pass 100%): its threshold is lowered to a 100% error ratio, and the alert
    /// carries the label `burn_rate_capped="true"`, so that a total outage still pages.
    ///
    /// With a scope ([`job`](Self::job), [`matcher`](Self::matcher)), each recording rule is
    /// summed by the scoping labels, so it keeps them, and each alert selects its ratios with
    /// the same matchers: one service's failures never fire another's alerts.
    pub fn to_yaml(&self) -> Result<String, SloError> {
        let usable = |name: &str| {
            name.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !["slo", "severity", "window", "burn_rate_capped", "le"].contains(&name)
        };
        for matcher in &self.scope {
            if !usable(&matcher.label) {
                return Err(SloError::Label(matcher.label.clone()));
            }
        }
        let mut out = String::from("groups:\n");
        for slo in &self.slos {
            for name in slo.labels.keys() {
                // A scoping label comes from the series: a fixed value would overwrite it.
                if !usable(name) || self.scope.iter().any(|m| &m.label == name) {
                    return Err(SloError::Label(name.clone()));
                }
            }
            let mut labels = slo.labels.clone();
            labels.insert("slo".to_owned(), slo.name.clone());

            let mut windows: Vec<&str> = Vec::new();
            for alert in &self.alerts {
                for window in [alert.long.as_str(), alert.short.as_str()] {
                    if !windows.contains(&window) {
                        windows.push(window);
                    }
                }
            }
            // One group per SLO: rules in a group run in order, so every alert sees the
            // recording rules of the same evaluation (separate groups run concurrently and
            // could read the previous minute's ratios).
            let _ = writeln!(out, "  - name: {}", quote(&format!("slo-{}", slo.name)));
            out.push_str("    rules:\n");
            for window in &windows {
                let _ = writeln!(
                    out,
                    "      - record: {}",
                    quote(&format!("slo:error_ratio:rate{window}"))
                );
                let _ = writeln!(
                    out,
                    "        expr: {}",
                    quote(&slo.scoped_error_ratio(window, &self.scope))
                );
                write_labels(&mut out, "        ", &labels);
            }

            let budget = slo.error_budget();
            let mut selector = format!("slo={}", quote(&slo.name));
            for matcher in &self.scope {
                let _ = write!(
                    selector,
                    ",{}{}{}",
                    matcher.label,
                    matcher.op,
                    quote(&matcher.value)
                );
            }
            for alert in &self.alerts {
                let capped = alert.factor * budget > 1.0;
                let factor = if capped { 1.0 / budget } else { alert.factor };
                let burn =
                    |window: &str| format!("slo:error_ratio:rate{window}{{{selector}}} / {budget}");
                let expr = format!(
                    "({long}) >= {factor} and ({short}) >= {factor}",
                    long = burn(&alert.long),
                    short = burn(&alert.short),
                    factor = round(factor),
                );
                let mut alert_labels = labels.clone();
                alert_labels.insert("severity".to_owned(), alert.severity.clone());
                alert_labels.insert(
                    "window".to_owned(),
                    format!("{}/{}", alert.long, alert.short),
                );
                if capped {
                    alert_labels.insert("burn_rate_capped".to_owned(), "true".to_owned());
                }
                let runbook = slo
                    .runbook
                    .clone()
                    .unwrap_or_else(|| format!("{}{}", self.runbook_base, slo.name));
                out.push_str("      - alert: SLOErrorBudgetBurn\n");
                let _ = writeln!(out, "        expr: {}", quote(&expr));
                write_labels(&mut out, "        ", &alert_labels);
                out.push_str("        annotations:\n");
                let _ = writeln!(
                    out,
                    "          summary: {}",
                    quote(&format!(
                        "{}: the error budget of {} over {} days is burning {}x faster than allowed over {} (confirmed over {})",
                        slo.name,
                        percent(slo.objective),
                        slo.window_days,
                        round(factor),
                        alert.long,
                        alert.short
                    ))
                );
                let _ = writeln!(
                    out,
                    "          burn_rate: {}",
                    quote("{{ $value | printf \"%.2f\" }}")
                );
                let _ = writeln!(out, "          runbook_url: {}", quote(&runbook));
            }
        }
        Ok(out)
    }
}

fn write_labels(out: &mut String, indent: &str, labels: &BTreeMap<String, String>) {
    let _ = writeln!(out, "{indent}labels:");
    for (name, value) in labels {
        let _ = writeln!(out, "{indent}  {name}: {}", quote(value));
    }
}
