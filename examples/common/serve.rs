//! Serving an axum router with limits for slow and idle clients, and a graceful stop: what
//! `axum::serve` does, plus the timeouts it does not set. Shared by the examples.
//!
//! Without a header-read timeout, a client that sends half a request head and then nothing
//! holds its connection (a socket and a task) for as long as it likes; a few thousand such
//! clients exhaust the process's file descriptors (the "slowloris" attack). hyper's HTTP/1
//! server has the timeout, but `axum::serve` installs no timer, so it never fires. Here:
//!
//! - **HTTP/1**: a client has `HEADER_READ_TIMEOUT_MS` (default 10 s) to send each request
//!   head, on a new connection and between requests on a kept-alive one, after which the
//!   connection is closed. Keep-alive stays on: the timeout bounds how long an idle connection
//!   is held.
//! - **HTTP/2**: a ping every 20 s on idle connections, and the connection closed when one is
//!   not answered within 20 s; at most 200 concurrent streams per connection.
//! - **Stop**: when `stop` completes, the listener closes, every connection is told to finish
//!   (HTTP/1: after the response in flight; HTTP/2: GOAWAY), and `serve` returns once they have.
//!
//! docs/operations/reliability.md says why and how to choose the values.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// How long a client has to send a request head: `HEADER_READ_TIMEOUT_MS`, default 10 s.
pub(crate) fn header_read_timeout() -> Duration {
    std::env::var("HEADER_READ_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// Serves `app` on `listener` until `stop` completes, then waits for the open connections to
/// finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout())
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_concurrent_streams(200);
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                // Out of file descriptors, or a connection reset before it was accepted:
                // keep serving the connections we have and back off before accepting again
                // (as `axum::serve` does), so that a full descriptor table is not a busy
                // loop; a stop during the back-off still stops at once.
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                        () = &mut stop => break,
                    }
                }
            },
            () = &mut stop => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that went away, or one closed for its header-read timeout.
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
