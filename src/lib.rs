//! Receive webhooks correctly in axum and tower services: authenticate the sender, drop
//! redeliveries, parse the payload into typed events, acknowledge fast, and run your handlers
//! after the 200 without losing what was acknowledged.
//!
//! One value does it all: [`Webhooks`], built from a wire format and a verifier (or a provider
//! preset such as [`chirp::webhooks`]), with your handlers registered per event type. It is a
//! `tower::Service` you mount on an axum route or wrap in any tower stack.
//!
//! ```text
//!  request ─▶ VerifyWebhook ─▶ WebhookService ──────────────────────────────────────────▶ 200
//!             secret/signature   405 · 415 · 413 · 400 · reserve a slot (503) · dedup claim
//!             (401)              (+ durable inbox: claim and raw event fsync'd together)
//!                                                                      │ queue
//!                                     Dispatcher: bounded queue, concurrency limit, timer queue
//!                                                                      └─▶ your handlers
//!                                        failed ─▶ retried (backoff) ─▶ ... ─▶ dead-letter hook
//!  └─────────────────────────────────── Webhooks ───────────────────────────────────────┘
//! ```
//!
//! - [`webhooks`]: the facade, [`Webhooks`] and its builder.
//! - [`allowlist`]: a tower layer that answers 403 to clients outside your IP networks
//!   (trusted proxies' `X-Forwarded-For` / `Forwarded` read right to left), put outside the rest.
//! - [`verify`]: the tower layer that checks a shared-secret header (constant time, several
//!   secrets for rotation) before the body is read, or a signature of the raw body
//!   (HMAC-SHA256, Standard Webhooks).
//! - [`receiver`]: the terminal service: content type, body limit, decoding into typed events,
//!   dedup claim, enqueue, 200.
//! - [`store`]: the one storage seam. Redeliveries are acknowledged and not dispatched again;
//!   nothing unauthenticated, unparsed or not queued is remembered. The default store is
//!   [`MokaStore`](store::MokaStore) (in process); `DurableInbox` (feature `durable`) keeps
//!   acknowledged events across crashes and restarts, `RedisStore` and `RedisInbox` (feature
//!   `redis`) share them between replicas; [`Store`](store::Store) is the trait to write your own.
//! - [`dispatch`]: handlers per event type with typed payloads, run after the response with
//!   bounded concurrency; a failed handler is retried ([`RetryPolicy`](dispatch::RetryPolicy)),
//!   an event that cannot be handled goes to the dead-letter hook; overload answers 503; the
//!   drain runs accepted work and reports what it leaves.
//! - [`telemetry`]: the `tracing` spans and the metrics (names and labels).
//! - Formats: [`chirp`] (Chirp SMS / WhatsApp), [`json`] (your own serde enum for any JSON
//!   sender), or your own [`DecodeEvent`].
//!
//! # Quick start (axum)
//!
//! ```no_run
//! use std::time::Duration;
//! use webhook_receiver::chirp::{self, MessageStatus};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), webhook_receiver::BoxError> {
//!     let webhooks = chirp::webhooks(["secret-2025", "secret-2024"])?
//!         .on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx| async move {
//!             tracing::info!(message = %status.id, key = %ctx.key(), "delivered");
//!         })
//!         .spawn();
//!     let app = axum::Router::new().route_service("/webhooks/chirp", webhooks.clone());
//!     let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//!     axum::serve(listener, app).with_graceful_shutdown(webhook_receiver::shutdown_signal()).await?;
//!     webhooks.drain(Duration::from_secs(30)).await?; // run every acknowledged event
//!     Ok(())
//! }
//! ```
//!
//! The handler runs after the 200, with the typed payload. The `EventContext` (`ctx`) gives the
//! event's name, dedup key, the sender's id, the receive time and your state
//! ([`WebhooksBuilder::state`]).
//!
//! # Status codes
//!
//! | status | when | remembered? |
//! |---|---|---|
//! | 200 `{"received":true}` | accepted and queued; handlers run later | yes |
//! | 200 `{"received":true,"duplicate":true}` | a redelivery of an accepted event; not dispatched | already |
//! | 400 | body not UTF-8 / not JSON / not an object / envelope field missing or wrong; a scheme header missing (Standard Webhooks) | no |
//! | 401 | secret or signature missing or wrong; timestamp outside the tolerance; event older than the replay window | no |
//! | 403 | client address not in the [`allowlist`] (if you wrap one around the receiver), or unknown | no |
//! | 405 | not `POST` | no |
//! | 413 | body over the limit (default 1 MiB) | no |
//! | 415 | `Content-Type` not `application/json` or `application/*+json` | no |
//! | 503 + `Retry-After` | queue full (waiting retries count) or its byte budget spent (`queue_bytes`), shutting down, or dedup store / durable inbox unavailable | no |
//! | 503 + `Retry-After: 1` | another claim of the same event is in flight on a shared store ([`Claim::InFlight`](store::Claim::InFlight), `claim_in_flight`) | no |
//!
//! For a full queue, `Retry-After` is computed from the backlog, with jitter, so that the
//! senders refused together come back spread out when there should be room (see
//! [Retry-After](dispatch#retry-after)); [`WebhooksBuilder::retry_after`] sets a fixed value or
//! another maximum.
//!
//! Every error body is `{"error": {"type", "code", "message"}}`.
//!
//! # Order
//!
//! [`Webhooks`] is the verify layer over the receiving service: authentication comes first, and
//! a shared secret is checked before the body is read. Layers you wrap around it (timeouts,
//! tracing, concurrency limits) see the request before it does; keep anything that buffers or
//! rewrites the body out of that path, since signatures are checked over the exact bytes.
//! An [`IpAllowlistLayer`](allowlist::IpAllowlistLayer) goes outside it (first), so a
//! refused address is answered 403 before its secret is looked at.
//!
//! Assembling the pieces yourself with `tower::ServiceBuilder` (layers added first see the
//! request first): put [`VerifyWebhookLayer`](verify::VerifyWebhookLayer) before anything
//! that reads or buffers the body, and the [`WebhookService`](receiver::WebhookService) at the
//! bottom, with the same body limit on both.
//!
//! # Deployment modes
//!
//! | mode | configure | a redelivery | a crash or `kill -9` | a deploy (SIGTERM) |
//! |---|---|---|---|---|
//! | one process, in memory (default) | nothing | deduplicated for [`DEFAULT_TTL`](store::DEFAULT_TTL), until a restart | loses what was queued or waiting for a retry | drains; at the deadline what is left is logged and dead-lettered |
//! | one process + durable inbox | [`WebhooksBuilder::store`] with a `DurableInbox` (feature `durable`) | deduplicated across restarts | nothing acknowledged is lost: replayed at the next start, at least once | drains; what is left stays in the inbox for the next start |
//! | several replicas + Redis inbox | [`WebhooksBuilder::store`] with a `RedisInbox` (feature `redis`) | deduplicated across replicas and restarts | nothing acknowledged is lost: another replica takes the dead one's events over after the visibility timeout, at least once | drains; what is left stays in the stream for the other replicas |
//!
//! `DEPLOYMENT.md` in the repository is the guide: how to configure each mode, and what each
//! guarantees about duplicates, loss and ordering.
//!
//! In every mode, handlers of one event run one after the other in registration order; events
//! run concurrently, in no guaranteed order. Delivery to handlers is at least once across
//! retries and crashes: key idempotent work by [`EventContext::key`](dispatch::EventContext::key).
//!
//! # Observability
//!
//! A `debug` span per delivery and per handler attempt, and metrics through the `metrics`
//! facade, named and labelled in [`telemetry`]; `info` stays quiet at load.
//!
//! # Feature flags
//!
//! | feature | default | what |
//! |---|---|---|
//! | `chirp` | yes | Chirp typed events ([`chirp`]) |
//! | `hmac` | yes | [`HmacSha256`](verify::HmacSha256): hex/base64 HMAC-SHA256 of the raw body |
//! | `standard-webhooks` | yes | [`StandardWebhooks`](verify::StandardWebhooks) signatures |
//! | `axum` | no | `Webhooks::router`: the receiver as an `axum::Router` for a path |
//! | `testing` | no | signed-request builders for your tests ([`testing`]) |
//! | `durable` | no | [`inbox::DurableInbox`]: claims and raw events committed to a redb file before the 200 (needs Rust 1.89) |
//! | `redis` | no | [`inbox::RedisInbox`]: claims and raw events on a Redis Stream shared by replicas; [`RedisStore`](store::RedisStore): dedup alone shared by replicas (Redis 7.0 or newer, redis-rs) |
//! | `full` | no | all of the above |
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod allowlist;
mod body;
mod dedup;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod json;
pub mod receiver;
mod shutdown;
pub mod store;
pub mod telemetry;
pub mod verify;
pub mod webhooks;

#[cfg(feature = "chirp")]
#[cfg_attr(docsrs, doc(cfg(feature = "chirp")))]
pub mod chirp;

#[cfg(feature = "inbox")]
mod inbox;

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

/// What `json_events!` expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
}

// The README's Rust blocks are compiled as doctests, so the quick start cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
