//! Receive webhooks correctly in [axum](https://docs.rs/axum) and [tower](https://docs.rs/tower)
//! services. One value, [`Webhooks`], built in one call from a wire format and a verifier (or a
//! provider preset such as [`chirp::webhooks`]) and mounted as one route, that:
//!
//! - **authenticates the sender**: a shared-secret header compared in constant time (Chirp's
//!   `X-Webhook-Secret`), an HMAC-SHA256 signature of the raw body (GitHub-style and the generic
//!   format), or [Standard Webhooks](https://www.standardwebhooks.com/) signatures (Svix and
//!   others); several secrets at once for rotation;
//! - **drops redeliveries**: compact 16-byte event keys ([`DedupKey`]) in a store, by default a
//!   bounded TTL cache in process ([`MokaStore`](store::MokaStore), on
//!   [moka](https://docs.rs/moka)): a redelivery is answered 200 and not dispatched again,
//!   distinct events are never collapsed, and nothing unauthenticated, unparsed or not queued is
//!   ever remembered;
//! - **parses into typed events**: all 18 Chirp event types, or your own serde enum for any JSON
//!   sender ([`json_events!`]); unknown types never break the receiver;
//! - **acknowledges fast**: the 200 goes out once the event is in a bounded queue (or kept by the
//!   store), never after a handler; overload answers 503 with a `Retry-After` computed from the
//!   backlog, with jitter, so the senders' retries come back spread out when there is room;
//! - **runs your handlers afterwards**: per event type with typed payloads, bounded concurrency,
//!   retries per handler, errors and panics isolated and reported, a dead-letter hook, and a
//!   graceful shutdown that runs every accepted event; with a store that keeps events (feature
//!   `durable`, `redis` or `postgres`), what was acknowledged survives a crash, a `kill -9` or the death of
//!   a replica.
//!
//! [`Webhooks`] is a `tower::Service` you mount on an axum route or wrap in any tower stack.
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
//! - [`verify`]: the verifiers: a shared-secret header (constant time, several secrets for
//!   rotation) checked before the body is read, or a signature of the raw body (HMAC-SHA256,
//!   Standard Webhooks).
//! - [`stack`]: the pieces inside `Webhooks`, for tower users who assemble their own stack: the
//!   verify layer, the terminal service (content type, body limit, decoding into typed events,
//!   dedup claim, enqueue, 200) and the dispatcher.
//! - [`store`]: the one storage seam. Redeliveries are acknowledged and not dispatched again;
//!   nothing unauthenticated, unparsed or not queued is remembered. The default store is
//!   [`MokaStore`](store::MokaStore) (in process); `DurableInbox` (feature `durable`) keeps
//!   acknowledged events across crashes and restarts, `RedisStore` and `RedisInbox` (feature
//!   `redis`) and `PostgresInbox` (feature `postgres`) share them between replicas;
//!   [`Store`](store::Store) is the trait to write your own.
//! - [`dispatch`]: handlers per event type with typed payloads, run after the response with
//!   bounded concurrency; a failed handler is retried ([`RetryPolicy`](dispatch::RetryPolicy)),
//!   an event that cannot be handled goes to the dead-letter hook; overload answers 503; the
//!   drain runs accepted work and reports what it leaves.
//! - [`telemetry`]: the `tracing` spans and the metrics (names and labels).
//! - Formats: [`chirp`] (Chirp SMS / WhatsApp), [`json`] (your own serde enum for any JSON
//!   sender), or your own [`Format`].
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
//! [`chirp::webhooks(secrets)`](chirp::webhooks) is the Chirp preset: Chirp's format behind a
//! constant-time check of `X-Webhook-Secret` (several secrets while rotating). Any other JSON
//! sender is `Webhooks::builder(JsonFormat::<YourEnum>::new(), HmacSha256::new([secret])?)` (or
//! [`StandardWebhooks`](verify::StandardWebhooks), or your own verifier): see [`json`] for your
//! own events and [`verify`] for the signature schemes.
//!
//! The handler runs after the 200, with the typed payload. Handlers are async and return `()` or
//! `Result<(), E>`. The [`EventContext`](dispatch::EventContext) (`ctx`) gives the event's name,
//! dedup key, the sender's id, the receive time and your state ([`WebhooksBuilder::state`]). The
//! [`fallback`](WebhooksBuilder::fallback) handler receives a
//! [`Received::Invalid`](event::Received::Invalid) (with the raw data, kept as its JSON text, and
//! the failing field's path) for a known type whose payload did not fit.
//!
//! [`shutdown_signal`] resolves on Ctrl-C or SIGTERM; [`drain(deadline)`](Webhooks::drain) stops
//! intake (503 from then on) and runs every acknowledged event. If the last clone of `webhooks`
//! is dropped while events are still queued or running, that is logged at `error`. With feature
//! `axum`, `webhooks.router("/webhooks/chirp")` is the same as an `axum::Router` to merge.
//!
//! # The builder
//!
//! The builder takes everything else by value, set once ([`WebhooksBuilder`] details each
//! setter):
//!
//! ```
//! # #[cfg(feature = "chirp")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), webhook_receiver::BoxError> {
//! use std::time::Duration;
//! use webhook_receiver::chirp::{self, ChirpEvent, MessageStatus};
//! use webhook_receiver::dispatch::RetryPolicy;
//! use webhook_receiver::event::Received;
//! use webhook_receiver::store::MokaStore;
//!
//! #[derive(Clone)]
//! struct AppState; // a database pool, an HTTP client, ...
//!
//! let webhooks = chirp::webhooks(["secret-2025", "secret-2024"])?
//!     .state(AppState) // handlers reach it as ctx.state()
//!     // A typed payload, no `match`; several handlers per type run in registration order.
//!     .on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx| async move {
//!         let _state: &AppState = ctx.state();
//!         tracing::info!(message = %status.id, key = %ctx.key(), "delivered");
//!     })
//!     // The whole ChirpEvent, for every type the pattern matches.
//!     .on_group("messages.whatsapp.*", |event: ChirpEvent, _ctx| async move {
//!         tracing::info!(id = ?event.id(), "whatsapp");
//!     })
//!     // Unhandled types, unknown types and invalid payloads.
//!     .fallback(|received: Received<ChirpEvent>, ctx| async move {
//!         let invalid = matches!(received, Received::Invalid(_));
//!         tracing::info!(event = ctx.event_name(), invalid, "unhandled");
//!     })
//!     .on_error(|e| tracing::warn!(%e, "handler failed")) // every error, panic or timeout
//!     .on_dead_letter(|letter| tracing::error!(key = %letter.key, "given up")) // never silent
//!     .retry_policy(RetryPolicy::default().max_attempts(8)) // every handler's, unless...
//!     .retry_policy_for("messages.whatsapp.*", RetryPolicy::never()) // ...set by its label
//!     .queue_capacity(1024)
//!     .concurrency_limit(64)
//!     .queue_bytes(64 * 1024 * 1024) // bodies held by events not done; 503 past it
//!     .store(MokaStore::builder().ttl(Duration::from_secs(24 * 3600)).capacity(1_000_000).build())
//!     .body_limit(1024 * 1024) // the verify layer and the receiver alike
//!     .spawn(); // -> Webhooks: Clone + tower::Service, Error = Infallible
//! # webhooks.drain(Duration::from_secs(1)).await?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "chirp"))]
//! # fn main() {}
//! ```
//!
//! A handler's label, for [`retry_policy_for`](WebhooksBuilder::retry_policy_for), is the event
//! type's name (`on`), the pattern (`on_group`) or `"fallback"`; the policy may be set before or
//! after the handler is registered. The store is the one storage seam: the default
//! [`MokaStore`](store::MokaStore) keeps keys in process, with the TTL and capacity it is built
//! with; [`WebhooksBuilder::store`] takes any [`Store`](store::Store) (see
//! [Deployment modes](#deployment-modes)), and [`Webhooks::store`] gives it back, typed.
//!
//! # Status codes
//!
//! | status | when | remembered? |
//! |---|---|---|
//! | 200 `{"received":true}` | authenticated, parsed, and queued (or kept by a shared inbox for whichever replica takes it); handlers run later | yes |
//! | 200 `{"received":true,"duplicate":true}` | a redelivery of an accepted event; not dispatched again | already |
//! | 400 | body not UTF-8 / not JSON / not an object; an envelope field (`event` or `data` for Chirp) missing or of the wrong type, or valid JSON there that `serde_json::Value` cannot hold ([below](#json-that-serde_jsonvalue-cannot-hold)); the replay guard's timestamp missing or malformed; a Standard Webhooks header missing or malformed | no |
//! | 401 | secret or signature missing or wrong (Standard Webhooks `v1` or `v1a`); with [`PerTenant`](verify::PerTenant), a tenant unknown to your resolver (code `unknown_tenant`); Standard Webhooks timestamp outside ±5 min ([`tolerance`](verify::StandardWebhooks::tolerance)); event older than the replay window ([`max_age`](json::JsonFormat::max_age)) or dated more than [`max_future_skew`](json::JsonFormat::max_future_skew) (default 5 min) ahead | no |
//! | 403 `ip_not_allowed` | the client's address is not in the IP allowlist ([`IpAllowlistLayer`](allowlist::IpAllowlistLayer), if you wrap one around the receiver), or there is no peer address | no |
//! | 405 (+ `Allow: POST`) | not a `POST` | no |
//! | 413 | body over the limit (default 1 MiB, [`body_limit`](WebhooksBuilder::body_limit)); checked from `Content-Length` and while reading | no |
//! | 415 | `Content-Type` is not `application/json` or `application/*+json` | no |
//! | 503 (+ `Retry-After`) | queue full (queued events and waiting retries) or its byte budget spent ([`queue_bytes`](WebhooksBuilder::queue_bytes): bodies of queued, retrying and running events), shutting down, the store (dedup store, durable, Redis or Postgres inbox) unavailable or its backlog full, or, with [`PerTenant`](verify::PerTenant), the secrets lookup failing (code `secrets_unavailable`) | no |
//! | 503 (+ `Retry-After: 1`) | another claim of the same event is in flight on a shared store ([`Claim::InFlight`](store::Claim::InFlight), code `claim_in_flight`) | no |
//!
//! For a full queue, `Retry-After` tells the sender when the backlog ahead of it should have
//! run, drawn with jitter from `[est, 2·est]` so that the senders refused together come back
//! spread out when there should be room, in whole seconds within 1 s and 60 s (see
//! [Retry-After](dispatch#retry-after)); a 503 for shutting down or a failing store says 5 s.
//! [`WebhooksBuilder::retry_after`] sets a fixed value or another maximum.
//!
//! Every error body has the same shape, with a machine-readable code ([`Rejection::code`]):
//!
//! ```text
//! {"error": {"type": "invalid_request_error", "code": "missing_field", "message": "missing required field `data`"}}
//! ```
//!
//! An unknown event type is **not** an error (200, fallback handler). Neither is a known type
//! whose `data` does not fit its schema: a 400 would only make the sender retry the same bytes
//! until it gives up, so it is acknowledged, logged at `warn` with the field path, and handed to
//! the fallback as [`Received::Invalid`](event::Received::Invalid).
//!
//! ## JSON that `serde_json::Value` cannot hold
//!
//! Valid JSON that `serde_json::Value` cannot hold: a number beyond `f64` such as `1e400`, a lone
//! surrogate escape `"\ud800"`, nesting deeper than 128.
//!
//! | where | Chirp | [`JsonFormat`](json::JsonFormat) |
//! |---|---|---|
//! | in `data` | 200, fallback handler: `Received::Invalid` with `data` = the raw JSON text as a string, path `.` | the same, when the payload is one top-level field (`/data`, the default); 400 for `data_field("")` or a deeper pointer |
//! | in the envelope (`event`, `id`, ...) | 400: the event cannot be routed | 400 |
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
//! The pieces stay public for tower users who assemble their own stack:
//! [`VerifyWebhookLayer`](verify::VerifyWebhookLayer) over
//! [`WebhookService`](receiver::WebhookService) over [`Dispatcher`](dispatch::Dispatcher)
//! (`examples/tower_stack.rs` in the repository serves the facade in a tower stack from hyper,
//! without axum). With `tower::ServiceBuilder` (layers added first see the request first), put
//! the `VerifyWebhookLayer` before anything that reads or buffers the body, and the
//! `WebhookService` at the bottom, with the same body limit on both.
//!
//! # Deployment modes
//!
//! | mode | configure | a redelivery | a crash or `kill -9` | a deploy (SIGTERM) |
//! |---|---|---|---|---|
//! | one process, in memory (default) | nothing | deduplicated for [`DEFAULT_TTL`](store::DEFAULT_TTL), until a restart | loses what was queued or waiting for a retry | drains; at the deadline what is left is logged and dead-lettered |
//! | one process + durable inbox | [`WebhooksBuilder::store`] with a `DurableInbox` (feature `durable`) | deduplicated across restarts | nothing acknowledged is lost: replayed at the next start, at least once | drains; what is left stays in the inbox for the next start |
//! | several replicas + Redis inbox | [`WebhooksBuilder::store`] with a `RedisInbox` (feature `redis`) | deduplicated across replicas and restarts | nothing acknowledged is lost: another replica takes the dead one's events over after the visibility timeout, at least once | drains; what is left stays in the stream for the other replicas |
//! | several replicas + Postgres inbox | [`WebhooksBuilder::store`] with a `PostgresInbox` (feature `postgres`) | deduplicated across replicas and restarts | nothing acknowledged is lost: another replica claims the dead one's events once their lease expires, at least once; a transactional handler's database writes exactly once | drains; what is left is given back to the other replicas |
//! | several replicas + Redis dedup only | [`WebhooksBuilder::store`] with a `RedisStore` (feature `redis`) | deduplicated across replicas and restarts, for the TTL | loses what the dead replica had queued or waiting for a retry | drains; at the deadline what is left is logged and dead-lettered |
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
//! | `standard-webhooks` | yes | [`StandardWebhooks`](verify::StandardWebhooks) signatures, `v1` (HMAC) and `v1a` (ed25519) |
//! | `providers` | yes | presets for Stripe, GitHub, Slack and Shopify ([`providers`]): their signature schemes on [`HmacSha256`](verify::HmacSha256), their event names and ids |
//! | `axum` | no | `Webhooks::router`: the receiver as an `axum::Router` for a path |
//! | `testing` | no | signed-request builders for your tests ([`testing`]) |
//! | `durable` | no | [`DurableInbox`](store::DurableInbox): claims and raw events committed to a redb file before the 200 (needs Rust 1.89) |
//! | `redis` | no | [`RedisInbox`](store::RedisInbox): claims and raw events on a Redis Stream shared by replicas; [`RedisStore`](store::RedisStore): dedup alone shared by replicas (Redis 7.0 or newer, redis-rs) |
//! | `admin` | no | [`admin::router`]: the operator API ([`InboxAdmin`](store::InboxAdmin): list, inspect, replay, delete and prune the events an inbox keeps, dead letters included) as JSON endpoints, to mount behind your own authentication layer |
//! | `cli` | no | the `webhook-receiver` command-line tool (`cargo install webhook-receiver --features cli`): the operator API on a redb file, a Redis inbox or a running receiver's admin router |
//! | `postgres` | no | [`PostgresInbox`](store::PostgresInbox): claims, raw events, progress and dead letters in PostgreSQL tables shared by replicas, on your sqlx `PgPool`; handlers whose writes commit with their completion (PostgreSQL 12 or newer) |
//! | `full` | no | all of the above |
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "admin")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin")))]
pub mod admin;
pub mod allowlist;
mod body;
mod dedup;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod json;
mod receiver;
mod shutdown;
pub mod stack;
pub mod store;
pub mod telemetry;
pub mod verify;
pub mod webhooks;

#[cfg(feature = "chirp")]
#[cfg_attr(docsrs, doc(cfg(feature = "chirp")))]
pub mod chirp;

#[cfg(feature = "inbox")]
mod inbox;

#[cfg(feature = "providers")]
#[cfg_attr(docsrs, doc(cfg(feature = "providers")))]
pub mod providers;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use body::ResponseBody;
#[doc(inline)]
pub use dedup::DedupKey;
#[doc(inline)]
pub use error::{BoxError, DecodeError, HeaderProblem, Rejection, StoreError};
#[doc(inline)]
pub use event::{Event, EventType, Format};
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
