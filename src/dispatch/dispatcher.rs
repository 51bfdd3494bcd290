//! The dispatcher: a bounded queue of accepted events and the tasks that run their handlers.
//!
//! There is no dispatcher task between the receiver and the handlers. An accepted event is
//! given to a new runner task at once while fewer than `concurrency_limit` runners exist;
//! otherwise it waits in the queue, and the next runner to finish its event takes it. A runner
//! leaves when the queue is empty. So an idle dispatcher holds no task, an event under the limit
//! costs one task spawn, and a busy one costs none.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Handlers;
use super::handler::{Job, Meta};
use crate::event::{Decoded, DedupKey, Event, Item};

/// Default number of accepted events that may wait for a handler: 1024.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
/// Default number of events handled at once: 64.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// The dispatcher handle: a bounded queue of accepted events and the tasks that run their
/// handlers, after the response has gone out.
///
/// Built with [`Dispatcher::builder`] on a Tokio runtime, where the handlers then run. Clones
/// share the same queue. See the [module docs](crate::dispatch).
pub struct Dispatcher<E> {
    shared: Arc<Shared<E>>,
}

/// Spawns a runner for a job, on the dispatcher's runtime, with the (typed) handlers.
type SpawnRunner<E> = Box<dyn Fn(Arc<Shared<E>>, Job<E>) + Send + Sync>;

struct Shared<E> {
    capacity: usize,
    limit: usize,
    state: Mutex<State<E>>,
    spawn: SpawnRunner<E>,
    /// Cancelled once closing and nothing is reserved, queued or running.
    drained: CancellationToken,
}

struct State<E> {
    /// Accepted events waiting for a runner, oldest first.
    queue: VecDeque<Job<E>>,
    /// Slots reserved by receivers that have not sent yet; they count against the capacity.
    reserved: usize,
    /// Runner tasks, each running one event at a time.
    running: usize,
    closing: bool,
}

impl<E> Shared<E> {
    /// The state; a poisoned lock is taken as is (no code panics while holding it).
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Signals the drain if shutting down and nothing is left to run.
    fn check_drained(&self, state: &State<E>) {
        if state.closing && state.reserved == 0 && state.running == 0 && state.queue.is_empty() {
            self.drained.cancel();
        }
    }

    /// Hands a job whose slot was reserved to a new runner, or queues it if the limit is
    /// reached.
    fn submit(self: &Arc<Self>, job: Job<E>) {
        let mut state = self.lock();
        state.reserved -= 1;
        if state.running < self.limit {
            state.running += 1;
            drop(state);
            (self.spawn)(Arc::clone(self), job);
        } else {
            state.queue.push_back(job);
        }
    }

    /// The next queued job for a runner that finished one; `None` (and the runner is no
    /// longer counted) when the queue is empty. One lock for both, so that no job is queued
    /// between a runner seeing an empty queue and leaving.
    fn next_or_leave(&self) -> Option<Job<E>> {
        let mut state = self.lock();
        let next = state.queue.pop_front();
        if next.is_none() {
            state.running -= 1;
            self.check_drained(&state);
        }
        next
    }
}

impl<E> Clone for Dispatcher<E> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<E> fmt::Debug for Dispatcher<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Dispatcher")
            .field("queue_capacity", &self.shared.capacity)
            .field("concurrency_limit", &self.shared.limit)
            .field("queued", &(state.queue.len() + state.reserved))
            .field("running", &state.running)
            .field("closing", &state.closing)
            .finish()
    }
}

/// An event could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// The queue is full.
    #[error("queue full")]
    Full,
    /// The dispatcher is shutting down.
    #[error("dispatcher closed")]
    Closed,
}

/// Shutdown did not finish running every accepted event before the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("drain deadline passed with {running} event(s) still running and {queued} queued")]
#[non_exhaustive]
pub struct DrainTimeout {
    /// Events whose handlers were still running.
    pub running: usize,
    /// Events still waiting for a handler.
    pub queued: usize,
}

/// A reserved queue slot: sending on it cannot fail. Dropping it frees the slot.
pub(crate) struct Slot<'a, E>(&'a Arc<Shared<E>>);

impl<E: Event> Slot<'_, E> {
    pub(crate) fn send(
        self,
        item: Item<E>,
        key: DedupKey,
        id: Option<Box<str>>,
        received_at: SystemTime,
    ) {
        let meta = Arc::new(Meta {
            kind: item.kind().into(),
            key,
            id,
            received_at,
        });
        let shared = self.0;
        // The reservation passes to `submit`; it must not also be freed by `Drop`.
        std::mem::forget(self);
        shared.submit(Job { item, meta });
    }
}

impl<E> Drop for Slot<'_, E> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.reserved -= 1;
        self.0.check_drained(&state);
    }
}

