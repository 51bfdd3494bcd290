//! The verify layer and the receiver in a plain tower stack served by hyper, without axum.
//!
//! Run with: `cargo run --release --example tower_stack`
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
use webhook_receiver::chirp::{Chirp, ChirpEvent};
use webhook_receiver::dispatch::{Dispatcher, Handlers};
use webhook_receiver::receiver::WebhookService;
use webhook_receiver::verify::{SharedSecret, VerifyWebhookLayer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3003".to_owned());
    let secrets = std::env::var("CHIRP_WEBHOOK_SECRET").map_err(|_| "set CHIRP_WEBHOOK_SECRET")?;

    let handlers = Handlers::new().on_group("*", |event: ChirpEvent, ctx| async move {
        let line = serde_json::json!({"event": ctx.event_name(), "id": event.id()});
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    });
    let dispatcher = Dispatcher::builder(handlers).spawn();

    // Any tower stack: here a concurrency cap outside the verify layer, then the receiver.
    let stack = ServiceBuilder::new()
        .concurrency_limit(1024)
        .layer(VerifyWebhookLayer::new(SharedSecret::new(
            secrets.split(','),
        )?))
        .service(WebhookService::builder(Chirp, dispatcher.clone()).build());

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "tower/hyper receiver listening");
    let graceful = GracefulShutdown::new();
    let mut signal = std::pin::pin!(tokio::signal::ctrl_c());
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        #[cfg(unix)]
        let terminate = term.recv();
        #[cfg(not(unix))]
        let terminate = std::future::pending::<Option<()>>();
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
            _ = &mut signal => break,
            _ = terminate => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
    dispatcher.drain(Duration::from_secs(300)).await?;
    Ok(())
}
