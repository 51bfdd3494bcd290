//! The receiver in a plain tower stack served by hyper, without axum.
//!
//! Run with: `CHIRP_WEBHOOK_SECRET=s cargo run --release --example tower_stack`
//!
//! Environment: `ADDR` (default `127.0.0.1:3003`), `CHIRP_WEBHOOK_SECRET` (comma-separated;
//! required). Any path is accepted. Each handled event prints one JSON line on stdout;
//! SIGTERM/Ctrl-C drains and exits 0.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use webhook_receiver::chirp::{self, ChirpEvent};

#[tokio::main]
async fn main() -> Result<(), webhook_receiver::BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3003".to_owned());
    let secrets = std::env::var("CHIRP_WEBHOOK_SECRET").map_err(|_| "set CHIRP_WEBHOOK_SECRET")?;

    let webhooks = chirp::webhooks(secrets.split(','))?
        .on_group("*", |event: ChirpEvent, ctx| async move {
            let line = serde_json::json!({"event": ctx.event_name(), "id": event.id()});
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        })
        .spawn();

    // Any tower stack: here a concurrency cap in front of the receiver (which verifies first).
    let stack = ServiceBuilder::new()
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
                let conn = auto::Builder::new(TokioExecutor::new())
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
    graceful.shutdown().await;
    webhooks.drain(Duration::from_secs(300)).await?;
    Ok(())
}
