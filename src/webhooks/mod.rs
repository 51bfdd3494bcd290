//! The facade: one value that authenticates, decodes, deduplicates, acknowledges and dispatches.
//!
//! [`Webhooks::builder`] takes a wire format and a verifier; its builder holds everything else
//! (handlers, queue and concurrency limits, dedup settings, one body limit), and
//! [`spawn`](WebhooksBuilder::spawn) starts the dispatcher and returns the [`Webhooks`] value.
//! That value is a `tower::Service<http::Request<B>>` with `Error = Infallible`, cheap to clone:
//! mount it with axum's `Router::route_service`, or wrap it in any tower stack. At shutdown,
//! [`drain`](Webhooks::drain) runs every acknowledged event.
//!
//! Inside it is the low-level stack, each piece public for tower users who assemble their own:
//!
//! ```text
//!  Webhooks = VerifyWebhook<WebhookService<F, St>, V>      (VerifyWebhookLayer over WebhookService)
//!                                   └── Dispatcher<F::Event> (Handlers)
//! ```
//!
//! # Example: your own JSON events behind an HMAC signature
//!
//! ```
//! use serde::Deserialize;
//! use webhook_receiver::Webhooks;
//! use webhook_receiver::json::{JsonEvent, JsonFormat};
//! use webhook_receiver::verify::HmacSha256;
//!
//! #[derive(Debug, Clone, Deserialize)]
//! enum AppEvent {
//!     #[serde(rename = "user.created")]
//!     UserCreated(serde_json::Value),
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), webhook_receiver::BoxError> {
//! let webhooks = Webhooks::builder(JsonFormat::<AppEvent>::new(), HmacSha256::new(["s3cr3t"])?)
//!     .on_group("user.*", |event: JsonEvent<AppEvent>, ctx| async move {
//!         tracing::info!(event = ctx.event_name(), id = ?event.id(), "user event");
//!     })
//!     .body_limit(256 * 1024)
//!     .spawn();
//! let app: axum::Router = axum::Router::new().route_service("/webhook", webhooks.clone());
//! # drop(app);
//! webhooks.drain(std::time::Duration::from_secs(5)).await?;
//! # Ok(())
//! # }
//! ```

mod builder;
mod future;
mod service;

pub use builder::WebhooksBuilder;
pub use future::ResponseFuture;
pub use service::Webhooks;
