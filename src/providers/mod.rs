//! Presets for the senders Rust services receive from most: [`stripe`], [`github`],
//! [`slack`] and [`shopify`] (feature `providers`).
//!
//! Each is a few lines of configuration of the one HMAC scheme,
//! [`HmacSha256`] (what is signed, where the signature and the
//! timestamp are, how they are encoded, the tolerance), and of [`JsonFormat`]
//! (where the event's name and dedup id are). Each module has the same three functions, as
//! [`chirp::webhooks`](crate::chirp) does:
//!
//! - `scheme(secrets)`: the verifier, to use on its own or with [`VerifyWebhookLayer`](crate::stack::VerifyWebhookLayer);
//! - `format::<E>()`: the format, typed by your serde enum `E` (see [`json`](crate::json));
//! - `webhooks(secrets)`: both in a [`WebhooksBuilder`](crate::WebhooksBuilder), with [`serde_json::Value`] payloads.
//!
//! | Sender | Signature | Signed | Timestamp | Event name | Dedup id |
//! |---|---|---|---|---|---|
//! | Stripe | `Stripe-Signature: t=..,v1=<hex>[,v1=..]` | `{t}.{body}` | `t=`, ±5 min | body `type` | body `id` |
//! | GitHub | `X-Hub-Signature-256: sha256=<hex>` | body | none | `X-GitHub-Event`, `.{action}` when the body has one | `X-GitHub-Delivery` |
//! | Slack (Events API) | `X-Slack-Signature: v0=<hex>` | `v0:{t}:{body}` | `X-Slack-Request-Timestamp`, ±5 min | `event.type`, or the top-level `type` | `event_id` |
//! | Shopify | `X-Shopify-Hmac-Sha256: <base64>` | body | none | `X-Shopify-Topic` | `X-Shopify-Event-Id`, else `X-Shopify-Webhook-Id` |
//!
//! Every preset is tested against signatures made by the sender's own published code or
//! documented examples (`tests/vectors/providers.json` in the repository, with the script that
//! made them), including Stripe's rotation (several `v1=` entries), both clock directions and
//! tampered bodies.
//!
//! Payloads are [`serde_json::Value`] by default: an event type this crate has never heard of
//! is received like any other. For typed handlers, declare your enum with
//! [`json_events!`](crate::json_events) and build with
//! `Webhooks::builder(stripe::format::<MyEvent>(), stripe::scheme(secrets)?)`; unknown types
//! still reach `on_group` handlers and the fallback.
//!
//! One feature for the four: each is a few constants and two small functions over the `hmac`
//! feature's scheme, with no dependency of its own, so a feature per sender would only add
//! names to remember.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), webhook_receiver::BoxError> {
//! use std::time::Duration;
//! use webhook_receiver::json::JsonEvent;
//! use webhook_receiver::providers::{github, stripe};
//!
//! let payments = stripe::webhooks(["whsec_..."])?
//!     .on_group("payment_intent.*", |event: JsonEvent<serde_json::Value>, ctx| async move {
//!         tracing::info!(event = ctx.event_name(), id = ?event.id(), "payment");
//!     })
//!     .spawn();
//! let code = github::webhooks(["github-secret"])?
//!     .on_group("pull_request.*", |_pr: JsonEvent<serde_json::Value>, ctx| async move {
//!         tracing::info!(event = ctx.event_name(), "pull request");
//!     })
//!     .spawn();
//! let app: axum::Router = axum::Router::new()
//!     .route_service("/webhooks/stripe", payments.clone())
//!     .route_service("/webhooks/github", code.clone());
//! # drop(app);
//! payments.drain(Duration::from_secs(30)).await?;
//! code.drain(Duration::from_secs(30)).await?;
//! # Ok(())
//! # }
//! ```

pub mod github;
pub mod shopify;
pub mod slack;
pub mod stripe;

use serde_json::Value;

use crate::dedup::MokaStore;
use crate::json::JsonFormat;
use crate::verify::HmacSha256;
use crate::webhooks::Webhooks;

/// A receiver made by one of the presets' `webhooks(..)`, once spawned: the type to name in
/// your application state.
///
/// ```
/// use webhook_receiver::providers::{ProviderWebhooks, shopify};
///
/// #[derive(Clone)]
/// struct AppState {
///     shopify: ProviderWebhooks,
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let state = AppState { shopify: shopify::webhooks(["shpss_secret"]).unwrap().spawn() };
/// assert_eq!(state.shopify.dispatcher().queued(), 0);
/// # }
/// ```
pub type ProviderWebhooks<St = MokaStore> = Webhooks<JsonFormat<Value>, HmacSha256, St>;

/// A header's value as text, if present and visible ASCII.
fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
