//! A Chirp webhook receiver: verify, dedup, typed events, handlers after the 200.
//!
//! Run with: `cargo run --release --example chirp_receiver`
//!
//! Environment (all optional):
//! - `ADDR` (default `127.0.0.1:3000`)
//! - `CHIRP_WEBHOOK_SECRET`: accepted `X-Webhook-Secret` values, comma-separated (rotation);
//!   unset, a random development secret is generated and printed on stderr
//! - `HANDLER_DELAY_MS` (default 0): every handler sleeps this long first
//! - `WEBHOOK_CONCURRENCY`, `WEBHOOK_QUEUE_CAPACITY`, `DEDUP_TTL_SECS`, `MAX_BODY_BYTES`:
//!   the library's defaults when unset (64, 1024, 86400, 1048576)
//! - `DRAIN_TIMEOUT_SECS` (default 300), `RUST_LOG` (default `info`; logs go to stderr)
//!
//! Route `POST /webhooks/chirp`. Every handler invocation prints exactly one JSON line on stdout,
//! `{"event": "<event type>", "id": "<data.id>", "key": "<dedup key>", "handler": "<which>"}`;
//! nothing else goes to stdout. SIGTERM or Ctrl-C stops accepting, runs every accepted event's
//! handler, and exits 0.

mod support;

use std::time::Duration;

use axum::Router;
use tower::ServiceBuilder;
use webhook_receiver::chirp::{self, Chirp, ChirpEvent, InboundMessage, MessageStatus};
use webhook_receiver::dispatch::{Dispatcher, EventContext, Handlers};
use webhook_receiver::event::Received;
use webhook_receiver::receiver::WebhookService;
use webhook_receiver::verify::{SharedSecret, VerifyWebhookLayer};

#[tokio::main]
async fn main() -> Result<(), support::BoxError> {
    support::init_tracing();
    let config = support::Config::from_env("127.0.0.1:3000")?;
    let secrets = support::secrets_from_env("CHIRP_WEBHOOK_SECRET", |r| {
        format!("dev-{}", hex::encode(r))
    });

    // Handlers per event type, with typed payloads; they run after the 200.
    let handlers = Handlers::with_state(config.handler_delay)
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
        // A group: every WhatsApp message event.
        .on_group("messages.whatsapp.*", |e: ChirpEvent, ctx| {
            emit(ctx, "whatsapp", e.id().map(str::to_owned))
        })
        // Everything else: templates, contacts, accounts, unknown types, invalid payloads.
        .fallback(|item: Received<ChirpEvent>, ctx| {
            let id = match &item {
                Received::Event(e) => e.id().map(str::to_owned),
                Received::Invalid(bad) => bad
                    .data
                    .get("id")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
            };
            emit(ctx, "fallback", id)
        });
    let dispatcher = config.dispatcher(Dispatcher::builder(handlers)).spawn();

    // The verify layer in front of the receiver, mounted on an axum router.
    let receiver = config
        .receiver(WebhookService::builder(Chirp, dispatcher.clone()))
        .build();
    let webhooks = ServiceBuilder::new()
        .layer(VerifyWebhookLayer::new(SharedSecret::new(&secrets)?))
        .service(receiver);
    let app = Router::new().route_service("/webhooks/chirp", webhooks);

    support::serve(
        &config,
        app,
        dispatcher,
        "chirp receiver on POST /webhooks/chirp",
    )
    .await
}

async fn emit(ctx: EventContext<Duration>, handler: &'static str, id: Option<String>) {
    let line = support::Line {
        event: ctx.event_name(),
        id: id.as_deref(),
        key: Some(ctx.key()),
        handler: Some(handler),
    };
    support::emit(*ctx.state(), line).await;
}
