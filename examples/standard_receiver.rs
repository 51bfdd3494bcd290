//! A Standard Webhooks receiver (the spec behind Svix and others): headers `webhook-id`,
//! `webhook-timestamp`, `webhook-signature` (`v1,<base64>` and `v1a,<base64>` list), `whsec_`
//! secrets and `whpk_` ed25519 public keys, 5-minute timestamp tolerance, dedup by `webhook-id`.
//!
//! Run with: `cargo run --release --example standard_receiver`
//!
//! Environment (all optional):
//! - `ADDR` (default `127.0.0.1:3002`)
//! - `WEBHOOK_SECRET`: `whsec_...` secrets, comma-separated (rotation), for `v1` signatures;
//!   unset (and `STANDARD_WEBHOOKS_PUBLIC_KEY` unset too), a random development secret is
//!   generated and printed on stderr
//! - `STANDARD_WEBHOOKS_PUBLIC_KEY`: `whpk_...` ed25519 public keys, comma-separated (rotation):
//!   `v1a` signatures by their private keys are accepted too, beside `WEBHOOK_SECRET`'s `v1`
//!   (one header may carry both); with this alone, only `v1a`. The test sender prints the
//!   public key of a signing key: `cargo run --example send -- --signing-key whsk_...
//!   --print-public-key`
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
//!
//! Route `POST /webhook`, payload `{"type", "timestamp", "data"}`. Every successful handler run
//! prints one JSON line on stdout, `{"event": "<type>", "id": "<webhook-id>", "attempt": n}` (a
//! dead-lettered event: one line with `"dead_letter": true`, as for `chirp_receiver`). A missing webhook header
//! is 400; a bad signature or a timestamp outside the tolerance is 401. SIGTERM/Ctrl-C drains and
//! exits 0.

mod support;

use base64::Engine;
use webhook_receiver::Webhooks;
use webhook_receiver::dispatch::EventContext;
use webhook_receiver::event::Received;
use webhook_receiver::json::{JsonEvent, JsonFormat};
use webhook_receiver::verify::StandardWebhooks;

webhook_receiver::json_events! {
    /// The spec's recommended payload: `{"type": ..., "timestamp": ..., "data": {...}}`; the
    /// type picks the variant, `data` fills it. Types this receiver does not model still arrive
    /// (with `typed()` = `None` and the raw body kept).
    enum BillingEvent {
        "invoice.paid" => InvoicePaid(serde_json::Value) as INVOICE_PAID,
    }
}

#[tokio::main]
async fn main() -> Result<(), webhook_receiver::BoxError> {
    support::init_tracing();
    support::init_metrics()?;
    let config = support::Config::from_env("127.0.0.1:3002")?;
    let scheme = scheme_from_env()?;

    // Type from the body's `type`; dedup by the signed `webhook-id` header.
    let format = JsonFormat::<BillingEvent>::new().key_header("webhook-id");
    let webhooks = Webhooks::builder(format, scheme)
        .state(config.behaviour)
        .on_group("*", |e: JsonEvent<BillingEvent>, ctx| {
            if let Some(data) = INVOICE_PAID.payload(&e) {
                tracing::debug!(%data, "invoice paid");
            }
            emit(ctx)
        })
        .fallback(|_received: Received<JsonEvent<BillingEvent>>, ctx| emit(ctx));
    let webhooks = config.apply(webhooks).await?.spawn();
    let app = axum::Router::new().route_service("/webhook", config.allowlist(webhooks.clone()));

    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "standard webhooks receiver on POST /webhook listening");
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

/// `v1` with `WEBHOOK_SECRET`, `v1a` with `STANDARD_WEBHOOKS_PUBLIC_KEY`, or both.
fn scheme_from_env() -> Result<StandardWebhooks, webhook_receiver::BoxError> {
    const PUBLIC_KEYS: &str = "STANDARD_WEBHOOKS_PUBLIC_KEY";
    let public_keys: Vec<String> = std::env::var(PUBLIC_KEYS)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    let has_public_keys = public_keys.iter().any(|k| !k.is_empty());
    let has_secret = std::env::var("WEBHOOK_SECRET").is_ok_and(|v| !v.trim().is_empty());
    let invalid = |e| format!("invalid {PUBLIC_KEYS}: {e}");
    if has_public_keys && !has_secret {
        // No generated development secret: this receiver verifies v1a only.
        tracing::info!(
            keys = public_keys.len(),
            "verifying v1a (ed25519) signatures only"
        );
        return Ok(StandardWebhooks::with_public_keys(&public_keys).map_err(invalid)?);
    }
    let secrets = support::secrets_from_env("WEBHOOK_SECRET", |r| {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(r)
        )
    })?;
    let scheme = StandardWebhooks::new(&secrets)?;
    if !has_public_keys {
        return Ok(scheme);
    }
    tracing::info!(
        secrets = secrets.len(),
        keys = public_keys.len(),
        "verifying v1 (HMAC) and v1a (ed25519) signatures"
    );
    Ok(scheme.public_keys(&public_keys).map_err(invalid)?)
}

async fn emit(ctx: EventContext<support::Behaviour>) -> Result<(), webhook_receiver::BoxError> {
    let line = support::Line {
        event: ctx.event_name(),
        id: ctx.id(),
        ..Default::default()
    };
    support::emit(&ctx, line).await
}
