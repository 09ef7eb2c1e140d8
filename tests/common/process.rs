//! The examples as processes, as a user runs them: built by `cargo test`, started with their
//! environment, read line by line, stopped with a real signal.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// The executable of example `name`, built if this run did not build it.
pub fn example(name: &str) -> PathBuf {
    // `cargo test` builds the examples next to the tests: target/<profile>/examples.
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let binary = deps.parent().unwrap().join("examples").join(name);
    if binary.exists() {
        return binary;
    }
    // Runs that build only the tests (`cargo test --test quickstart`, coverage tools) build it
    // here, and cargo says where it put it.
    let output = Command::new(env!("CARGO"))
        .args(["build", "--example", name, "--message-format=json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "the {name} example builds");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo reports the example's executable")
}

/// A free port of 127.0.0.1, as `127.0.0.1:PORT`.
pub fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// The quickstart on free ports, as the OTLP tests run it: JSON lines at `warn`, no drain,
/// batch exports every 100 ms; `env` comes after these and overrides them. Returns once it
/// accepts connections (at `warn` there is no "listening" line to wait for), with its address
/// and its metrics address.
pub async fn quickstart(env: &[(&str, &str)]) -> (Example, String, String) {
    let (addr, metrics) = (free_addr(), free_addr());
    let mut all = vec![
        ("ADDR", addr.as_str()),
        ("METRICS_ADDR", metrics.as_str()),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "warn"),
        ("SHUTDOWN_DRAIN_MS", "0"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
    ];
    all.extend_from_slice(env);
    let example = Example::start("quickstart", &[], &all);
    super::until("the quickstart listening", async || {
        tokio::net::TcpStream::connect(&addr).await.is_ok()
    })
    .await;
    (example, addr, metrics)
}

/// A running example: its standard output line by line, killed when dropped.
pub struct Example {
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Example {
    /// Starts example `name` with `args` and `env`.
    pub fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = tokio::process::Command::new(example(name));
        // Under a coverage build the example is instrumented too, and writes its profile when
        // it exits: into the target directory, not the working tree.
        if std::env::var_os("LLVM_PROFILE_FILE").is_none() {
            command.env(
                "LLVM_PROFILE_FILE",
                concat!(env!("CARGO_TARGET_TMPDIR"), "/example-%p-%m.profraw"),
            );
        }
        let mut child = command
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Standard output and standard error, line by line, into one channel: a panic message
        // or an error printed at exit is seen like any log line.
        let (tx, lines) = mpsc::unbounded_channel();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let errors = tx.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                eprintln!("{line}");
                if errors.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most 60 s) for a line that satisfies `wanted`, and returns it.
    pub async fn line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Ok(None) => panic!("the example ended before {what}; it wrote {:#?}", self.seen),
                Err(_) => panic!("no {what} within 60 s; the example wrote {:#?}", self.seen),
            }
        }
    }

    /// Waits for a JSON log line whose `message` is `message`.
    pub async fn log(&mut self, message: &str) -> Value {
        let line = self
            .line(&format!("the log line {message:?}"), |line| {
                serde_json::from_str::<Value>(line).is_ok_and(|v| v["message"] == message)
            })
            .await;
        serde_json::from_str(&line).unwrap()
    }

    /// Sends the process `signal` (`TERM`, `INT`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the example is running");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Waits (at most 60 s) for the process to exit, and returns its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the example did not exit within 60 s; it wrote {:#?}",
                    self.seen
                )
            })
            .unwrap();
        // Everything it wrote to the end of its output (the reader stops at end of file,
        // which follows the exit), for the assertions and the failure messages.
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(10), self.lines.recv()).await
        {
            self.seen.push(line);
        }
        status.code()
    }

    /// Every line read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }
}