impl<E: Event> Dispatcher<E> {
    /// Configures a dispatcher for `handlers`.
    pub fn builder<S: Clone + Send + Sync + 'static>(
        handlers: Handlers<E, S>,
    ) -> DispatcherBuilder<E, S> {
        DispatcherBuilder {
            handlers,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Reserves a slot in the queue without waiting.
    pub(crate) fn try_reserve(&self) -> Result<Slot<'_, E>, EnqueueError> {
        let mut state = self.shared.lock();
        if state.closing {
            return Err(EnqueueError::Closed);
        }
        if state.reserved + state.queue.len() >= self.shared.capacity {
            return Err(EnqueueError::Full);
        }
        state.reserved += 1;
        Ok(Slot(&self.shared))
    }

    /// Queues a decoded event directly (bypassing the HTTP receiver and dedup), e.g. to replay
    /// one from a dead-letter table.
    ///
    /// # Errors
    ///
    /// [`EnqueueError`] if the queue is full or closed.
    pub fn try_enqueue(&self, decoded: Decoded<E>) -> Result<(), EnqueueError> {
        let (item, key, id) = decoded.into_parts();
        self.try_reserve()?.send(item, key, id, SystemTime::now());
        Ok(())
    }

    /// Events accepted and waiting for a handler.
    pub fn queued(&self) -> usize {
        let state = self.shared.lock();
        state.queue.len() + state.reserved
    }

    /// Events whose handlers are running.
    pub fn running(&self) -> usize {
        self.shared.lock().running
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_closing(&self) -> bool {
        self.shared.lock().closing
    }

    /// Stops taking events (the receiver answers 503 from now on), runs the handlers of every
    /// event already accepted, and resolves when they are all done or `deadline` has passed.
    ///
    /// With axum, call it after `axum::serve(..).with_graceful_shutdown(..)` returns: the server
    /// has then finished every in-flight request, so every acknowledged event is in the queue.
    ///
    /// # Errors
    ///
    /// [`DrainTimeout`] if handlers were still running at the deadline; they keep running in the
    /// background as long as the runtime does.
    pub async fn shutdown(&self, deadline: Duration) -> Result<(), DrainTimeout> {
        {
            let mut state = self.shared.lock();
            state.closing = true;
            self.shared.check_drained(&state);
        }
        match tokio::time::timeout(deadline, self.shared.drained.cancelled()).await {
            Ok(()) => Ok(()),
            Err(_) => Err(DrainTimeout {
                running: self.running(),
                queued: self.queued(),
            }),
        }
    }
}

/// Builder for [`Dispatcher`].
#[must_use]
pub struct DispatcherBuilder<E, S = ()> {
    handlers: Handlers<E, S>,
    queue_capacity: usize,
    concurrency: usize,
}

impl<E, S> fmt::Debug for DispatcherBuilder<E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("handlers", &self.handlers)
            .field("queue_capacity", &self.queue_capacity)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl<E: Event, S: Clone + Send + Sync + 'static> DispatcherBuilder<E, S> {
    /// How many accepted events may wait for a handler (default 1024). When full, the receiver
    /// answers 503 with `Retry-After` and remembers nothing. Values below 1 are raised to 1.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// How many events are handled at once (default 64). Values below 1 are raised to 1.
    pub fn concurrency_limit(mut self, limit: usize) -> Self {
        self.concurrency = limit.max(1);
        self
    }

    /// Builds the dispatcher on the current Tokio runtime: handlers run on it, in tasks spawned
    /// as events arrive (none while idle).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn(self) -> Dispatcher<E> {
        let runtime = tokio::runtime::Handle::current();
        let handlers = Arc::new(self.handlers);
        let spawn: SpawnRunner<E> = Box::new(move |shared, job| {
            runtime.spawn(runner(shared, Arc::clone(&handlers), job));
        });
        Dispatcher {
            shared: Arc::new(Shared {
                capacity: self.queue_capacity,
                limit: self.concurrency,
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    reserved: 0,
                    running: 0,
                    closing: false,
                }),
                spawn,
                drained: CancellationToken::new(),
            }),
        }
    }
}

/// Runs `first`, then queued events until the queue is empty.
async fn runner<E: Event, S: Clone + Send + Sync + 'static>(
    shared: Arc<Shared<E>>,
    handlers: Arc<Handlers<E, S>>,
    first: Job<E>,
) {
    let mut counted = Counted(Some(&shared));
    let mut job = first;
    loop {
        // `debug`: at the usual `info` level the span is disabled, and the handlers run without
        // it (an `Instrumented` wrapper still costs an enter and exit per poll).
        let span =
            tracing::debug_span!("webhook_dispatch", event = %job.meta.kind, key = %job.meta.key);
        if span.is_disabled() {
            handlers.run(job).await;
        } else {
            handlers.run(job).instrument(span).await;
        }
        match shared.next_or_leave() {
            Some(next) => job = next,
            None => {
                counted.0 = None;
                return;
            }
        }
    }
}

/// Uncounts a runner that did not leave through [`Shared::next_or_leave`]: its task was dropped
/// (runtime shutdown) or something outside the handlers panicked.
struct Counted<'a, E>(Option<&'a Shared<E>>);

impl<E> Drop for Counted<'_, E> {
    fn drop(&mut self) {
        if let Some(shared) = self.0 {
            let mut state = shared.lock();
            state.running -= 1;
            shared.check_drained(&state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Decoded;

    #[derive(Debug, Clone)]
    struct Ping;

    impl Event for Ping {
        fn kind(&self) -> &str {
            "ping"
        }
    }

    fn ping(n: u8) -> Decoded<Ping> {
        Decoded::event(Ping, DedupKey::from_bytes([n; 16]))
    }

    #[tokio::test]
    async fn a_dropped_slot_frees_its_place_and_does_not_hold_up_the_drain() {
        let d = Dispatcher::builder(Handlers::new().fallback(|_, _| async {}))
            .queue_capacity(1)
            .spawn();
        let slot = d.try_reserve().unwrap();
        assert_eq!(d.queued(), 1);
        assert_eq!(
            d.try_enqueue(ping(1)).unwrap_err(),
            EnqueueError::Full,
            "the reservation counts against the capacity"
        );
        drop(slot);
        assert_eq!(d.queued(), 0);
        d.try_enqueue(ping(2)).unwrap();
        let held = d.try_reserve().unwrap();
        let shutdown = d.shutdown(Duration::from_secs(10));
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
