#![doc = include_str!("../docs/slo.md")]

mod dashboard;
mod rules;

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use crate::semconv::metric;
pub use crate::semconv::metric::DURATION_BUCKETS;

/// What an SLO measures: the requests of a route, the calls of an RPC method, or the calls of
/// a named operation, as this crate's metrics record them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// An HTTP route template of `MetricsLayer` (`http.route`). Requests whose client went
    /// away (`error.type="cancelled"`) are neither good nor bad events: they are left out of
    /// both sides of the ratio, for this target and the two below.
    Route(String),
    /// Every HTTP request the server's `MetricsLayer` records, whatever its route: unmatched
    /// requests and the overflow series past the label-set cap included, which no route's SLO
    /// can see.
    AllRoutes,
    /// A gRPC method of `MetricsLayer::new_for_grpc` (`rpc.method`, `package.Service/Method`).
    /// Calls their client cancelled (`rpc.status_code="CANCELLED"`) are neither good nor bad
    /// events: they are left out of both sides of the ratio.
    Rpc(String),
    /// A named operation of `OperationLayer` (`operation`).
    Operation(String),
}

impl Target {
    /// An HTTP route, e.g. `/login`.
    pub fn route(route: impl Into<String>) -> Self {
        Self::Route(route.into())
    }

    /// Every HTTP request of the server, the overflow series included.
    pub fn all_routes() -> Self {
        Self::AllRoutes
    }

    /// A gRPC method, by its full name: `inventory.v1.Inventory/GetItem`.
    pub fn rpc(method: impl Into<String>) -> Self {
        Self::Rpc(method.into())
    }

    /// A named operation, e.g. `auth.login`.
    pub fn operation(name: impl Into<String>) -> Self {
        Self::Operation(name.into())
    }

    /// The Prometheus histogram (without suffix) and the label matchers selecting the target.
    fn series(&self) -> (&'static str, String) {
        const NOT_CANCELLED: &str = "error_type!=\"cancelled\"";
        match self {
            Self::Route(route) => (
                metric::HTTP_SERVER_DURATION.prometheus,
                format!("http_route={},{NOT_CANCELLED}", quote(route)),
            ),
            Self::AllRoutes => (
                metric::HTTP_SERVER_DURATION.prometheus,
                NOT_CANCELLED.to_owned(),
            ),
            Self::Rpc(method) => (
                metric::RPC_SERVER_DURATION.prometheus,
                format!(
                    "rpc_method={},rpc_status_code!=\"CANCELLED\"",
                    quote(method)
                ),
            ),
            Self::Operation(name) => (
                metric::OPERATION_DURATION.prometheus,
                format!("operation={},{NOT_CANCELLED}", quote(name)),
            ),
        }
    }
}

/// What counts as a good event.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Indicator {
    /// Requests that did not fail (no `error.type`).
    Availability,
    /// Requests that took at most this many seconds (a histogram bucket boundary).
    Latency {
        /// The threshold, in seconds.
        threshold: f64,
    },
}

/// A service level objective over this crate's metrics.
///
/// ```
/// use tower_telemetry::slo::{RuleGenerator, Slo, Target};
///
/// let login = Slo::availability("auth-login", Target::operation("auth.login"), 0.999)
///     .unwrap()
///     .label("team", "identity");
/// let billing = Slo::latency("billing-sync-latency", Target::operation("billing.sync"), 2.5, 0.99)
///     .unwrap();
/// assert!(Slo::latency("too-precise", Target::operation("billing.sync"), 2.0, 0.99).is_err());
///
/// let rules = RuleGenerator::new([login, billing]).to_yaml().unwrap();
/// assert!(rules.contains("record: \"slo:error_ratio:rate5m\""), "{rules}");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct Slo {
    name: String,
    target: Target,
    indicator: Indicator,
    objective: f64,
    window_days: u32,
    labels: BTreeMap<String, String>,
    runbook: Option<String>,
}

/// Why an SLO was refused.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SloError {
    /// The objective is not strictly between 0 and 1.
    Objective(f64),
    /// The latency threshold is not a bucket boundary, so no series counts requests under it.
    NotABucketBoundary {
        /// The threshold asked for.
        threshold: f64,
        /// The boundaries available.
        buckets: Vec<f64>,
    },
    /// The name is empty or not made of `a-z 0-9 - _ .`.
    Name(String),
    /// A label name is not a Prometheus label name, or is one the rules set themselves.
    Label(String),
}

