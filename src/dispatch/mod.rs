//! Dispatch after the 200: a bounded queue of accepted events, tasks that run their handlers
//! with bounded concurrency, and a graceful drain on shutdown.
//!
//! The receiver reserves a queue slot before it remembers an event and answers 200 as soon as
//! the event is in the queue; the response never waits for a handler. A full queue answers 503
//! with `Retry-After`, and nothing is remembered, so the sender's retry is accepted later (see
//! [Retry-After](#retry-after) below).
//!
//! Handlers are async, return `()` or `Result<(), E>`, and are isolated: an error, a panic or a
//! timeout is logged, given to the [`on_error`](Handlers::on_error) hook with the event's type,
//! key and attempt, and never stops the dispatcher or the other handlers of the same event. The
//! failed handler alone is retried by its [`RetryPolicy`] (default 5 attempts, exponential
//! backoff with jitter, 30 s per attempt); a waiting retry sits in a timer queue, holding no task
//! and no concurrency slot. An accepted event that will not be handled (retries used up, no
//! handler, drain deadline passed, runtime gone) is logged at `error` and given once to the
//! [`on_dead_letter`](Handlers::on_dead_letter) hook as a [`DeadLetter`]: nothing is dropped
//! silently.
//!
//! [`Dispatcher::drain`] stops intake, runs every accepted event (retries included), and returns;
//! at its deadline it reports what it leaves.
//!
//! # Retry-After
//!
//! A fixed `Retry-After` sends every sender refused in the same second back in the same
//! second, to a queue that is still full, and they are refused together again (a Chirp-like
//! sender, 5 tries, at twice the handlers' capacity: with a fixed 5 s, 2.3% of the events of
//! `benches/overload.sh` were given up; with the adaptive value, none; figures in
//! `benches/README.md`). By default ([`RetryAfter::adaptive`], at most 60 s) the receiver tells
//! each refused sender when the backlog ahead of it should have run:
//!
//! - **ahead**: the events accepted and not running (queued, being accepted, and handlers
//!   waiting for a retry), plus the senders already refused and told to come back, until the
//!   time they were given has passed (so each one is sent behind the ones refused before it);
//! - **drain rate**: `concurrency_limit / t`, where `t` is a moving average (weight 1/64 per
//!   job) of how long a job (an event's handlers, or one handler's retry) takes. That is the
//!   rate at which the queue empties while every runner is busy, as they are while the queue
//!   is full, and it is known from the first job on, also after an idle spell;
//! - `est = ahead / drain rate`; the answer is drawn uniformly from `[est, 2·est]`, so that the
//!   senders refused together come back spread out, rounded up to whole seconds and kept
//!   within 1 s and the maximum. Before any job has finished there is no rate, and the answer
//!   is the maximum.
//!
//! A 503 that is not about the queue (shutting down, the dedup store failing) has no backlog
//! to go by and gets [`DEFAULT_RETRY_AFTER`]. [`RetryAfter::fixed`] (or a plain `Duration`)
//! sends one value for every 503. The estimate assumes the waiting jobs will run at the rate
//! measured so far; when most of the queue is handler retries waiting for a long backoff, the
//! runners are idle and the queue frees up only as those fall due, later than estimated.
//!
//! The [`Webhooks`](crate::Webhooks) facade builds the registry and the dispatcher for you
//! (its builder has the same `on`, `on_group`, `fallback` and `on_error`); these types are for
//! assembling the pieces yourself.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//! use webhook_receiver::chirp::{self, ChirpEvent, MessageStatus};
//! use webhook_receiver::stack::{Dispatcher, Handlers};
//! use webhook_receiver::event::Received;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! #[derive(Clone, Default)]
//! struct App { delivered: Arc<AtomicUsize> }
//!
//! let app = App::default();
//! let handlers = Handlers::with_state(app.clone())
//!     .on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx| async move {
//!         if status.id == "msg_1" {
//!             ctx.state().delivered.fetch_add(1, Ordering::SeqCst);
//!         }
//!         Ok::<_, std::io::Error>(())
//!     })
//!     .on_group("messages.whatsapp.*", |event: ChirpEvent, _ctx| async move {
//!         let _ = event;
//!     })
//!     .fallback(|item: Received<ChirpEvent>, ctx| async move {
//!         tracing::info!(event = item.event_name(), key = %ctx.key(), "unhandled");
//!     });
//! let dispatcher = Dispatcher::builder(handlers).queue_capacity(100).concurrency_limit(8).spawn();
//! # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
//! # use webhook_receiver::Format;
//! # let decoded = chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
//! # dispatcher.try_enqueue(decoded).unwrap();
//! dispatcher.drain(Duration::from_secs(5)).await.unwrap();
//! assert_eq!(app.delivered.load(Ordering::SeqCst), 1);
//! # }
//! ```

mod attempt_timeout;
mod backlog;
mod budget;
pub(crate) mod dispatcher;
mod failure;
mod handler;
pub(crate) mod registry;
mod retry;

pub use backlog::{DEFAULT_RETRY_AFTER, DEFAULT_RETRY_AFTER_MAX, RetryAfter};
pub(crate) use dispatcher::Slot;
pub use dispatcher::{
    DEFAULT_CONCURRENCY, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_CAPACITY, DrainTimeout,
};
pub(crate) use dispatcher::{Dispatcher, EnqueueError};
pub use failure::{DeadLetter, DeadLetterReason, HandlerError, HandlerFailure};
pub use handler::{EventContext, HandlerOutput};
pub(crate) use registry::Handlers;
pub use retry::{DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_MAX_ATTEMPTS, RetryPolicy};
