//! A receiver for the generic HMAC-signed format (`{"id", "type", "created_at", "data"}`, header
//! `X-Webhook-Signature` = lowercase hex HMAC-SHA256 of the raw body), typed by your own enum.
//!
//! Run with: `cargo run --release --example generic_receiver`
//!
//! Environment (all optional):
//! - `ADDR` (default `127.0.0.1:3001`)
//! - `WEBHOOK_SECRET`: HMAC secrets, comma-separated (rotation); unset, a random development
//!   secret is generated and printed on stderr
//! - `ALLOWED_IPS`: comma-separated CIDRs or addresses (`10.0.0.0/8,2001:db8::/32`); when set,
//!   only those clients may deliver (others get 403 `ip_not_allowed`, before the secret is
//!   checked); `TRUSTED_PROXIES`: the proxies (CIDRs) whose `X-Forwarded-For` names the client,
//!   read right to left
//! - `HANDLER_DELAY_MS`, `HANDLER_FAIL_FIRST`, `RETRY_MAX_ATTEMPTS`, `RETRY_BACKOFF_MS`,
//!   `WEBHOOK_CONCURRENCY`, `WEBHOOK_QUEUE_CAPACITY`, `DEDUP_TTL_SECS`, `DEDUP_CAPACITY`,
//!   `RETRY_AFTER_SECS`, `RETRY_AFTER_MAX_SECS`, `MAX_BODY_BYTES`, `INBOX_PATH`, `REDIS_URL`,
//!   `REDIS_PREFIX`, `REDIS_FALLBACK`, `INBOX`, `INBOX_VISIBILITY_SECS`, `INBOX_MAX_BACKLOG`,
//!   `DATABASE_URL`, `INBOX_SCHEMA`, `INBOX_LEASE_SECS`, `DATABASE_MAX_CONNECTIONS`,
//!   `HANDLER_SINK`, `METRICS_ADDR`,
//!   `DRAIN_TIMEOUT_SECS`, `RUST_LOG`: as for `chirp_receiver`
//! - `HEADER_TIMEOUT_SECS` (default 10), `BODY_TIMEOUT_SECS` (default 30), `IDLE_TIMEOUT_SECS`
//!   (default 60): the slow-client limits, as for `chirp_receiver`
//! - `MAX_EVENT_AGE_SECS`: replay guard; events whose `created_at` is older are answered 401
//!   (off when unset; set it no longer than `DEDUP_TTL_SECS`)
//!
//! Route `POST /webhook`. Every successful handler run prints one JSON line on stdout,
//! `{"event": "<type>", "id": "<top-level id>", "attempt": n}`; an event that will not be handled
//! prints one line with `"dead_letter": true`, `"attempts"` and `"reason"`. SIGTERM/Ctrl-C drains and exits 0.
//!
//! Sign a request by hand:
//! ```sh
//! body='{"id":"evt_1","type":"user.created","created_at":"2026-01-15T12:30:00Z","data":{"id":"user_123","name":"John Doe"}}'
//! sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" -hex | sed 's/.* //')
//! curl -si localhost:3001/webhook -H 'content-type: application/json' -H "x-webhook-signature: $sig" -d "$body"
//! ```

mod support;

use std::time::Duration;

use serde::Deserialize;
use webhook_receiver::Webhooks;
use webhook_receiver::dispatch::EventContext;
use webhook_receiver::event::Received;
use webhook_receiver::json::{JsonEvent, JsonFormat};
use webhook_receiver::verify::HmacSha256;

// ---- Your events: plain serde types. ----

#[derive(Debug, Clone, Deserialize)]
struct User {
    id: String,
    name: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Project {
    id: String,
    name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Payment {
    id: String,
    amount: Option<i64>,
    currency: Option<String>,
}

// ---- The event enum: each wire name written once, with its variant and its constant. ----

webhook_receiver::json_events! {
    enum AppEvent {
        "user.created" => UserCreated(User) as USER_CREATED,
        "user.updated" => UserUpdated(User) as USER_UPDATED,
        "user.deleted" => UserDeleted(User) as USER_DELETED,
        "project.created" => ProjectCreated(Project) as PROJECT_CREATED,
        "payment.succeeded" => PaymentSucceeded(Payment) as PAYMENT_SUCCEEDED,
        "payment.failed" => PaymentFailed(Payment) as PAYMENT_FAILED,
    }
}

type Ev = JsonEvent<AppEvent>;

#[tokio::main]
async fn main() -> Result<(), webhook_receiver::BoxError> {
    support::init_tracing();
    support::init_metrics()?;
    let config = support::Config::from_env("127.0.0.1:3001")?;
    let secrets =
        support::secrets_from_env("WEBHOOK_SECRET", |r| format!("dev-{}", hex::encode(r)))?;

    let mut format = JsonFormat::<AppEvent>::new(); // type from /type, dedup by /id
    if let Some(secs) = std::env::var("MAX_EVENT_AGE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        format = format.max_age("/created_at", Duration::from_secs(secs));
    }

    let webhooks = Webhooks::builder(format, HmacSha256::new(&secrets)?)
        .state(config.behaviour)
        .on(USER_CREATED, |u: User, ctx| {
            tracing::debug!(user = %u.id, name = ?u.name, email = ?u.email, "user created");
            emit(ctx)
        })
        .on(USER_UPDATED, |_u: User, ctx| emit(ctx))
        .on(USER_DELETED, |_u: User, ctx| emit(ctx))
        .on(PROJECT_CREATED, |p: Project, ctx| {
            tracing::debug!(project = %p.id, name = ?p.name, "project created");
            emit(ctx)
        })
        .on_group("payment.*", |e: Ev, ctx| {
            if let Some(p) = PAYMENT_SUCCEEDED.payload(&e).or(PAYMENT_FAILED.payload(&e)) {
                tracing::debug!(payment = %p.id, amount = ?p.amount, currency = ?p.currency, "payment");
            }
            emit(ctx)
        })
        .fallback(|received: Received<Ev>, ctx| {
            if let Received::Invalid(bad) = &received {
                tracing::warn!(event = %bad.event_name, path = %bad.path, error = %bad.error, "invalid payload");
            }
            emit(ctx)
        });
    let webhooks = config.apply(webhooks).await?.spawn();
    let app = axum::Router::new().route_service("/webhook", config.allowlist(webhooks.clone()));

    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "generic receiver on POST /webhook listening");
    // Header, body and idle timeouts on every connection; the peer address for `ALLOWED_IPS`.
    support::serve(
        listener,
        app,
        config.timeouts,
        webhook_receiver::shutdown_signal(),
    )
    .await?;
    webhooks
        .drain(config.drain_timeout)
        .await
        .map_err(|timeout| timeout.to_string())?;
    Ok(())
}

/// The handler body every registration shares: one line with the type and the top-level id.
async fn emit(ctx: EventContext<support::Behaviour>) -> Result<(), webhook_receiver::BoxError> {
    let line = support::Line {
        event: ctx.event_name(),
        id: ctx.id(),
        ..Default::default()
    };
    support::emit(&ctx, line).await
}
