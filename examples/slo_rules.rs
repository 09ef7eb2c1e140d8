//! Prints the Prometheus rules for the quickstart's SLOs.
//!
//! ```sh
//! cargo run --example slo_rules > quickstart.rules.yml
//! promtool check rules quickstart.rules.yml
//! cargo run --example slo_rules -- --dashboard > quickstart.dashboard.json   # Grafana: Import
//! ```
//!
//! The SLOs, and why these targets, are in docs/operations/slo.md. The output is checked in as
//! deploy/prometheus/rules/quickstart-slo.rules.yml and deploy/grafana/quickstart.dashboard.json;
//! tests/slo_rules.rs fails when they fall behind this file.

use tower_telemetry::slo::{RuleGenerator, Slo, SloError, Target};

/// The quickstart's objectives.
pub(crate) fn quickstart_slos() -> Result<Vec<Slo>, SloError> {
    Ok(vec![
        // 99.9% of logins succeed (5xx are failures; a wrong password is a success).
        Slo::availability("auth-login", Target::operation("auth.login"), 0.999)?
            .label("team", "identity"),
        // 99.9% of all HTTP requests succeed, whatever their route (the overflow series past
        // the label-set cap included).
        Slo::availability("http-availability", Target::all_routes(), 0.999)?
            .label("team", "platform"),
        // 99.9% of user reads succeed.
        Slo::availability("users-read", Target::route("/users/{id}"), 0.999)?
            .label("team", "accounts"),
        // 99% of billing syncs succeed, and 99% finish within 2.5 s.
        Slo::availability("billing-sync", Target::operation("billing.sync"), 0.99)?
            .label("team", "billing"),
        Slo::latency(
            "billing-sync-latency",
            Target::operation("billing.sync"),
            2.5,
            0.99,
        )?
        .label("team", "billing"),
        // 95% of AI requests answer within 5 s (timeouts count as failures separately).
        Slo::latency(
            "ai-request-latency",
            Target::operation("ai.request"),
            5.0,
            0.95,
        )?
        .label("team", "assistant"),
    ])
}

/// The generator for the quickstart's rules and dashboard, with its runbook links.
pub(crate) fn quickstart_generator() -> Result<RuleGenerator, SloError> {
    // Scoped to the quickstart's own series (both scrape jobs of deploy/prometheus), so that
    // other services in the same Prometheus do not share its error budgets.
    Ok(RuleGenerator::new(quickstart_slos()?)
        .matcher_regex("job", "quickstart|quickstart-kubernetes")
        .runbook_base("https://runbooks.example.com/quickstart/slo/"))
}

/// The dashboard's title, and the name its queries are checked under.
pub(crate) const DASHBOARD: &str = "quickstart";

#[allow(dead_code)] // the tests include this file for the functions above alone
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let generator = quickstart_generator()?;
    if std::env::args().any(|arg| arg == "--dashboard") {
        println!("{}", generator.grafana_dashboard(DASHBOARD));
    } else {
        print!("{}", generator.to_yaml()?);
    }
    Ok(())
}
