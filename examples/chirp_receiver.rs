//! A Chirp webhook receiver: verify, dedup, typed events, handlers after the 200.
//!
//! Run with: `cargo run --release --example chirp_receiver`
//!
//! Environment (all optional):
//! - `ADDR` (default `127.0.0.1:3000`)
//! - `CHIRP_WEBHOOK_SECRET`: accepted `X-Webhook-Secret` values, comma-separated (rotation);
//!   unset, a random dev secret is generated and printed on stderr
//! - `HANDLER_DELAY_MS` (default 0): every handler sleeps this long first
//! - `WEBHOOK_CONCURRENCY`, `WEBHOOK_QUEUE_CAPACITY`, `DEDUP_TTL_SECS`, `MAX_BODY_BYTES`:
//!   default to the library's defaults
//! - `DRAIN_TIMEOUT_SECS` (default 300): how long shutdown waits for accepted events
//! - `RUST_LOG` (default `info`): log filter; logs go to stderr
//!
//! Route `POST /webhooks/chirp`. Every handler invocation prints exactly one JSON line on stdout,
//! `{"event": "<event type>", "id": "<data.id>", "key": "<dedup key>", "handler": "<which>"}`,
//! and nothing else goes to stdout. SIGTERM or Ctrl-C stops accepting, runs every accepted
//! event's handler, and exits 0.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tower::ServiceBuilder;
use tracing_subscriber::EnvFilter;
use webhook_receiver::chirp::{self, Chirp, ChirpEvent, InboundMessage, MessageStatus};
use webhook_receiver::dispatch::{Context, Dispatcher, Handlers};
use webhook_receiver::event::Item;
use webhook_receiver::receiver::WebhookService;
use webhook_receiver::verify::{SharedSecret, VerifyWebhookLayer};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();

    let addr: SocketAddr = env_or("ADDR", "127.0.0.1:3000".parse()?)?;
    let secrets = secrets_from_env();
    let delay = Duration::from_millis(env_or("HANDLER_DELAY_MS", 0)?);
    let drain = Duration::from_secs(env_or("DRAIN_TIMEOUT_SECS", 300)?);

    // 1. Handlers, per event type, run after the 200.
    let handlers = Handlers::with_state(delay)
        .on(chirp::SMS_RECEIVED, |m: InboundMessage, ctx| emit(ctx, "sms_received", Some(m.id)))
        .on(chirp::SMS_SENT, |s: MessageStatus, ctx| emit(ctx, "sms_status", Some(s.id)))
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, ctx| emit(ctx, "sms_status", Some(s.id)))
        .on(chirp::SMS_FAILED, |s: MessageStatus, ctx| emit(ctx, "sms_status", Some(s.id)))
        .on_group("messages.whatsapp.*", |e: ChirpEvent, ctx| emit(ctx, "whatsapp", e.id().map(str::to_owned)))
        .fallback(|item: Item<ChirpEvent>, ctx| {
            let id = match &item {
                Item::Event(e) => e.id().map(str::to_owned),
                Item::Invalid(invalid) => invalid.data.get("id").and_then(|v| v.as_str()).map(str::to_owned),
            };
            emit(ctx, "fallback", id)
        });

    // 2. The dispatcher: bounded queue, bounded concurrency.
    let mut dispatcher = Dispatcher::builder(handlers);
    if let Some(n) = env_opt("WEBHOOK_CONCURRENCY")? {
        dispatcher = dispatcher.concurrency_limit(n);
    }
    if let Some(n) = env_opt("WEBHOOK_QUEUE_CAPACITY")? {
        dispatcher = dispatcher.queue_capacity(n);
    }
    let dispatcher = dispatcher.spawn();

    // 3. The receiver: body limit, content type, typed decoding, dedup, enqueue.
    let mut receiver = WebhookService::builder(Chirp, dispatcher.clone());
    if let Some(secs) = env_opt("DEDUP_TTL_SECS")? {
        receiver = receiver.dedup_ttl(Duration::from_secs(secs));
    }
    if let Some(bytes) = env_opt("MAX_BODY_BYTES")? {
        receiver = receiver.body_limit(bytes);
    }

    // 4. The verify layer in front, mounted on an axum router.
    let webhooks = ServiceBuilder::new()
        .layer(VerifyWebhookLayer::new(SharedSecret::new(&secrets)?))
        .service(receiver.build());
    let app = Router::new().route_service("/webhooks/chirp", webhooks);

    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, secrets = secrets.len(), "chirp receiver listening on POST /webhooks/chirp");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;

    tracing::info!(queued = dispatcher.queued(), running = dispatcher.running(), "server stopped; draining accepted events");
    match dispatcher.shutdown(drain).await {
        Ok(()) => {
            tracing::info!("all accepted events handled; bye");
            Ok(())
        }
        Err(timeout) => Err(format!("drain deadline passed: {timeout}").into()),
    }
}

/// The handler body shared by every registration: optional delay, then one JSON line.
async fn emit(ctx: Context<Duration>, handler: &'static str, id: Option<String>) {
    if !ctx.state().is_zero() {
        tokio::time::sleep(*ctx.state()).await;
    }
    let line = serde_json::json!({
        "event": ctx.kind(),
        "id": id,
        "key": ctx.key().to_string(),
        "handler": handler,
    });
    let mut out = std::io::stdout().lock();
    // A closed stdout must not take the receiver down; the event was already acknowledged.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn secrets_from_env() -> Vec<String> {
    let list: Vec<String> = std::env::var("CHIRP_WEBHOOK_SECRET")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !list.is_empty() {
        return list;
    }
    let random = || std::collections::hash_map::RandomState::new().build_hasher().finish();
    let dev = format!("dev-{:016x}{:016x}", random(), random());
    eprintln!("WARNING: CHIRP_WEBHOOK_SECRET is not set; using a generated development secret:");
    eprintln!("WARNING:   X-Webhook-Secret: {dev}");
    vec![dev]
}

fn env_opt<T: std::str::FromStr>(name: &str) -> Result<Option<T>, BoxError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse().map(Some).map_err(|e| format!("invalid {name}={v:?}: {e}").into())
        }
        _ => Ok(None),
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, BoxError>
where
    T::Err: std::fmt::Display,
{
    Ok(env_opt(name)?.unwrap_or(default))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: no new connections");
}
