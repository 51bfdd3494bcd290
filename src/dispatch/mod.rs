//! Dispatch after the 200: a bounded queue of accepted events, tasks that run their handlers
//! with bounded concurrency, and a graceful drain on shutdown.
//!
//! The receiver reserves a queue slot before it remembers an event and answers 200 as soon as
//! the event is in the queue; the response never waits for a handler. A full queue answers 503
//! with `Retry-After`, and nothing is remembered, so the sender's retry is accepted later.
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
//! use webhook_receiver::dispatch::{Dispatcher, Handlers};
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
//! # use webhook_receiver::DecodeEvent;
//! # let decoded = chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
//! # dispatcher.try_enqueue(decoded).unwrap();
//! dispatcher.drain(Duration::from_secs(5)).await.unwrap();
//! assert_eq!(app.delivered.load(Ordering::SeqCst), 1);
//! # }
//! ```

mod budget;
mod dispatcher;
mod failure;
mod handler;
mod registry;
mod retry;

#[cfg(feature = "inbox")]
pub(crate) use dispatcher::Slot;
pub use dispatcher::{
    DEFAULT_CONCURRENCY, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_CAPACITY, Dispatcher,
    DispatcherBuilder, DrainTimeout, EnqueueError,
};
pub use failure::{DeadLetter, DeadLetterReason, HandlerError, HandlerFailure};
pub use handler::{EventContext, HandlerOutput};
pub use registry::Handlers;
pub use retry::{DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_MAX_ATTEMPTS, RetryPolicy};