impl fmt::Display for SloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Objective(objective) => {
                write!(
                    f,
                    "the objective {objective} is not strictly between 0 and 1"
                )
            }
            Self::NotABucketBoundary { threshold, buckets } => write!(
                f,
                "the latency threshold {threshold} s is not a bucket boundary; choose one of {buckets:?} or configure the exporter's buckets and pass them with `latency_with_buckets`"
            ),
            Self::Name(name) => {
                write!(f, "the SLO name {name:?} must be non-empty `a-z 0-9 - _ .`")
            }
            Self::Label(name) => write!(f, "{name:?} is not a usable label name"),
        }
    }
}

impl std::error::Error for SloError {}

impl Slo {
    /// An availability SLO: at least `objective` of the target's requests succeed.
    pub fn availability(
        name: impl Into<String>,
        target: Target,
        objective: f64,
    ) -> Result<Self, SloError> {
        Self::new(name.into(), target, Indicator::Availability, objective)
    }

    /// A latency SLO: at least `objective` of the target's requests take at most `threshold`
    /// seconds. The threshold must be one of [`DURATION_BUCKETS`].
    pub fn latency(
        name: impl Into<String>,
        target: Target,
        threshold: f64,
        objective: f64,
    ) -> Result<Self, SloError> {
        Self::latency_with_buckets(name, target, threshold, objective, &DURATION_BUCKETS)
    }

    /// A latency SLO for histograms exported with other `buckets`.
    pub fn latency_with_buckets(
        name: impl Into<String>,
        target: Target,
        threshold: f64,
        objective: f64,
        buckets: &[f64],
    ) -> Result<Self, SloError> {
        if !buckets.contains(&threshold) {
            return Err(SloError::NotABucketBoundary {
                threshold,
                buckets: buckets.to_vec(),
            });
        }
        Self::new(
            name.into(),
            target,
            Indicator::Latency { threshold },
            objective,
        )
    }

    fn new(
        name: String,
        target: Target,
        indicator: Indicator,
        objective: f64,
    ) -> Result<Self, SloError> {
        if !(objective > 0.0 && objective < 1.0) {
            return Err(SloError::Objective(objective));
        }
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
        if name.is_empty() || !name.chars().all(valid) {
            return Err(SloError::Name(name));
        }
        Ok(Self {
            name,
            target,
            indicator,
            objective,
            window_days: 30,
            labels: BTreeMap::new(),
            runbook: None,
        })
    }

    /// Sets the SLO window, in days.
    ///
    /// Defaults to 30.
    pub fn window_days(mut self, days: u32) -> Self {
        self.window_days = days.max(1);
        self
    }

    /// Adds a label to the recording rules and alerts, for routing (`team`, `service`).
    ///
    /// Label names `slo`, `severity` and `window` are the generator's own and are refused when
    /// the rules are generated.
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(name.into(), value.into());
        self
    }

    /// Sets the runbook linked from the alerts.
    ///
    /// Defaults to the generator's base URL followed by the SLO name.
    pub fn runbook(mut self, url: impl Into<String>) -> Self {
        self.runbook = Some(url.into());
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The objective, e.g. `0.999`.
    pub fn objective(&self) -> f64 {
        self.objective
    }

    /// The error budget: the share of events allowed to be bad, `1 - objective`.
    pub fn error_budget(&self) -> f64 {
        1.0 - self.objective
    }

    /// The PromQL error ratio over `window` (a Prometheus duration such as `5m`), over every
    /// series of the target (unscoped: see [`RuleGenerator::job`]).
    pub fn error_ratio(&self, window: &str) -> String {
        self.scoped_error_ratio(window, &[])
    }

    /// The error ratio over the series the `scope` matchers select, one per value of their
    /// labels.
    fn scoped_error_ratio(&self, window: &str, scope: &[Matcher]) -> String {
        let (metric, target) = self.target.series();
        let mut selector = String::new();
        let mut by: Vec<&str> = Vec::new();
        for matcher in scope {
            let _ = write!(
                selector,
                "{}{}{},",
                matcher.label,
                matcher.op,
                quote(&matcher.value)
            );
            if !by.contains(&matcher.label.as_str()) {
                by.push(&matcher.label);
            }
        }
        selector.push_str(&target);
        let sum = if by.is_empty() {
            "sum".to_owned()
        } else {
            format!("sum by ({}) ", by.join(", "))
        };
        let total = format!("{sum}(rate({metric}_count{{{selector}}}[{window}]))");
        match &self.indicator {
            // `or 0 * total`: with no failure series yet the ratio is 0, not absent, and keeps
            // the scoping labels (`vector(0)` would have none).
            Indicator::Availability => format!(
                "({sum}(rate({metric}_count{{{selector},error_type!=\"\"}}[{window}])) or 0 * {total}) / {total}"
            ),
            Indicator::Latency { threshold } => {
                // The exporter writes an integral boundary as `le="5"`, and Prometheus 3 stores
                // it as `le="5.0"` (it normalises `le` on ingestion): match both spellings.
                let le = if threshold.fract() == 0.0 {
                    format!("le=~\"{threshold}|{threshold}\\\\.0\"")
                } else {
                    format!("le=\"{threshold}\"")
                };
                format!(
                    "({total} - {sum}(rate({metric}_bucket{{{selector},{le}}}[{window}]))) / {total}"
                )
            }
        }
    }
}

