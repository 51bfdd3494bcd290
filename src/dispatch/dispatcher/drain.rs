//! The graceful drain: stop intake, run every accepted event (retries included), and at the
//! deadline report what is left ([`DrainTimeout`]): what is queued or waiting is dead-lettered
//! with [`DeadLetterReason::Shutdown`](crate::dispatch::DeadLetterReason::Shutdown), except events a store keeps, which are left there for
//! the next start.

use std::time::Duration;

use super::super::failure::DeadLetterReason;
use super::handle::Dispatcher;
use crate::event::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "drain deadline passed with {running} event(s) still running, {queued} queued and {retrying} waiting for a retry; the {abandoned} not run were logged and dead-lettered"
)]
/// Shutdown did not finish running every accepted event before the deadline.
///
/// Every event that was still queued or waiting for a retry has been logged at `error` (type and
/// key) and given to the dead-letter hook with [`DeadLetterReason::Shutdown`](crate::dispatch::DeadLetterReason::Shutdown); the running ones
/// go on in the background as long as the runtime does, and are reported the same way if the
/// runtime stops them.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::stack::{Dispatcher, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use webhook_receiver::Format;
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| std::future::pending::<()>());
/// let dispatcher = Dispatcher::builder(handlers).concurrency_limit(1).spawn();
/// # dispatcher.try_enqueue(event()).unwrap();
/// # dispatcher.try_enqueue(event()).unwrap();
/// // Two events and a handler that never ends: one runs, the other waits for the runner.
/// let left = dispatcher.drain(Duration::from_millis(50)).await.unwrap_err();
/// assert_eq!((left.running, left.queued, left.retrying, left.abandoned), (1, 1, 0, 1));
/// # }
/// ```
#[non_exhaustive]
pub struct DrainTimeout {
    /// Events whose handlers were still running.
    pub running: usize,
    /// Events that were still waiting for a handler.
    pub queued: usize,
    /// Handlers that were waiting for a retry.
    pub retrying: usize,
    /// Events and retries reported as not run: `queued + retrying`.
    pub abandoned: usize,
}

impl<E: Event> Dispatcher<E> {
    /// Stops taking events (the receiver answers 503 from now on), runs the handlers of every
    /// event already accepted, retries included, and resolves when they are all done or
    /// `deadline` has passed.
    ///
    /// With axum, call it after `axum::serve(..).with_graceful_shutdown(..)` returns: the server
    /// has then finished every in-flight request, so every acknowledged event is in the queue.
    ///
    /// # Errors
    ///
    /// [`DrainTimeout`] if anything was left at the deadline. Every event still queued and every
    /// retry still waiting is then logged at `error` and given to the dead-letter hook with
    /// [`DeadLetterReason::Shutdown`](crate::dispatch::DeadLetterReason::Shutdown), before this returns; handlers still running go on in the
    /// background as long as the runtime does.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let done = Arc::new(AtomicUsize::new(0));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&done)).fallback(|_, ctx| async move {
    ///     tokio::time::sleep(Duration::from_millis(10)).await;
    ///     ctx.state().fetch_add(1, Ordering::SeqCst);
    /// });
    /// let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # for _ in 0..3 { dispatcher.try_enqueue(event()).unwrap(); }
    /// dispatcher.drain(Duration::from_secs(5)).await.unwrap(); // three events were queued
    /// assert_eq!(done.load(Ordering::SeqCst), 3);
    /// # }
    /// ```
    pub async fn drain(&self, deadline: Duration) -> Result<(), DrainTimeout> {
        {
            let mut state = self.shared().lock();
            state.closing = true;
            self.shared().closed.cancel();
            // Every parked runner is woken below and leaves: none is idle any more.
            state.idle = 0;
            self.shared().check_drained(&state);
        }
        self.shared().wake.notify_waiters();
        let shared = self.shared();
        shared.runners.close();
        let drained = async {
            shared.drained.cancelled().await;
            // Nothing is left to run; the runners are leaving.
            shared.runners.wait().await;
        };
        if tokio::time::timeout(deadline, drained).await.is_ok() {
            return Ok(());
        }
        let running = self.running();
        let (queued, retrying) = shared.abandon_all(DeadLetterReason::Shutdown);
        Err(DrainTimeout {
            running,
            queued,
            retrying,
            abandoned: queued + retrying,
        })
    }
}
