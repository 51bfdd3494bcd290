//! A receiver for Stripe, GitHub, Slack or Shopify webhooks: the `providers` presets.
//!
//! Run with: `PROVIDER=stripe cargo run --release --example provider_receiver`
//!
//! Environment:
//! - `PROVIDER` (required): `stripe`, `github`, `slack` or `shopify`; the route is
//!   `POST /webhooks/{provider}`
//! - `ADDR` (default `127.0.0.1:3004`)
//! - `WEBHOOK_SECRET`: the sender's signing secrets, comma-separated (rotation: Stripe's
//!   `whsec_...`, GitHub's webhook secret, Slack's signing secret, Shopify's client secret);
//!   unset, a random development secret is generated and printed on stderr
//! - `HANDLER_DELAY_MS`, `HANDLER_FAIL_FIRST`, `RETRY_MAX_ATTEMPTS`, `RETRY_BACKOFF_MS`,
//!   `WEBHOOK_CONCURRENCY`, `WEBHOOK_QUEUE_CAPACITY`, `WEBHOOK_QUEUE_BYTES`, `DEDUP_TTL_SECS`,
//!   `DEDUP_CAPACITY`, `RETRY_AFTER_SECS`, `RETRY_AFTER_MAX_SECS`, `MAX_BODY_BYTES`,
//!   `INBOX_PATH`, `REDIS_URL`, `REDIS_PREFIX`, `REDIS_FALLBACK`, `INBOX`,
//!   `INBOX_VISIBILITY_SECS`, `INBOX_MAX_BACKLOG`, `DATABASE_URL`, `INBOX_SCHEMA`,
//!   `INBOX_LEASE_SECS`, `DATABASE_MAX_CONNECTIONS`, `HANDLER_SINK`, `METRICS_ADDR`,
//!   `ALLOWED_IPS`, `TRUSTED_PROXIES`, `HEADER_TIMEOUT_SECS`, `BODY_TIMEOUT_SECS`,
//!   `IDLE_TIMEOUT_SECS`, `DRAIN_TIMEOUT_SECS`, `RUST_LOG`: as for `chirp_receiver`
//!
//! Every successful handler run prints one JSON line on stdout, `{"event": "<name>", "id":
//! "<provider id>", "attempt": n}` (the name and id each preset reads: Stripe's `type` and
//! `id`, GitHub's `X-GitHub-Event[.action]` and `X-GitHub-Delivery`, Slack's `event.type` and
//! `event_id`, Shopify's `X-Shopify-Topic` and `X-Shopify-Event-Id`); an event that will not be
//! handled prints one line with `"dead_letter": true`, `"attempts"` and `"reason"`.
//! SIGTERM/Ctrl-C drains and exits 0.
//!
//! With `PROVIDER=slack`, Slack's URL verification handshake (`{"type":"url_verification",
//! "challenge":..}`, signed) is answered with the challenge before the receiver, as
//! `providers::slack` describes.
//!
//! Try it with the test sender, which signs as each provider does:
//! ```sh
//! PROVIDER=stripe WEBHOOK_SECRET=whsec_test cargo run --example provider_receiver
//! cargo run --example send -- --scheme stripe --secret whsec_test --redeliver 2 --tamper
//! ```

mod support;

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use http::{Request, Response};
use tower::ServiceExt;
use webhook_receiver::Rejection;
use webhook_receiver::dispatch::EventContext;
use webhook_receiver::event::Received;
use webhook_receiver::json::JsonEvent;
use webhook_receiver::providers::{ProviderWebhooks, github, shopify, slack, stripe};
use webhook_receiver::verify::{HmacSha256, VerifySignature};

#[tokio::main]
async fn main() -> Result<(), webhook_receiver::BoxError> {
    support::init_tracing();
    let provider = std::env::var("PROVIDER").unwrap_or_default();
    let provider = provider.trim();
    match provider {
        "stripe" | "github" | "slack" | "shopify" => {}
        "" => return Err("PROVIDER is not set: stripe, github, slack or shopify".into()),
        other => {
            return Err(
                format!("unknown PROVIDER={other:?}: stripe, github, slack or shopify").into(),
            );
        }
    }
    support::init_metrics()?;
    let config = support::Config::from_env("127.0.0.1:3004")?;
    let secrets = support::secrets_from_env("WEBHOOK_SECRET", |r| match provider {
        "stripe" => format!("whsec_{}", hex::encode(r)),
        _ => format!("dev-{}", hex::encode(r)),
    })?;

    // Every event, whatever its type, reaches the fallback: the payloads are JSON values.
    let builder = match provider {
        "stripe" => stripe::webhooks(&secrets)?,
        "github" => github::webhooks(&secrets)?,
        "slack" => slack::webhooks(&secrets)?,
        _ => shopify::webhooks(&secrets)?,
    };
    let webhooks = builder
        .state(config.behaviour)
        .fallback(|_event: Received<JsonEvent<serde_json::Value>>, ctx| emit(ctx));
    let webhooks = config.apply(webhooks).await?.spawn();

    let path = format!("/webhooks/{provider}");
    let app = if provider == "slack" {
        let scheme = Arc::new(slack::scheme(&secrets)?);
        let limit = max_body_bytes()?;
        let receiver = webhooks.clone();
        let service = tower::service_fn(move |req: Request<Body>| {
            slack_handshake(Arc::clone(&scheme), receiver.clone(), limit, req)
        });
        axum::Router::new().route_service(&path, config.allowlist(service))
    } else {
        axum::Router::new().route_service(&path, config.allowlist(webhooks.clone()))
    };

    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, %provider, "provider receiver on POST {path} listening");
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

/// Slack's URL verification: a signed `url_verification` body is answered with its challenge
/// here; everything else goes on to the receiver. The signature headers are checked before the
/// body is read, as the receiver itself does.
async fn slack_handshake(
    scheme: Arc<HmacSha256>,
    receiver: ProviderWebhooks<support::AnyStore>,
    limit: usize,
    req: Request<Body>,
) -> Result<Response<Body>, Infallible> {
    if let Err(rejection) = scheme.check_headers(req.headers()) {
        return Ok(rejection.into_response());
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return Ok(Rejection::PayloadTooLarge { limit }.into_response());
    };
    if let Some(challenge) = slack::challenge(&bytes) {
        return Ok(match scheme.verify_body(&parts.headers, &bytes) {
            Ok(_) => {
                tracing::info!("answered Slack's url_verification challenge");
                let mut res = Response::new(Body::from(
                    serde_json::json!({ "challenge": challenge }).to_string(),
                ));
                res.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                res
            }
            Err(rejection) => rejection.into_response(),
        });
    }
    let res = receiver
        .oneshot(Request::from_parts(parts, Body::from(bytes)))
        .await?;
    Ok(res.map(Body::new))
}

/// `MAX_BODY_BYTES`, as the receiver reads it (default 1 MiB).
fn max_body_bytes() -> Result<usize, webhook_receiver::BoxError> {
    match std::env::var("MAX_BODY_BYTES") {
        Ok(v) if !v.trim().is_empty() => Ok(v
            .trim()
            .parse()
            .map_err(|e| format!("invalid MAX_BODY_BYTES={v:?}: {e}"))?),
        _ => Ok(webhook_receiver::stack::DEFAULT_BODY_LIMIT),
    }
}

/// One line with the event's name and the provider's id.
async fn emit(ctx: EventContext<support::Behaviour>) -> Result<(), webhook_receiver::BoxError> {
    let line = support::Line {
        event: ctx.event_name(),
        id: ctx.id(),
        ..Default::default()
    };
    support::emit(&ctx, line).await
}
