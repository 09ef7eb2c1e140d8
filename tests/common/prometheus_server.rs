//! A real Prometheus server (the Debian package `prometheus`, which `scripts/test` installs) on
//! 127.0.0.1, scraping one target every second, and the HTTP API to query it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::HttpClient;

/// Samples per duration series over the last minute, the fewest: each scrape adds one.
pub const SCRAPES: &str = "min(count_over_time(http_server_request_duration_seconds_count[1m]))";

/// Stops Prometheus and removes its files, however the test ends.
pub struct PrometheusServer {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl PrometheusServer {
    pub fn start(target: SocketAddr) -> Self {
        Self::start_with(target, &[])
    }

    /// Prometheus with extra command-line arguments (feature flags).
    pub fn start_with(target: SocketAddr, args: &[&str]) -> Self {
        Self::start_full(target, None, args)
    }

    /// Prometheus that also evaluates the rule file `rules` (YAML) every second.
    pub fn start_with_rules(target: SocketAddr, rules: &str) -> Self {
        Self::start_full(target, Some(rules), &[])
    }

    fn start_full(target: SocketAddr, rules: Option<&str>, args: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let dir = std::env::temp_dir().join(format!(
            "tower-telemetry-prometheus-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        let rule_files = match rules {
            Some(rules) => {
                std::fs::write(dir.join("rules.yml"), rules).unwrap();
                "rule_files:\n  - rules.yml\n"
            }
            None => "",
        };
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{rule_files}scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("prometheus is installed: run the tests with scripts/test, which installs it");
        Self { child, dir, addr }
    }

    /// Runs an instant query; `None` until Prometheus answers with a result.
    pub async fn query(&self, client: &HttpClient, query: &str) -> Option<Vec<Value>> {
        self.api(client, "query", query, "").await
    }

    /// `GET /api/v1/{endpoint}?query=...{more}`: the `data.result` array (or `data`, for the
    /// endpoints that answer with an array), `None` until Prometheus answers with success.
    pub async fn api(
        &self,
        client: &HttpClient,
        endpoint: &str,
        query: &str,
        more: &str,
    ) -> Option<Vec<Value>> {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let request = http::Request::get(format!(
            "http://{}/api/v1/{endpoint}?query={encoded}{more}",
            self.addr
        ))
        .body(http_body_util::Empty::new())
        .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(5), client.request(request))
            .await
            .ok()?
            .ok()?;
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .ok()?
            .to_bytes();
        let json: Value = serde_json::from_slice(&body).ok()?;
        (json["status"] == "success").then(|| {
            json["data"]["result"]
                .as_array()
                .or_else(|| json["data"].as_array())
                .cloned()
                .unwrap_or_default()
        })
    }

    /// The fewest samples any of the server's duration series has had in the last minute: how
    /// many scrapes every series has been through.
    pub async fn scrapes(&self, client: &HttpClient) -> f64 {
        let result = self.wait_for(client, SCRAPES, |r| !r.is_empty()).await;
        scalar(&result[0])
    }

    /// Waits (at most 30 s) until every duration series has been scraped `count` times.
    pub async fn wait_for_scrapes(&self, client: &HttpClient, count: f64) {
        self.wait_for(client, SCRAPES, |r| {
            r.first().is_some_and(|s| scalar(s) >= count)
        })
        .await;
    }

    /// Polls `query` (at most 30 s) until `accept` holds for its result.
    pub async fn wait_for(
        &self,
        client: &HttpClient,
        query: &str,
        accept: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let mut last = None;
        let accepted = super::within_for(Duration::from_secs(30), async || {
            let result = self.query(client, query).await?;
            if accept(&result) {
                return Some(result);
            }
            last = Some(result);
            None
        })
        .await;
        accepted.unwrap_or_else(|| panic!("{query} never gave the expected result; last: {last:?}"))
    }
}

/// The value of an instant-query sample.
pub fn scalar(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}