/// One multi-window burn-rate alert: fire when the error ratio over both windows burns the
/// budget at least `factor` times faster than the SLO allows.
#[derive(Clone, Debug, PartialEq)]
pub struct BurnAlert {
    /// `page` or `ticket`, the `severity` label.
    pub severity: String,
    /// The long window, e.g. `1h`.
    pub long: String,
    /// The short window confirming the burn is still going on, e.g. `5m`.
    pub short: String,
    /// The burn rate, e.g. `14.4`.
    pub factor: f64,
}

impl BurnAlert {
    fn new(severity: &str, long: &str, short: &str, factor: f64) -> Self {
        Self {
            severity: severity.to_owned(),
            long: long.to_owned(),
            short: short.to_owned(),
            factor,
        }
    }
}

/// The Google SRE workbook's alerts for a 30-day window: page on 14.4× over 1 h (confirmed
/// over 5 m) and 6× over 6 h (30 m); ticket on 3× over 1 d (2 h) and 1× over 3 d (6 h).
pub fn default_alerts() -> Vec<BurnAlert> {
    vec![
        BurnAlert::new("page", "1h", "5m", 14.4),
        BurnAlert::new("page", "6h", "30m", 6.0),
        BurnAlert::new("ticket", "1d", "2h", 3.0),
        BurnAlert::new("ticket", "3d", "6h", 1.0),
    ]
}

/// Writes Prometheus rule files for a set of SLOs.
///
/// Scope the rules to the service they belong to with [`job`](Self::job) (and
/// [`matcher`](Self::matcher), [`matcher_regex`](Self::matcher_regex) for `namespace`,
/// `service_name` or any other label): every selector then carries the matchers, the recording
/// rules keep their labels, and each alert reads only its own service's ratios, so that two
/// services scraped by one Prometheus never share an error budget. Unscoped, the rules count
/// every series of the metric in the Prometheus.
#[derive(Clone, Debug)]
#[must_use]
pub struct RuleGenerator {
    slos: Vec<Slo>,
    alerts: Vec<BurnAlert>,
    runbook_base: String,
    scope: Vec<Matcher>,
}

/// A label matcher scoping the rules: `label="value"` or `label=~"regex"`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Matcher {
    label: String,
    op: &'static str,
    value: String,
}

impl RuleGenerator {
    /// A generator with [`default_alerts`] and runbook links under
    /// `https://runbooks.example.com/slo/`.
    pub fn new(slos: impl IntoIterator<Item = Slo>) -> Self {
        Self {
            slos: slos.into_iter().collect(),
            alerts: default_alerts(),
            runbook_base: "https://runbooks.example.com/slo/".to_owned(),
            scope: Vec::new(),
        }
    }

    /// Scopes the rules to the Prometheus job of the service: `job="<job>"`.
    pub fn job(self, job: impl Into<String>) -> Self {
        self.matcher("job", job)
    }

    /// Scopes the rules to series whose label `label` is `value`, e.g. `namespace="prod"`.
    pub fn matcher(mut self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.scope.push(Matcher {
            label: label.into(),
            op: "=",
            value: value.into(),
        });
        self
    }

    /// Scopes the rules to series whose label `label` matches the regular expression `regex`
    /// (anchored, as Prometheus anchors it), e.g. `job=~"checkout|checkout-canary"`.
    pub fn matcher_regex(mut self, label: impl Into<String>, regex: impl Into<String>) -> Self {
        self.scope.push(Matcher {
            label: label.into(),
            op: "=~",
            value: regex.into(),
        });
        self
    }

    /// Sets the burn-rate alerts.
    ///
    /// Defaults to [`default_alerts`].
    pub fn alerts(mut self, alerts: Vec<BurnAlert>) -> Self {
        self.alerts = alerts;
        self
    }

