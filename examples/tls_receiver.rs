//! The Chirp receiver served over HTTPS with rustls: Chirp delivers only to HTTPS endpoints.
//!
//! Run with:
//!
//! ```sh
//! # a self-signed certificate for local testing (use your real certificate in production;
//! # CA:FALSE because rustls clients refuse a CA certificate as the server's own)
//! openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
//!   -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE \
//!   -keyout key.pem -out cert.pem
//! TLS_CERT=cert.pem TLS_KEY=key.pem CHIRP_WEBHOOK_SECRET=s \
//!   cargo run --release --example tls_receiver
//!
//! # from another terminal
//! cargo run --example send --features testing -- \
//!   --url https://localhost:3443/webhooks/chirp --cacert cert.pem --secret s
//! ```
//!
//! Environment:
//! - `TLS_CERT` (required): PEM file with the certificate chain, leaf first
//! - `TLS_KEY` (required): PEM file with its private key (PKCS#8, PKCS#1 or SEC1)
//! - `ADDR` (default `127.0.0.1:3443`)
//! - `CHIRP_WEBHOOK_SECRET`, `HANDLER_DELAY_MS`, `WEBHOOK_CONCURRENCY`,
//!   `WEBHOOK_QUEUE_CAPACITY`, `DEDUP_TTL_SECS`, `DEDUP_CAPACITY`, `RETRY_AFTER_SECS`,
//!   `RETRY_AFTER_MAX_SECS`, `MAX_BODY_BYTES`, `DRAIN_TIMEOUT_SECS`,
//!   `ALLOWED_IPS`, `TRUSTED_PROXIES`, `RUST_LOG`: as for `chirp_receiver`
//! - `HEADER_TIMEOUT_SECS` (default 10), `BODY_TIMEOUT_SECS` (default 30), `IDLE_TIMEOUT_SECS`
//!   (default 60): as for `chirp_receiver`, through axum-server's hyper builder
//!   (`header_read_timeout`, and `first_request_timeout` for a client that sends nothing), a
//!   408 after `BODY_TIMEOUT_SECS` and an idle timeout under TLS; the TLS handshake has
//!   axum-server's own limit (10 s). Not covered: a client on HTTP/2 (ALPN) that drips its
//!   headers (hyper has no HTTP/2 header timeout); it holds a connection, not the shutdown
//!
//! Route `POST /webhooks/chirp`, with the handlers and the stdout contract of `chirp_receiver`
//! (repeated here so that each example reads on its own): one JSON line per handler
//! invocation, `{"event", "id", "key", "handler"}`, nothing else on stdout. TLS is served by
//! [`axum-server`](https://docs.rs/axum-server) on rustls with the ring provider; plain HTTP on
//! this port fails the TLS handshake. SIGTERM or Ctrl-C stops accepting connections, gives open
//! ones `BODY_TIMEOUT_SECS` to finish (then closes them), runs every accepted event's handler,
//! and exits 0.

mod support;

use std::net::SocketAddr;

use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use webhook_receiver::chirp::{self, ChirpEvent, InboundMessage, MessageStatus};
use webhook_receiver::dispatch::EventContext;
use webhook_receiver::event::Received;

#[tokio::main]
async fn main() -> Result<(), webhook_receiver::BoxError> {
    support::init_tracing();
    support::init_metrics()?;
    let config = support::Config::from_env("127.0.0.1:3443")?;
    let cert = std::env::var("TLS_CERT").map_err(|_| "set TLS_CERT to a PEM certificate file")?;
    let key = std::env::var("TLS_KEY").map_err(|_| "set TLS_KEY to a PEM private key file")?;
    let tls = RustlsConfig::from_pem_file(&cert, &key)
        .await
        .map_err(|e| format!("TLS_CERT={cert:?} / TLS_KEY={key:?}: {e}"))?;
    let secrets = support::secrets_from_env("CHIRP_WEBHOOK_SECRET", |r| {
        format!("dev-{}", hex::encode(r))
    })?;

    // The handlers of chirp_receiver; they run after the 200.
    let webhooks = chirp::webhooks(&secrets)?
        .state(config.behaviour)
        .on(chirp::SMS_RECEIVED, |m: InboundMessage, ctx| {
            emit(ctx, "sms_received", Some(m.id))
        })
        .on(chirp::SMS_SENT, |s: MessageStatus, ctx| {
            emit(ctx, "sms_status", Some(s.id))
        })
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, ctx| {
            emit(ctx, "sms_status", Some(s.id))
        })
        .on(chirp::SMS_FAILED, |s: MessageStatus, ctx| {
            emit(ctx, "sms_status", Some(s.id))
        })
        .on_group("messages.whatsapp.*", |e: ChirpEvent, ctx| {
            emit(ctx, "whatsapp", e.id().map(str::to_owned))
        })
        .fallback(|received: Received<ChirpEvent>, ctx| {
            let id = match &received {
                Received::Event(e) => e.id().map(str::to_owned),
                // The decoder read `data.id` (the payload is kept as text).
                Received::Invalid(_) => ctx.id().map(str::to_owned),
            };
            emit(ctx, "fallback", id)
        });
    let webhooks = config.apply(webhooks).await?.spawn();
    let app =
        axum::Router::new().route_service("/webhooks/chirp", config.allowlist(webhooks.clone()));
    let timeouts = config.timeouts;
    let app = support::with_request_timeout(app, timeouts);

    // Bind first, so that a taken port fails here, before anything is served.
    let listener = std::net::TcpListener::bind(config.addr)?;
    listener.set_nonblocking(true)?;
    tracing::info!(addr = %listener.local_addr()?, "chirp receiver listening on HTTPS POST /webhooks/chirp");

    let handle = axum_server::Handle::new();
    tokio::spawn({
        let handle = handle.clone();
        async move {
            webhook_receiver::shutdown_signal().await;
            // Open connections get the body timeout to finish, then are closed (a sender
            // retries a delivery it got no answer for); the drain runs every accepted event.
            handle.graceful_shutdown(Some(timeouts.body));
        }
    });
    let mut server = axum_server::from_tcp(listener)?
        .acceptor(RustlsAcceptor::new(tls).acceptor(support::IdleAcceptor(timeouts)))
        .first_request_timeout(timeouts.header)
        .handle(handle);
    server
        .http_builder()
        .http1()
        .header_read_timeout(timeouts.header);
    server
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await?;
    webhooks
        .drain(config.drain_timeout)
        .await
        .map_err(|timeout| timeout.to_string())?;
    Ok(())
}

async fn emit(
    ctx: EventContext<support::Behaviour>,
    handler: &'static str,
    id: Option<String>,
) -> Result<(), webhook_receiver::BoxError> {
    let line = support::Line {
        event: ctx.event_name(),
        id: id.as_deref(),
        key: Some(ctx.key()),
        handler: Some(handler),
        ..Default::default()
    };
    support::emit(&ctx, line).await
}
