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
//! it to one core and read its CPU time.

#![allow(clippy::expect_used)] // an instrument that cannot start should stop loudly

#[path = "../benches/stacks/mod.rs"]
mod stacks;

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
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .expect("the address is free");
        println!("serving {stack} on {addr}");
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                tokio::signal::ctrl_c().await.ok();
            })
            .await
            .expect("the server runs");
        provider.shutdown().ok();
    });
}