    /// Sets the base of runbook links; an SLO's link is this followed by its name, unless the
    /// SLO sets its own.
    ///
    /// Defaults to `https://runbooks.example.com/slo/`.
    pub fn runbook_base(mut self, base: impl Into<String>) -> Self {
        self.runbook_base = base.into();
        self
    }
}

/// A double-quoted YAML (and PromQL) string: JSON escaping is valid in both.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A factor printed without float noise (14.4, not 14.399999999999999).
fn round(value: f64) -> String {
    let rounded = (value * 1e6).round() / 1e6;
    format!("{rounded}")
}

fn percent(objective: f64) -> String {
    format!("{}%", round(objective * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_names_and_thresholds_are_validated() {
        assert_eq!(
            Slo::availability("x", Target::operation("a"), 1.0).unwrap_err(),
            SloError::Objective(1.0)
        );
        assert!(Slo::availability("x", Target::operation("a"), 0.0).is_err());
        assert!(Slo::availability("x", Target::operation("a"), f64::NAN).is_err());
        assert_eq!(
            Slo::availability("Bad Name", Target::operation("a"), 0.9).unwrap_err(),
            SloError::Name("Bad Name".into())
        );
        let err = Slo::latency("x", Target::operation("a"), 2.0, 0.99).unwrap_err();
        assert!(err.to_string().contains("not a bucket boundary"), "{err}");
        assert!(
            Slo::latency_with_buckets("x", Target::operation("a"), 2.0, 0.99, &[1.0, 2.0]).is_ok()
        );
        for err in [
            SloError::Objective(2.0),
            SloError::Name("".into()),
            SloError::Label("9".into()),
        ] {
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn error_ratios_select_exactly_the_crates_series() {
        let availability = Slo::availability("login", Target::route("/login"), 0.999).unwrap();
        assert_eq!(
            availability.error_ratio("5m"),
            r#"(sum(rate(http_server_request_duration_seconds_count{http_route="/login",error_type!="cancelled",error_type!=""}[5m])) or 0 * sum(rate(http_server_request_duration_seconds_count{http_route="/login",error_type!="cancelled"}[5m]))) / sum(rate(http_server_request_duration_seconds_count{http_route="/login",error_type!="cancelled"}[5m]))"#
        );
        let latency =
            Slo::latency("rpc", Target::rpc("inv.v1.Inventory/GetItem"), 0.25, 0.99).unwrap();
        assert_eq!(
            latency.error_ratio("1h"),
            r#"(sum(rate(rpc_server_call_duration_seconds_count{rpc_method="inv.v1.Inventory/GetItem",rpc_status_code!="CANCELLED"}[1h])) - sum(rate(rpc_server_call_duration_seconds_bucket{rpc_method="inv.v1.Inventory/GetItem",rpc_status_code!="CANCELLED",le="0.25"}[1h]))) / sum(rate(rpc_server_call_duration_seconds_count{rpc_method="inv.v1.Inventory/GetItem",rpc_status_code!="CANCELLED"}[1h]))"#
        );
        assert!((availability.error_budget() - 0.001).abs() < 1e-12);
        assert_eq!(availability.name(), "login");
        assert_eq!(availability.objective(), 0.999);
    }

    #[test]
    fn impossible_burn_rates_are_capped_and_labelled() {
        let loose = Slo::availability("loose", Target::operation("a"), 0.9).unwrap();
        let yaml = RuleGenerator::new([loose]).to_yaml().unwrap();
        assert!(yaml.contains(r#"burn_rate_capped: "true""#), "{yaml}");
        assert!(
            yaml.contains(">= 10 and"),
            "14.4x of a 10% budget is capped to a 100% error ratio: {yaml}"
        );
    }

    #[test]
    fn reserved_and_invalid_labels_are_refused() {
        for name in ["severity", "slo", "9lives", "with-dash"] {
            let slo = Slo::availability("x", Target::operation("a"), 0.99)
                .unwrap()
                .label(name, "v");
            assert_eq!(
                RuleGenerator::new([slo]).to_yaml().unwrap_err(),
                SloError::Label(name.into())
            );
        }
    }

    #[test]
    fn strings_are_quoted_for_yaml_and_promql() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("line\nbreak\u{1}"), "\"line\\nbreak\\u0001\"");
        assert_eq!(round(14.399999999999999), "14.4");
        assert_eq!(percent(0.999), "99.9%");
    }
}
