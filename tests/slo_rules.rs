//! The generated SLO rules checked by the real Prometheus tools: `promtool check rules` on the
//! quickstart's rules and `promtool test rules` with the unit tests in tests/slo/, which feed
//! synthetic series and prove each burn-rate alert fires from its threshold up, stays silent
//! below it, and that the recording rules compute the expected error ratios. The files in deploy/
//! are checked here too: the rules and dashboard there are what the generator writes today,
//! `promtool check config` accepts the Prometheus configuration with its rule files, and
//! `amtool check-config` the Alertmanager routing (scripts/check-deploy checks the rest).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

#[path = "../examples/slo_rules.rs"]
mod slo_rules;

use std::path::{Path, PathBuf};
use std::process::Command;

use tower_telemetry::slo::RuleGenerator;

/// A fresh directory for one test, removed when it ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tower-telemetry-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a Prometheus tool from the Debian packages `scripts/test` installs.
fn run(tool: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{tool} is installed (run the tests with scripts/test): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{tool} {args:?} failed:\n{text}");
    text
}

fn quickstart_rules() -> String {
    slo_rules::quickstart_generator()
        .unwrap()
        .to_yaml()
        .unwrap()
}

#[test]
fn the_generated_rules_pass_promtool_and_its_unit_tests() {
    let dir = TempDir::new("slo-rules");
    std::fs::write(dir.0.join("quickstart.rules.yml"), quickstart_rules()).unwrap();
    let tests = in_repo("tests/slo/quickstart.test.yml");
    std::fs::copy(tests, dir.0.join("quickstart.test.yml")).unwrap();

    let checked = run(
        "promtool",
        &["check", "rules", "quickstart.rules.yml"],
        &dir.0,
    );
    // 6 SLOs, 7 recording rules and 4 alerts each.
    assert!(checked.contains("SUCCESS: 66 rules found"), "{checked}");
    let tested = run(
        "promtool",
        &["test", "rules", "quickstart.test.yml"],
        &dir.0,
    );
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn capped_burn_rates_still_fire_on_a_total_outage() {
    use tower_telemetry::slo::{Slo, Target};
    let dir = TempDir::new("slo-capped");
    let loose = Slo::availability("loose", Target::route("/x"), 0.9).unwrap();
    std::fs::write(
        dir.0.join("loose.rules.yml"),
        RuleGenerator::new([loose]).to_yaml().unwrap(),
    )
    .unwrap();
    // Every request fails: a 100% error ratio is a 10x burn of the 10% budget. The 14.4x page
    // is capped to 10x and fires; so do the others.
    let test = r#"rule_files:
  - loose.rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'http_server_request_duration_seconds_count{http_route="/x",error_type="500"}'
        values: '0+100x80'
    promql_expr_test:
      - expr: 'count(ALERTS{alertname="SLOErrorBudgetBurn",alertstate="firing",slo="loose"})'
        eval_time: 70m
        exp_samples:
          - value: 4
      - expr: 'count(ALERTS{alertname="SLOErrorBudgetBurn",alertstate="firing",slo="loose",burn_rate_capped="true",window="1h/5m"})'
        eval_time: 70m
        exp_samples:
          - value: 1
"#;
    std::fs::write(dir.0.join("loose.test.yml"), test).unwrap();
    run("promtool", &["check", "rules", "loose.rules.yml"], &dir.0);
    run("promtool", &["test", "rules", "loose.test.yml"], &dir.0);
}

#[test]
fn the_grafana_dashboard_is_valid_json_with_valid_promql() {
    let generator = slo_rules::quickstart_generator().unwrap();
    let dashboard: serde_json::Value =
        serde_json::from_str(&generator.grafana_dashboard(slo_rules::DASHBOARD)).unwrap();
    assert_eq!(dashboard["title"], "quickstart");
    let panels = dashboard["panels"].as_array().unwrap();
    assert_eq!(panels.len(), 6 + 2 * 6, "six RED panels, two per SLO");
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "job" && v["includeAll"] == true),
        "a service selector: {variables:?}"
    );
    assert!(
        panels
            .iter()
            .any(|p| p["title"] == "SLO auth-login: error ratio against its alert thresholds")
    );

    let queries = generator.dashboard_queries(slo_rules::DASHBOARD);
    assert!(queries.len() > 20, "{queries:?}");
    assert!(
        queries
            .iter()
            .all(|q| q.contains(r#"job=~"$job""#) || q.starts_with("vector(")),
        "every panel is scoped to the selected service: {queries:?}"
    );
    assert_promtool_parses("dashboard", &queries);
}

/// A path in the repository.
fn in_repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The text of a file in the repository.
fn repo_text(path: &str) -> String {
    std::fs::read_to_string(in_repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_deployed_rules_and_dashboard_are_what_the_generator_writes() {
    // Regenerate with:
    //   cargo run --example slo_rules > deploy/prometheus/rules/quickstart-slo.rules.yml
    //   cargo run --example slo_rules -- --dashboard > deploy/grafana/quickstart.dashboard.json
    assert!(
        repo_text("deploy/prometheus/rules/quickstart-slo.rules.yml") == quickstart_rules(),
        "deploy/prometheus/rules/quickstart-slo.rules.yml is stale: regenerate it"
    );
    let generator = slo_rules::quickstart_generator().unwrap();
    assert!(
        repo_text("deploy/grafana/quickstart.dashboard.json")
            == format!("{}\n", generator.grafana_dashboard(slo_rules::DASHBOARD)),
        "deploy/grafana/quickstart.dashboard.json is stale: regenerate it"
    );
}

#[test]
fn the_deployed_prometheus_configuration_and_its_rules_are_valid() {
    let deploy = in_repo("deploy/prometheus");
    let checked = run("promtool", &["check", "config", "prometheus.yml"], &deploy);
    assert!(checked.contains("SUCCESS: 1 rule files found"), "{checked}");
    assert!(
        checked.contains("is valid prometheus config file syntax"),
        "{checked}"
    );
    // promtool checks the rule files it names, and counts their rules.
    let rules = quickstart_rules();
    let count = rules.matches("- record:").count() + rules.matches("- alert:").count();
    assert!(
        checked.contains(&format!("SUCCESS: {count} rules found")),
        "{checked}"
    );
}

#[test]
fn the_deployed_alertmanager_routing_is_valid() {
    let deploy = in_repo("deploy/alertmanager");
    let checked = run("amtool", &["check-config", "alertmanager.yml"], &deploy);
    assert!(checked.contains("SUCCESS"), "{checked}");
    // Every alert the generator writes is routed by name.
    assert!(quickstart_rules().contains("alert: SLOErrorBudgetBurn"));
    assert!(
        repo_text("deploy/alertmanager/alertmanager.yml")
            .contains("alertname=\"SLOErrorBudgetBurn\"")
    );
}

#[test]
fn an_integral_latency_threshold_matches_both_spellings_of_its_bucket() {
    use tower_telemetry::slo::{Slo, Target};
    // The exporter writes `le="5"`; Prometheus 3 stores the same bucket as `le="5.0"`. Two
    // operations, one in each spelling, each with 10 of 100 requests over 5 s: both ratios 0.1.
    let dir = TempDir::new("slo-le");
    let slos = ["a", "b"].map(|op| Slo::latency(op, Target::operation(op), 5.0, 0.99).unwrap());
    std::fs::write(
        dir.0.join("le.rules.yml"),
        RuleGenerator::new(slos).to_yaml().unwrap(),
    )
    .unwrap();
    let test = r#"rule_files:
  - le.rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'operation_duration_seconds_count{operation="a"}'
        values: '0+100x20'
      - series: 'operation_duration_seconds_bucket{operation="a",le="5"}'
        values: '0+90x20'
      - series: 'operation_duration_seconds_count{operation="b"}'
        values: '0+100x20'
      - series: 'operation_duration_seconds_bucket{operation="b",le="5.0"}'
        values: '0+90x20'
    promql_expr_test:
      - expr: 'round(slo:error_ratio:rate5m * 1000)'
        eval_time: 15m
        exp_samples:
          - labels: '{slo="a"}'
            value: 100
          - labels: '{slo="b"}'
            value: 100
"#;
    std::fs::write(dir.0.join("le.test.yml"), test).unwrap();
    run("promtool", &["check", "rules", "le.rules.yml"], &dir.0);
    run("promtool", &["test", "rules", "le.test.yml"], &dir.0);
}

#[test]
fn cancelled_grpc_calls_count_neither_for_nor_against_availability() {
    use tower_telemetry::slo::{Slo, Target};
    // 60 calls a minute: 40 OK, 10 NOT_FOUND (the caller's doing, a success), 5 UNAVAILABLE
    // (failures) and 5 that their clients cancelled. Availability error ratio: 5 / 55, not
    // 5 / 60 or 10 / 60.
    let dir = TempDir::new("slo-grpc");
    let slo = Slo::availability(
        "get-item",
        Target::rpc("inventory.v1.Inventory/GetItem"),
        0.99,
    )
    .unwrap();
    std::fs::write(
        dir.0.join("grpc.rules.yml"),
        RuleGenerator::new([slo]).to_yaml().unwrap(),
    )
    .unwrap();
    let test = r#"rule_files:
  - grpc.rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'rpc_server_call_duration_seconds_count{rpc_system_name="grpc",rpc_method="inventory.v1.Inventory/GetItem",rpc_status_code="OK"}'
        values: '0+40x20'
      - series: 'rpc_server_call_duration_seconds_count{rpc_system_name="grpc",rpc_method="inventory.v1.Inventory/GetItem",rpc_status_code="NOT_FOUND"}'
        values: '0+10x20'
      - series: 'rpc_server_call_duration_seconds_count{rpc_system_name="grpc",rpc_method="inventory.v1.Inventory/GetItem",rpc_status_code="UNAVAILABLE",error_type="UNAVAILABLE"}'
        values: '0+5x20'
      - series: 'rpc_server_call_duration_seconds_count{rpc_system_name="grpc",rpc_method="inventory.v1.Inventory/GetItem",rpc_status_code="CANCELLED"}'
        values: '0+5x20'
    promql_expr_test:
      - expr: 'round(slo:error_ratio:rate5m * 1000000)'
        eval_time: 15m
        exp_samples:
          - labels: '{slo="get-item"}'
            value: 90909
"#;
    std::fs::write(dir.0.join("grpc.test.yml"), test).unwrap();
    run("promtool", &["check", "rules", "grpc.rules.yml"], &dir.0);
    run("promtool", &["test", "rules", "grpc.test.yml"], &dir.0);
}

/// Two services scraped by one Prometheus, each with its own rules for an SLO of the same name
/// and route: service B failing every request fires B's alerts only, and the recording rules
/// keep the `job` label. Requests whose client went away count for neither side, and the
/// all-routes target counts the overflow series.
#[test]
fn rules_scoped_by_job_keep_each_services_budget_its_own() {
    use tower_telemetry::slo::{Slo, Target};
    let dir = TempDir::new("slo-scoped");
    let slos = || {
        [
            Slo::availability("login", Target::route("/login"), 0.99).unwrap(),
            Slo::availability("all", Target::all_routes(), 0.99).unwrap(),
        ]
    };
    for job in ["a", "b"] {
        let rules = RuleGenerator::new(slos()).job(job).to_yaml().unwrap();
        // Each service's groups need their own names in one Prometheus.
        let rules = rules.replace("name: \"slo-", &format!("name: \"{job}-slo-"));
        std::fs::write(dir.0.join(format!("{job}.rules.yml")), rules).unwrap();
    }
    let test = r#"rule_files:
  - a.rules.yml
  - b.rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # A: 990 good, 5 failed and 1000 cancelled a minute on /login: a 0.5% error ratio, under
      # the 1% budget (counting the cancelled as failures would make it 50%).
      - series: 'http_server_request_duration_seconds_count{job="a",http_route="/login",http_response_status_code="200"}'
        values: '0+990x80'
      - series: 'http_server_request_duration_seconds_count{job="a",http_route="/login",http_response_status_code="500",error_type="500"}'
        values: '0+5x80'
      - series: 'http_server_request_duration_seconds_count{job="a",http_route="/login",http_response_status_code="200",error_type="cancelled"}'
        values: '0+1000x80'
      # A's overflow series: 100 successes and 100 failures past the label-set cap.
      - series: 'http_server_request_duration_seconds_count{job="a",otel_metric_overflow="true"}'
        values: '0+100x80'
      - series: 'http_server_request_duration_seconds_count{job="a",otel_metric_overflow="true",error_type="_OTHER"}'
        values: '0+100x80'
      # B: every request fails.
      - series: 'http_server_request_duration_seconds_count{job="b",http_route="/login",http_response_status_code="503",error_type="503"}'
        values: '0+100x80'
    promql_expr_test:
      - expr: 'round(slo:error_ratio:rate5m{slo="login"} * 1000000)'
        eval_time: 70m
        exp_samples:
          - labels: '{job="a",slo="login"}'
            value: 5025
          - labels: '{job="b",slo="login"}'
            value: 1000000
      # All of A's routes: (5 + 100) failed of (990 + 5 + 100 + 100) counted.
      - expr: 'round(slo:error_ratio:rate5m{slo="all",job="a"} * 1000000)'
        eval_time: 70m
        exp_samples:
          - labels: '{job="a",slo="all"}'
            value: 87866
      - expr: 'count by (job) (ALERTS{alertname="SLOErrorBudgetBurn",alertstate="firing",slo="login"})'
        eval_time: 70m
        exp_samples:
          - labels: '{job="b"}'
            value: 4
"#;
    std::fs::write(dir.0.join("scoped.test.yml"), test).unwrap();
    run("promtool", &["check", "rules", "a.rules.yml"], &dir.0);
    run("promtool", &["test", "rules", "scoped.test.yml"], &dir.0);

    let rules = RuleGenerator::new(slos()).job("a").to_yaml().unwrap();
    assert!(rules.contains(r#"sum by (job) (rate(http_server_request_duration_seconds_count{job=\"a\",http_route=\"/login\",error_type!=\"cancelled\"}[5m]))"#), "{rules}");
    assert!(
        rules.contains(r#"slo:error_ratio:rate1h{slo=\"login\",job=\"a\"}"#),
        "{rules}"
    );
    for label in ["slo", "le", "9x"] {
        assert!(
            RuleGenerator::new(slos())
                .matcher(label, "x")
                .to_yaml()
                .is_err(),
            "{label} cannot scope"
        );
    }
    let clash = Slo::availability("x", Target::all_routes(), 0.9)
        .unwrap()
        .label("job", "fixed");
    assert!(RuleGenerator::new([clash]).job("a").to_yaml().is_err());
    let regex = RuleGenerator::new(slos())
        .matcher_regex("namespace", "prod|staging")
        .to_yaml()
        .unwrap();
    assert!(regex.contains(r#"namespace=~\"prod|staging\""#), "{regex}");
}

/// The PromQL of a markdown document: every ```promql block, and with `text_too` every ```text
/// block as well. Lines starting with `#` are comments; a line indented deeper than the one
/// before it continues that query.
fn documented_queries(doc: &str, text_too: bool) -> Vec<String> {
    let text = repo_text(doc);
    let mut queries: Vec<String> = Vec::new();
    let (mut inside, mut base) = (false, 0);
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(fence) = trimmed.strip_prefix("```") {
            inside = !inside && (fence == "promql" || (text_too && fence == "text"));
            base = indent;
            continue;
        }
        if !inside || trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match queries.last_mut() {
            Some(last) if indent > base && !last.is_empty() => {
                last.push(' ');
                last.push_str(trimmed);
            }
            _ => queries.push(trimmed.to_owned()),
        }
    }
    queries
}

#[test]
fn every_documented_query_parses() {
    let mut queries = documented_queries("docs/operations/observability.md", true);
    queries.extend(documented_queries("README.md", true));
    let runbooks = in_repo("docs/runbooks");
    for entry in std::fs::read_dir(runbooks).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        queries.extend(documented_queries(&format!("docs/runbooks/{name}"), false));
    }
    assert!(queries.len() > 60, "{queries:?}");
    assert_promtool_parses("documented", &queries);
}

/// promtool parses every query, each wrapped as a recording rule.
fn assert_promtool_parses(kind: &str, queries: &[String]) {
    let mut rules = format!("groups:\n  - name: {kind}-queries\n    rules:\n");
    for (i, query) in queries.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: {kind}:query{i}\n        expr: {}\n",
            serde_json::Value::from(query.as_str())
        ));
    }
    let dir = TempDir::new(&format!("{kind}-queries"));
    std::fs::write(dir.0.join("queries.rules.yml"), rules).unwrap();
    let checked = run("promtool", &["check", "rules", "queries.rules.yml"], &dir.0);
    assert!(
        checked.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{checked}"
    );
}
