//! The server `scripts/load` puts under wrk: the routes of `benches/stack.rs` behind one of its
//! stacks, with the same recorders and exporters (the Prometheus recorder, an OpenTelemetry SDK
//! batch processor feeding an exporter that discards, the `tracing-opentelemetry` layer the
//! peer stack needs). Not an example to copy: a measuring instrument.
//!
//! ```sh
//! STACK=fused ADDR=127.0.0.1:18090 cargo run --release --example load_server
//! ```
//!
//! `STACK` is one of `bare`, `correlation`, `trace`, `metrics`, `stacked`, `fused`, `peer`.
//! The server runs on one thread (a current-thread runtime), so that the load script can pin
//! it to one core and read its CPU time. `GET /sleep/{ms}` (outside the measured stack) holds
//! a request open, to watch a shutdown with requests in flight.
//!
//! SIGTERM or SIGINT stops it as every server of this crate stops: requests in flight finish,
//! the span pipeline is flushed, exit code 0. There is no readiness to turn off and no drain
//! unless `SHUTDOWN_DRAIN_MS` asks for one: nothing balances load onto it.

#![allow(clippy::expect_used)] // an instrument that cannot start should stop loudly

#[path = "../benches/stacks/mod.rs"]
mod stacks;

use tower_telemetry::health::Shutdown;

fn main() {
    let stack = std::env::var("STACK").unwrap_or_else(|_| "fused".to_owned());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:18090".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let provider = stacks::install();
        let Some((_, router)) = stacks::variants(&provider)
            .into_iter()
            .find(|(name, _)| *name == stack)
        else {
            eprintln!("unknown STACK {stack:?}");
            std::process::exit(2);
        };
        let router = router.route(
            "/sleep/{ms}",
            axum::routing::get(
                |axum::extract::Path(ms): axum::extract::Path<u64>| async move {
                    let ms = ms.min(60_000);
                    println!("sleeping {ms} ms");
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    "slept"
                },
            ),
        );
        let shutdown = Shutdown::builder().drain(std::time::Duration::ZERO).build();
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .expect("the address is free");
        println!("serving {stack} on {addr}");
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.stopping())
            .await
            .expect("the server runs");
        provider.shutdown().ok();
        println!("stopped");
    });
}
