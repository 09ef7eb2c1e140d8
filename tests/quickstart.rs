//! Runs the quickstart example as a user would and checks what README promises: correlation
//! IDs in its response headers and in its JSON logs, across its outbound call.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests state their expectations by panicking

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// Kills the example when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `promtool check metrics`, from the Debian package `prometheus` that `scripts/test` installs.
fn check_with_promtool(exposition: &str) {
    use std::io::Write;
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed: run the tests with scripts/test, which installs it");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn quickstart_shows_correlation_and_trace_ids_in_headers_and_logs() {
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let addr = format!("127.0.0.1:{}", free_port());
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(common::process::example("quickstart"))
        .env("ADDR", &addr)
        .env("METRICS_ADDR", &metrics_addr)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut running = Running(child);

    let (lines_tx, lines) = mpsc::channel::<Value>();
    let stdout = running.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
            if lines_tx.send(value).is_err() {
                return;
            }
        }
    });
    let next_line = |what: &str| {
        lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no log line within 30 s while waiting for {what}"))
    };
    let listening = next_line("startup");
    assert_eq!(listening["message"], "quickstart listening");
    assert_eq!(listening["addr"], addr);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, id, body, metrics) = runtime.block_on(async {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        let request = http::Request::get(format!("http://{addr}/users/42/summary"))
            .header("x-request-id", "readme-check-1")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .body(http_body_util::Empty::new())
            .unwrap();
        let response = client.request(request).await.unwrap();
        let status = response.status();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let metrics = client
            .request(
                http::Request::get(format!("http://{metrics_addr}/metrics"))
                    .body(http_body_util::Empty::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        let metrics = http_body_util::BodyExt::collect(metrics.into_body())
            .await
            .unwrap()
            .to_bytes();
        (
            status,
            id,
            serde_json::from_slice::<Value>(&body).unwrap(),
            String::from_utf8(metrics.to_vec()).unwrap(),
        )
    });
    assert_eq!(status, 200);
    assert_eq!(id, "readme-check-1");
    assert_eq!(body["correlation_id"], "readme-check-1");
    assert_eq!(body["user"]["id"], 42);

    // The metrics endpoint has the request and passes promtool's checks.
    assert!(
        metrics.contains(r#"http_server_request_duration_seconds_count{http_request_method="GET",url_scheme="http",http_route="/users/{id}/summary",http_response_status_code="200",network_protocol_version="1.1"} 1"#),
        "{metrics}"
    );
    // The outbound call of `/users/{id}/summary` went through the client metrics layer.
    assert!(
        metrics.contains(r#"http_client_request_duration_seconds_count{http_request_method="GET",url_scheme="http",server_address="127.0.0.1","#),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE http_client_active_requests gauge"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE http_server_active_requests gauge"),
        "{metrics}"
    );
    check_with_promtool(&metrics);

    // Both the summary request and its outbound call to /users/42 log the same ID, and each
    // ends with an access-log line.
    // Both also carry the caller's trace ID, each with its own server span ID.
    let mut access_paths = Vec::new();
    let mut messages = Vec::new();
    let mut span_ids = std::collections::BTreeSet::new();
    while access_paths.len() < 2 {
        let line = next_line("the access-log lines");
        if line.get("correlation_id").is_none() {
            // Not a request's line: the simulated background job logs on its own schedule.
            assert_eq!(line["target"], "quickstart", "{line}");
            continue;
        }
        assert_eq!(line["correlation_id"], "readme-check-1", "{line}");
        assert_eq!(
            line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
            "{line}"
        );
        span_ids.insert(line["span_id"].as_str().unwrap().to_owned());
        if line["target"] == "tower_telemetry::access_log" {
            access_paths.push(line["url.path"].as_str().unwrap().to_owned());
        } else {
            messages.push(line["message"].as_str().unwrap().to_owned());
        }
    }
    access_paths.sort();
    assert_eq!(access_paths, ["/users/42", "/users/42/summary"]);
    assert_eq!(messages, ["building summary", "loading user"]);
    assert_eq!(
        span_ids.len(),
        2,
        "one server span per request: {span_ids:?}"
    );
    assert!(
        !span_ids.contains("00f067aa0ba902b7"),
        "the caller's span is the parent, not ours"
    );

    // Probes: liveness, readiness with its real check, and a simulated outage.
    runtime.block_on(async {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        let call = |method: http::Method, path: &str| {
            let request = http::Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}"))
                .body(http_body_util::Empty::new())
                .unwrap();
            let client = client.clone();
            async move {
                let response = client.request(request).await.unwrap();
                let status = response.status();
                let body = http_body_util::BodyExt::collect(response.into_body())
                    .await
                    .unwrap()
                    .to_bytes();
                (status, serde_json::from_slice::<Value>(&body).unwrap())
            }
        };
        assert_eq!(call(http::Method::GET, "/livez").await.0, 200);
        let (status, ready) = call(http::Method::GET, "/readyz").await;
        assert_eq!(status, 200, "{ready}");
        assert_eq!(ready["checks"][0]["name"], "users-api");
        assert_eq!(ready["checks"][0]["status"], "pass");
        assert_eq!(
            call(http::Method::POST, "/admin/outage").await.1["outage"],
            true
        );
        let mut last = None;
        for _ in 0..50 {
            let (status, ready) = call(http::Method::GET, "/readyz").await;
            if status == 503 {
                assert_eq!(ready["checks"][0]["status"], "fail", "{ready}");
                last = None;
                break;
            }
            last = Some(ready);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            last.is_none(),
            "readiness did not turn 503 within 5 s: {last:?}"
        );
    });
}

/// 200 connections that send half a request head and then nothing (a slowloris client): a
/// normal request is still answered, and the server closes every stalled connection once its
/// header-read timeout (here 2 s) has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_request_heads_are_cut_off_and_block_nobody() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (_quickstart, addr, _metrics) =
        common::process::quickstart(&[("HEADER_READ_TIMEOUT_MS", "2000")]).await;
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        // No blank line: the head never ends.
        stream
            .write_all(b"GET /users/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        stalled.push(stream);
    }

    let client = common::client();
    let request = http::Request::get(format!("http://{addr}/users/1"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .expect("a normal request is answered while 200 heads stall")
        .unwrap();
    assert_eq!(response.status(), 200);

    for (i, stream) in stalled.iter_mut().enumerate() {
        let mut rest = Vec::new();
        // The server closes the connection: end of stream (after a 408, or nothing), or a reset.
        let closed =
            tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "stalled connection {i} still open 30 s after its head stopped"
        );
        let rest = String::from_utf8_lossy(&rest);
        assert!(
            rest.is_empty() || rest.starts_with("HTTP/1.1 408"),
            "connection {i} got {rest:?}"
        );
    }
}
