//! The receiver in a plain tower stack served by hyper, without axum.
//!
//! Run with: `CHIRP_WEBHOOK_SECRET=s cargo run --release --example tower_stack`
//!
//! Environment: `ADDR` (default `127.0.0.1:3003`), `CHIRP_WEBHOOK_SECRET` (comma-separated;
//! required), `HEADER_TIMEOUT_SECS` (default 10: a connection whose request head is not in by
//! then, counted from the accept or the previous response, is closed) and `BODY_TIMEOUT_SECS`
//! (default 30: a request not answered by then, its body read included, gets 408 and its
//! connection is closed; also the grace open connections get at shutdown). Any path is
//! accepted. Each handled event prints one JSON line on stdout; SIGTERM/Ctrl-C drains and exits
//! 0. HTTP/1.1 only, like the axum examples: hyper's header timer is HTTP/1's.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;
use webhook_receiver::chirp::{self, ChirpEvent};

#[tokio::main]
async fn main() -> Result<(), webhook_receiver::BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3003".to_owned());
    let secrets = std::env::var("CHIRP_WEBHOOK_SECRET").map_err(|_| "set CHIRP_WEBHOOK_SECRET")?;
    let secs = |name: &str, default: u64| -> Result<Duration, webhook_receiver::BoxError> {
        let v = std::env::var(name).map_or(Ok(default), |v| v.parse())?;
        if v == 0 {
            return Err(format!("{name} must be at least 1").into());
        }
        Ok(Duration::from_secs(v))
    };
    let header_timeout = secs("HEADER_TIMEOUT_SECS", 10)?;
    let body_timeout = secs("BODY_TIMEOUT_SECS", 30)?;

    let webhooks = chirp::webhooks(secrets.split(','))?
        .on_group("*", |event: ChirpEvent, ctx| async move {
            let line = serde_json::json!({"event": ctx.event_name(), "id": event.id()});
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        })
        .spawn();

    // Any tower stack: here a whole-request timeout (408) and a concurrency cap in front of the
    // receiver (which verifies first).
    let stack = ServiceBuilder::new()
        .layer(TimeoutLayer::with_status_code(
            http::StatusCode::REQUEST_TIMEOUT,
            body_timeout,
        ))
        .concurrency_limit(1024)
        .service(webhooks.clone());

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "tower/hyper receiver listening");
    let graceful = GracefulShutdown::new();
    let mut signal = std::pin::pin!(webhook_receiver::shutdown_signal());
    loop {
        tokio::select! {
            conn = listener.accept() => {
                let (stream, _) = conn?;
                let service = TowerToHyperService::new(stack.clone());
                let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout);
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection error");
                    }
                });
            }
            () = &mut signal => break,
        }
    }
    drop(listener);
    // Open connections get `BODY_TIMEOUT_SECS` to finish; a slow client cannot hold the exit.
    if tokio::time::timeout(body_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period: closed");
    }
    webhooks.drain(Duration::from_secs(300)).await?;
    Ok(())
}
