//! The dispatcher handle: what the receiver and the user hold. Clones share one queue; the
//! last handle's drop closes the dispatcher. Its counts, the `closed()` signal and
//! `wait_for_room()` (for a shared store's feed), and the adaptive `Retry-After` inputs.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::queue::Shared;
use super::slot::{EnqueueError, Hold, Slot};
use crate::event::{Decoded, Event};

/// The dispatcher handle: a bounded queue of accepted events and the tasks that run their
/// handlers, after the response has gone out.
///
/// Built with [`Dispatcher::builder`] on a Tokio runtime, where the handlers then run. Clones
/// share the same queue. See the [module docs](crate::dispatch).
///
/// Call [`drain`](Self::drain) before the process exits. If the last handle is dropped while
/// events are still queued or running, that is logged at `error` (they keep running only as long
/// as the runtime does), and the dispatcher closes: parked runners leave, busy ones finish the
/// queue. If the handlers' runtime shuts down first, every event it leaves unhandled is
/// dead-lettered ([`DeadLetterReason::RuntimeDropped`](crate::dispatch::DeadLetterReason::RuntimeDropped)) and the dispatcher closes.
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
/// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
/// let dispatcher = Dispatcher::builder(handlers).spawn();
/// let clone = dispatcher.clone(); // e.g. the one the receiver holds
/// clone.try_enqueue(event()).unwrap();
/// dispatcher.drain(Duration::from_secs(5)).await.unwrap(); // runs what the clone queued
/// assert!(clone.is_closing());
/// # }
/// ```
pub struct Dispatcher<E> {
    handle: Arc<Handle<E>>,
}

/// What the user-facing handles share; the runners hold only [`Shared`], so that the last
/// handle's drop is seen.
struct Handle<E> {
    shared: Arc<Shared<E>>,
}

impl<E> Drop for Handle<E> {
    fn drop(&mut self) {
        let shared = &self.shared;
        let mut state = shared.lock();
        let (queued, running) = (state.queued(), state.running);
        // After a drain deadline, what was left has been reported already.
        if queued + running > 0 && !state.abandoned {
            let drained = if state.closing {
                "after a drain that did not finish"
            } else {
                "without a drain"
            };
            tracing::error!(
                queued,
                running,
                "the last webhook dispatcher handle was dropped {drained}: {queued} accepted event(s) queued and {running} running will run only as long as the runtime does; call drain(deadline) before exiting"
            );
        }
        state.closing = true;
        shared.closed.cancel();
        state.idle = 0;
        shared.check_drained(&state);
        drop(state);
        shared.wake.notify_waiters();
    }
}

impl<E> Clone for Dispatcher<E> {
    fn clone(&self) -> Self {
        Self {
            handle: Arc::clone(&self.handle),
        }
    }
}

impl<E> Dispatcher<E> {
    /// A handle on a new dispatcher's state.
    pub(super) fn new(shared: Arc<Shared<E>>) -> Self {
        Self {
            handle: Arc::new(Handle { shared }),
        }
    }

    pub(super) fn shared(&self) -> &Arc<Shared<E>> {
        &self.handle.shared
    }
}

impl<E> fmt::Debug for Dispatcher<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared().lock();
        f.debug_struct("Dispatcher")
            .field("queue_capacity", &self.shared().capacity)
            .field("queue_bytes", &self.shared().bytes.limit())
            .field("concurrency_limit", &self.shared().limit)
            .field("queued", &(state.queue.len() + state.reserved))
            .field("retrying", &state.delayed.len())
            .field("running", &state.running)
            .field("closing", &state.closing)
            .finish()
    }
}

impl<E: Event> Dispatcher<E> {
    /// The adaptive `Retry-After` (at most `max`) for a sender refused because the queue is
    /// full: see [`RetryAfter`](super::RetryAfter).
    pub(crate) fn retry_after_when_full(&self, max: Duration) -> Duration {
        let shared = self.shared();
        let waiting = shared.lock().queued();
        shared.backlog.retry_after(waiting, shared.limit, max)
    }

    /// Reserves a slot in the queue, and `bytes` of its byte budget (the request body's size),
    /// without waiting.
    /// A hold on the drain: [`drain`](Self::drain) does not resolve (before its deadline) while
    /// it is alive. The store's feed holds one, so that events accepted before the drain and
    /// handed over late (an accept whose request went away mid-commit) still run in it.
    pub(crate) fn hold(&self) -> Hold<E> {
        self.shared().lock().holds += 1;
        Hold {
            shared: Arc::clone(self.shared()),
        }
    }

