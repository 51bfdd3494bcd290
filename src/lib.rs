//! Receive webhooks correctly in axum and tower services: authenticate the sender, drop
//! redeliveries, parse the payload into typed events, acknowledge fast, and run your handlers
//! after the 200 without losing what was acknowledged.
//!
//! ```text
//!  request ─▶ VerifyWebhookLayer ─▶ WebhookService ───────────────────────────────▶ 200
//!             secret / signature     405 · 415 · 413 · 400 · 503 · dedup · enqueue
//!                                                                     │
//!                                             Dispatcher (bounded queue, runners)
//!                                                                     └─▶ your handlers
//! ```
//!
//! - [`verify`]: a tower layer that checks a shared-secret header (constant time, several
//!   secrets for rotation) before the body is read, or a signature of the raw body (HMAC-SHA256,
//!   Standard Webhooks).
//! - [`receiver`]: the terminal service: content type, body limit, decoding into typed events,
//!   dedup claim, enqueue, 200.
//! - [`dedup`]: redeliveries are acknowledged and not dispatched again; nothing unauthenticated
//!   or unparsed is remembered.
//! - [`dispatch`]: handlers per event type with typed payloads, run after the response with
//!   bounded concurrency; overload answers 503; shutdown drains accepted work.
//! - Formats: [`chirp`] (Chirp SMS / WhatsApp), [`json`] (your own serde enum for any JSON
//!   sender), or your own [`DecodeEvent`].
//!
//! # Quick start (axum)
//!
//! ```
//! use axum::Router;
//! use tower::ServiceBuilder;
//! use webhook_receiver::chirp::{self, Chirp, MessageStatus};
//! use webhook_receiver::dispatch::{Dispatcher, Handlers};
//! use webhook_receiver::receiver::WebhookService;
//! use webhook_receiver::verify::{SharedSecret, VerifyWebhookLayer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let handlers = Handlers::new().on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx| async move {
//!     tracing::info!(message = %status.id, key = %ctx.key(), "delivered");
//! });
//! let dispatcher = Dispatcher::builder(handlers).spawn();
//! let webhooks = ServiceBuilder::new()
//!     .layer(VerifyWebhookLayer::new(SharedSecret::new(["my-secret"])?))
//!     .service(WebhookService::builder(Chirp, dispatcher.clone()).build());
//! let app = Router::new().route_service("/webhooks/chirp", webhooks);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).with_graceful_shutdown(async { /* signal */ }).await?;
//! dispatcher.drain(std::time::Duration::from_secs(30)).await?; // run every accepted event
//! # Ok(()) }
//! ```
//!
//! # Status codes
//!
//! | status | when | remembered? |
//! |---|---|---|
//! | 200 `{"received":true}` | accepted and queued; handlers run later | yes |
//! | 200 `{"received":true,"duplicate":true}` | a redelivery of an accepted event; not dispatched | already |
//! | 400 | body not UTF-8 / not JSON / not an object / envelope field missing or wrong; a scheme header missing (Standard Webhooks) | no |
//! | 401 | secret or signature missing or wrong; timestamp outside the tolerance; event older than the replay window | no |
//! | 405 | not `POST` | no |
//! | 413 | body over the limit (default 1 MiB) | no |
//! | 415 | `Content-Type` not `application/json` or `application/*+json` | no |
//! | 503 + `Retry-After` | queue full, shutting down, or dedup store unavailable | no |
//!
//! Every error body is `{"error": {"type", "code", "message"}}`.
//!
//! # Order
//!
//! With `tower::ServiceBuilder`, layers added first see the request first: put
//! [`VerifyWebhookLayer`](verify::VerifyWebhookLayer) before anything that reads or buffers the
//! body, and the [`WebhookService`](receiver::WebhookService) at the bottom.
//!
//! # Feature flags
//!
//! | feature | default | what |
//! |---|---|---|
//! | `chirp` | yes | Chirp typed events ([`chirp`]) |
//! | `hmac` | yes | [`HmacSha256`](verify::HmacSha256): hex/base64 HMAC-SHA256 of the raw body |
//! | `standard-webhooks` | yes | [`StandardWebhooks`](verify::StandardWebhooks) signatures |
//! | `moka` | no | `MokaStore`: the dedup store on a `moka` cache, with true LRU eviction |
//! | `testing` | no | signed-request builders for your tests ([`testing`]) |
//! | `full` | no | all of the above |
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
pub mod dedup;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod json;
pub mod receiver;
mod shutdown;
pub mod verify;
pub mod webhooks;

#[cfg(feature = "chirp")]
#[cfg_attr(docsrs, doc(cfg(feature = "chirp")))]
pub mod chirp;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use body::ResponseBody;
#[doc(inline)]
pub use dedup::DedupKey;
#[doc(inline)]
pub use error::{BoxError, DecodeError, HeaderProblem, Rejection, StoreError};
#[doc(inline)]
pub use event::{DecodeEvent, Event, EventType};
pub use shutdown::shutdown_signal;
#[doc(inline)]
pub use webhooks::{Webhooks, WebhooksBuilder};

// The README's Rust blocks are compiled as doctests, so the quick start cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