    pub(crate) fn try_reserve(&self, bytes: usize) -> Result<Slot<'_, E>, EnqueueError> {
        self.shared().try_reserve(bytes)
    }

    /// Queues a decoded event directly (bypassing the HTTP receiver and dedup), e.g. to replay
    /// one from a dead-letter table.
    ///
    /// An event queued this way reserves no bytes of the [byte
    /// budget](crate::stack::DispatcherBuilder::queue_bytes), which counts request bodies (it does count
    /// against the capacity in events).
    ///
    /// # Errors
    ///
    /// [`EnqueueError`] if the queue is full or closed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), webhook_receiver::BoxError> {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let handled = Arc::new(AtomicUsize::new(0));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&handled))
    ///     .fallback(|_, ctx| async move { ctx.state().fetch_add(1, Ordering::SeqCst); });
    /// let dispatcher = Dispatcher::builder(handlers).spawn();
    /// dispatcher.try_enqueue(event())?;
    /// dispatcher.try_enqueue(event())?; // the same event again: no dedup on this path
    /// dispatcher.drain(Duration::from_secs(5)).await?;
    /// assert_eq!(handled.load(Ordering::SeqCst), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_enqueue(&self, decoded: Decoded<E>) -> Result<(), EnqueueError> {
        let (item, key, id) = decoded.into_parts();
        self.try_reserve(0)?
            .send(item, key, id, SystemTime::now(), None, None);
        Ok(())
    }

    /// Events accepted and waiting for a handler.
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
    /// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
    /// let dispatcher = Dispatcher::builder(handlers).concurrency_limit(1).spawn();
    /// dispatcher.try_enqueue(event()).unwrap();
    /// dispatcher.try_enqueue(event()).unwrap();
    /// // One was handed to the only runner; the other waits for it.
    /// assert_eq!((dispatcher.running(), dispatcher.queued()), (1, 1));
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn queued(&self) -> usize {
        let state = self.shared().lock();
        state.queue.len() + state.reserved
    }

    /// The bytes of request bodies reserved by accepted events that are not done: queued,
    /// waiting for a retry, or running (see [`DispatcherBuilder::queue_bytes`](crate::stack::DispatcherBuilder::queue_bytes)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    /// use webhook_receiver::stack::WebhookService;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let post = |body: &str| http::Request::post("/").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| std::future::pending::<()>());
    /// let dispatcher = Dispatcher::builder(handlers).spawn();
    /// let svc = WebhookService::builder(Chirp, dispatcher.clone()).build();
    /// let body = r#"{"event":"calls.voice.started","data":{"id":"call_1"}}"#;
    /// svc.oneshot(post(body)).await.unwrap();
    /// assert_eq!(dispatcher.queued_bytes(), body.len()); // held while its handler runs
    /// # dispatcher.drain(Duration::from_millis(10)).await.unwrap_err();
    /// # }
    /// ```
    pub fn queued_bytes(&self) -> usize {
        self.shared().bytes.held()
    }

    /// Handlers that failed and wait for their next attempt. They count against the queue
    /// capacity, with [`queued`](Self::queued).
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let handlers = Handlers::<ChirpEvent>::new()
    ///     .retry_policy(RetryPolicy::default().initial_backoff(Duration::from_secs(3600)))
    ///     .fallback(|_, _| async { Err::<(), _>(std::io::Error::other("db down")) });
    /// let dispatcher = Dispatcher::builder(handlers).spawn();
    /// dispatcher.try_enqueue(event()).unwrap();
    /// # while dispatcher.running() > 0 || dispatcher.retrying() == 0 { tokio::task::yield_now().await; }
    /// // The first attempt failed; the retry waits an hour, holding no runner.
    /// assert_eq!((dispatcher.retrying(), dispatcher.running()), (1, 0));
    /// # dispatcher.drain(Duration::from_millis(10)).await.unwrap_err();
    /// # }
    /// ```
    pub fn retrying(&self) -> usize {
        self.shared().lock().delayed.len()
    }

    /// Events (or retries) whose handlers are running, counted from when a runner is given the
    /// event.
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
    /// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
    /// let dispatcher = Dispatcher::builder(handlers).spawn();
    /// dispatcher.try_enqueue(event()).unwrap();
    /// assert_eq!(dispatcher.running(), 1);
    /// dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(dispatcher.running(), 0);
    /// # }
    /// ```
    pub fn running(&self) -> usize {
        self.shared().lock().running
    }

    /// Whether [`drain`](Self::drain) was called (or the last handle dropped).
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// assert!(!dispatcher.is_closing());
    /// dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert!(dispatcher.is_closing()); // the receiver answers 503 from now on
    /// # }
    /// ```
    pub fn is_closing(&self) -> bool {
        self.shared().lock().closing
    }

    /// Resolves once the dispatcher is closing (a drain began, or the last handle was dropped).
    pub(crate) async fn closed(&self) {
        self.shared().closed.cancelled().await;
    }

    /// Waits until this dispatcher could start one more event soon: fewer queued than the
    /// concurrency limit, the capacity not reached and bytes left in the budget. `false` once it is closing. A shared
    /// inbox's feed calls it before taking each event, so that a busy replica leaves the
    /// backlog to the others.
    pub(crate) async fn wait_for_room(&self) -> bool {
        let shared = self.shared();
        loop {
            {
                let state = shared.lock();
                if state.closing {
                    return false;
                }
                if state.queue.len() + state.reserved < shared.limit
                    && state.queued() < shared.capacity
                    && (shared.bytes.held() < shared.bytes.limit() || shared.bytes.held() == 0)
                {
                    return true;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
                () = shared.drained.cancelled() => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::super::registry::Handlers;
    use super::super::runner::MAX_PARKED;
    use super::*;
    use crate::dedup::DedupKey;

    #[derive(Debug, Clone)]
    struct Ping;

    impl Event for Ping {
        fn event_name(&self) -> &str {
            "ping"
        }
    }

    fn ping(n: u8) -> Decoded<Ping> {
        Decoded::new(Ping, DedupKey::from_bytes([n; 16]))
    }

    fn runners<E>(d: &Dispatcher<E>) -> usize {
        d.shared().lock().runners
    }

    /// A dispatcher whose handler sleeps `ms`, then counts the event in the returned counter.
    fn sleeping(ms: u64, limit: usize) -> (Dispatcher<Ping>, Arc<AtomicUsize>) {
        let done = Arc::new(AtomicUsize::new(0));
        let handlers = Handlers::with_state(Arc::clone(&done)).fallback(move |_, ctx| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ctx.state().fetch_add(1, Ordering::SeqCst);
        });
        let d = Dispatcher::builder(handlers)
            .concurrency_limit(limit)
            .spawn();
        (d, done)
    }

    #[tokio::test]
    async fn runners_park_between_events_are_reused_and_leave_at_shutdown() {
        let (d, done) = sleeping(1, 4);
        assert_eq!(runners(&d), 0, "no runner before the first event");

        // One event at a time: the runner that ran the first parks and runs every later one.
        for n in 0..20 {
            d.try_enqueue(ping(n)).unwrap();
            while done.load(Ordering::SeqCst) <= usize::from(n) || d.running() > 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(
                d.shared().lock().idle,
                1,
                "the runner parked after event {n}"
            );
        }
        assert_eq!(runners(&d), 1, "events one at a time need one runner");

        // A burst: the parked runner and three new ones (the limit), the rest queued.
        for n in 20..60 {
            d.try_enqueue(ping(n)).unwrap();
        }
        assert_eq!(runners(&d), 4);
        while done.load(Ordering::SeqCst) < 60 || d.running() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!((runners(&d), d.queued()), (4, 0), "runners stay, parked");
        assert_eq!(d.shared().lock().idle, 4);

        // The shutdown wakes the parked runners, and they leave.
        d.drain(Duration::from_secs(10)).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while runners(&d) > 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("every parked runner left after the shutdown");
        assert_eq!(done.load(Ordering::SeqCst), 60);
    }

    #[tokio::test]
    async fn after_a_burst_at_most_max_parked_runners_stay() {
        let limit = MAX_PARKED + 50;
        let (d, done) = sleeping(20, limit);
        for n in 0..=u8::MAX {
            d.try_enqueue(ping(n)).unwrap();
        }
        assert_eq!(runners(&d), limit, "the burst runs at the limit");
        while done.load(Ordering::SeqCst) < 256 || d.running() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            runners(&d),
            MAX_PARKED,
            "the others left when the queue was empty"
        );
        assert_eq!(d.shared().lock().idle, MAX_PARKED);
        d.drain(Duration::from_secs(10)).await.unwrap();
    }

    #[tokio::test]
    async fn a_dropped_slot_frees_its_place_and_does_not_hold_up_the_drain() {
        let d = Dispatcher::builder(Handlers::new().fallback(|_, _| async {}))
            .queue_capacity(1)
            .spawn();
        let slot = d.try_reserve(0).unwrap();
        assert_eq!(d.queued(), 1);
        assert_eq!(
            d.try_enqueue(ping(1)).unwrap_err(),
            EnqueueError::Full,
            "the reservation counts against the capacity"
        );
        drop(slot);
        assert_eq!(d.queued(), 0);
        d.try_enqueue(ping(2)).unwrap();
        let held = d.try_reserve(0).unwrap();
        let shutdown = d.drain(Duration::from_secs(10));
        tokio::pin!(shutdown);
        // A reservation taken before the shutdown holds up the drain until it is dropped (or
        // sent); a new one is refused.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut shutdown)
                .await
                .is_err()
        );
        assert_eq!(d.try_enqueue(ping(3)).unwrap_err(), EnqueueError::Closed);
        drop(held);
        shutdown.await.unwrap();
        assert_eq!((d.running(), d.queued()), (0, 0));
    }
}
