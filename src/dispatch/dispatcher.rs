//! The dispatcher: a bounded queue of accepted events, the tasks that run their handlers, and
//! the timer queue of handlers waiting for a retry.
//!
//! There is no dispatcher task between the receiver and the handlers. Runner tasks run one job
//! (an event's first run, or one handler's retry) at a time, at most `concurrency_limit` of them.
//! An accepted event wakes a parked runner if there is one, else starts a new runner while under
//! the limit, else waits in the queue for the next runner to finish its job. A runner whose
//! queue is empty parks until the next event or the shutdown, or leaves if 64 runners are parked
//! already. So a steady stream of events costs no task spawn, and an idle dispatcher keeps at
//! most 64 parked tasks.
//!
//! A handler that failed and will be retried leaves its runner: its job waits in one ordered
//! map, served by one timer task that queues each job when its backoff has passed. Waiting jobs
//! count against the queue capacity.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::Handlers;
use super::backlog::Backlog;
use super::budget::{ByteBudget, QueueBytes};
use super::failure::DeadLetterReason;
use super::handler::{Job, Meta, Target};
use super::registry::{RouteOutcome, Routes};
use crate::dedup::DedupKey;
use crate::event::{Decoded, Event, Received};

/// Default number of accepted events that may wait for a handler: 1024.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::dispatch::{DEFAULT_QUEUE_CAPACITY, Dispatcher, EnqueueError, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use webhook_receiver::DecodeEvent;
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
/// let dispatcher = Dispatcher::builder(handlers).concurrency_limit(1).spawn();
/// for _ in 0..=DEFAULT_QUEUE_CAPACITY {
///     dispatcher.try_enqueue(event()).unwrap(); // the first one runs, 1024 wait
/// }
/// assert_eq!(dispatcher.queued(), DEFAULT_QUEUE_CAPACITY);
/// assert_eq!(dispatcher.try_enqueue(event()), Err(EnqueueError::Full));
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// # }
/// ```
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
/// Default byte budget of the queue: 64 MiB of request bodies held by accepted events that are
/// not done (queued, waiting for a retry, or running).
///
/// That is 64 bodies at the default [body limit](crate::receiver::DEFAULT_BODY_LIMIT) of 1 MiB,
/// while 1024 typical events (a few kB each, the default [`DEFAULT_QUEUE_CAPACITY`]) take a
/// few MB: the budget does not bind under ordinary traffic, only when large bodies pile up,
/// where a count of events alone would let 1024 bodies of 1 MiB (1 GiB, more once decoded)
/// wait in memory. See [`DispatcherBuilder::queue_bytes`] for what is counted.
///
/// ```
/// use webhook_receiver::dispatch::DEFAULT_QUEUE_BYTES;
/// use webhook_receiver::receiver::DEFAULT_BODY_LIMIT;
///
/// assert_eq!(DEFAULT_QUEUE_BYTES, 64 * 1024 * 1024);
/// assert_eq!(DEFAULT_QUEUE_BYTES / DEFAULT_BODY_LIMIT, 64);
/// ```
pub const DEFAULT_QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Default number of events handled at once: 64.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::dispatch::{DEFAULT_CONCURRENCY, Dispatcher, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use webhook_receiver::DecodeEvent;
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
/// let dispatcher = Dispatcher::builder(handlers).spawn();
/// for _ in 0..DEFAULT_CONCURRENCY + 1 {
///     dispatcher.try_enqueue(event()).unwrap();
/// }
/// assert_eq!((dispatcher.running(), dispatcher.queued()), (DEFAULT_CONCURRENCY, 1));
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// # }
/// ```
pub const DEFAULT_CONCURRENCY: usize = 64;

/// The longest a retry waits: a year. A [`RetryPolicy`](super::RetryPolicy) may ask for more
/// (its backoff is a `Duration`, up to `Duration::MAX`), but a deadline that far is past the
/// clock's range, and `Instant::now() + delay` would panic on the runner's path.
const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// When a retry that waits `wait` (at most [`MAX_WAIT`]) is due; never panics.
fn due_in(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait.min(MAX_WAIT)).unwrap_or(now)
}

/// [`due_in`] on the wall clock, as recorded in a store.
fn system_due_in(wait: Duration) -> SystemTime {
    let now = SystemTime::now();
    now.checked_add(wait.min(MAX_WAIT)).unwrap_or(now)
}

/// Parked runners kept at most; a runner that finds the queue empty while this many are parked
/// leaves, so that a burst under a high concurrency limit does not keep its tasks.
const MAX_PARKED: usize = 64;

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
/// dead-lettered ([`DeadLetterReason::RuntimeDropped`]) and the dispatcher closes.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::dispatch::{Dispatcher, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use webhook_receiver::DecodeEvent;
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

/// Spawns a task on the dispatcher's runtime.
type Spawn = Box<dyn Fn(futures_util::future::BoxFuture<'static, ()>) + Send + Sync>;

struct Shared<E> {
    capacity: usize,
    bytes: Arc<ByteBudget>,
    limit: usize,
    routes: Arc<Routes<E>>,
    state: Mutex<State<E>>,
    spawn: Spawn,
    /// Every runner task, so that the drain returns only once they have all returned.
    runners: TaskTracker,
    /// Where parked runners wait for an event (`notify_one`) or the shutdown (`notify_waiters`).
    /// A runner registers (`Notified::enable`) before it counts itself in `State::idle`, under the
    /// state lock, so a notification always finds it.
    wake: Notify,
    /// Wakes the timer task when a retry is due earlier than the ones it waits for.
    timer: Notify,
    /// Cancelled once closing and nothing is reserved, queued, waiting or running.
    drained: CancellationToken,
    /// Cancelled once closing (a drain began, or the last handle was dropped).
    closed: CancellationToken,
    /// The jobs' run times and the refused senders, for the adaptive `Retry-After`.
    backlog: Backlog,
}

struct State<E> {
    /// Accepted events (and due retries) waiting for a runner, oldest first.
    queue: VecDeque<Job<E>>,
    /// Retries waiting for their backoff to pass, by due time (and a sequence number).
    delayed: BTreeMap<(Instant, u64), Job<E>>,
    /// The next sequence number for `delayed`.
    seq: u64,
    /// Slots reserved by receivers that have not sent yet; they count against the capacity.
    reserved: usize,
    /// Jobs whose handlers are running (one per busy runner).
    running: usize,
    /// Runner tasks alive, busy or parked; at most the concurrency limit.
    runners: usize,
    /// Parked runners that no event has been handed to yet.
    idle: usize,
    closing: bool,
    /// The drain deadline passed (or the runtime went away): what is left is reported, not run.
    abandoned: bool,
}

impl<E> State<E> {
    /// Accepted events not running: reserved, queued, or waiting for a retry.
    fn queued(&self) -> usize {
        self.reserved + self.queue.len() + self.delayed.len()
    }

    /// Sets the dispatcher's gauges from the counts.
    fn gauges(&self) {
        crate::telemetry::dispatcher_gauges(
            self.reserved + self.queue.len(),
            self.delayed.len(),
            self.running,
        );
    }
}

impl<E> Shared<E> {
    /// The state; a poisoned lock is taken as is (no code panics while holding it).
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Signals the drain if shutting down and nothing is left to run.
    fn check_drained(&self, state: &State<E>) {
        if state.closing && state.running == 0 && state.queued() == 0 {
            self.drained.cancel();
        }
    }
}

impl<E: Event> Shared<E> {
    /// Hands a job to a parked runner, or to a new one while under the limit, or queues it for
    /// the next runner to finish. `reserved`: the job had a reserved slot (a new event).
    fn submit(self: &Arc<Self>, job: Job<E>, reserved: bool) {
        let mut state = self.lock();
        if reserved {
            state.reserved -= 1;
        }
        if state.abandoned {
            drop(state);
            self.abandon(job, DeadLetterReason::Shutdown);
            let state = self.lock();
            self.check_drained(&state);
            return;
        }
        if state.idle > 0 {
            // The job is queued and one parked runner woken for it; whichever runner pops it
            // first runs it, and a woken runner that finds the queue empty parks again.
            state.idle -= 1;
            state.queue.push_back(job);
            state.gauges();
            drop(state);
            self.wake.notify_one();
        } else if state.runners < self.limit {
            state.runners += 1;
            state.running += 1;
            state.gauges();
            drop(state);
            self.spawn_runner(job);
        } else {
            state.queue.push_back(job);
            state.gauges();
        }
    }

    /// Starts a runner with `job`, counted as running. The runner's guard is made before the
    /// task, so that a task that never runs (the runtime is gone) still uncounts it and reports
    /// its job.
    fn spawn_runner(self: &Arc<Self>, job: Job<E>) {
        self.spawn_task(Some(job), None);
    }

    /// Starts a runner counted as running, with `job` to run or `panicked` to report first.
    fn spawn_task(self: &Arc<Self>, job: Option<Job<E>>, panicked: Option<Job<E>>) {
        let runner = Runner {
            shared: Arc::clone(self),
            phase: Phase::Running,
            job,
            panicked,
            started: false,
        };
        let tracker = self.runners.clone();
        (self.spawn)(Box::pin(tracker.track_future(run(runner))));
    }

    /// Reports a job whose run panicked outside the handlers' catch, and ends its share of a
    /// stored event; a panic in doing so (the user's hook or store) is logged, not propagated.
    fn report_panicked(&self, job: Job<E>) {
        let reported = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let attempt = job.attempt;
            let meta = Arc::clone(&job.meta);
            self.abandon(job, DeadLetterReason::Panicked);
            if let Some(p) = &meta.persisted {
                record_progress(&self.routes, p, attempt, &[], &[]);
            }
        }));
        if reported.is_err() {
            tracing::error!("reporting a webhook job whose run panicked panicked too");
        }
    }

    /// Puts a failed handler's job in the timer queue, to run after `delay` (at most
    /// [`MAX_WAIT`]).
    fn delay(&self, job: Job<E>, delay: Duration) {
        let due = due_in(delay);
        let mut state = self.lock();
        if state.abandoned {
            drop(state);
            self.abandon(job, DeadLetterReason::Shutdown);
            return;
        }
        let seq = state.seq;
        state.seq += 1;
        let earliest = state
            .delayed
            .first_key_value()
            .is_none_or(|(k, _)| due < k.0);
        state.delayed.insert((due, seq), job);
        state.gauges();
        drop(state);
        if earliest {
            self.timer.notify_one();
        }
    }

    /// Reports a job that will not run.
    fn abandon(&self, mut job: Job<E>, reason: DeadLetterReason) {
        if job.meta.persisted.is_some()
            && matches!(
                reason,
                DeadLetterReason::Shutdown | DeadLetterReason::RuntimeDropped
            )
        {
            let handler = match job.target {
                Target::All => None,
                Target::Route(i) => Some(self.routes.label(i)),
            };
            tracing::warn!(
                event = %job.meta.event_name,
                key = %job.meta.key,
                id = job.meta.id.as_deref(),
                handler,
                reason = reason.as_str(),
                "accepted webhook event left in its inbox: it runs at the next start, or on another replica with a shared inbox"
            );
            return;
        }
        let (index, attempts) = match job.target {
            Target::All => (None, 0),
            Target::Route(i) => (Some(i), job.attempt - 1),
        };
        let last_error = job.last_error.take();
        self.routes
            .dead_letter(&job, index, attempts, last_error, reason);
    }

    /// Stops running what is left: every queued and waiting job is taken and dead-lettered with
    /// `reason`; jobs finishing from now on are reported instead of retried. Returns how many
    /// were queued and waiting.
    fn abandon_all(&self, reason: DeadLetterReason) -> (usize, usize) {
        let (queued, delayed) = {
            let mut state = self.lock();
            state.abandoned = true;
            state.closing = true;
            self.closed.cancel();
            state.idle = 0;
            (
                std::mem::take(&mut state.queue),
                std::mem::take(&mut state.delayed),
            )
        };
        let counts = (queued.len(), delayed.len());
        for job in queued.into_iter().chain(delayed.into_values()) {
            self.abandon(job, reason);
        }
        let state = self.lock();
        self.check_drained(&state);
        drop(state);
        self.wake.notify_waiters();
        self.timer.notify_one();
        counts
    }

    /// The next job for a runner that finished one: the oldest queued job, else (parked) the
    /// next one submitted. `None` when the queue is empty and the dispatcher is closing or
    /// enough runners are parked already: the runner is then no longer counted and must return.
    /// `phase` tracks what the runner is counted as, for [`Runner`]'s drop.
    async fn next_job(&self, phase: &mut Phase) -> Option<Job<E>> {
        let mut finished = true;
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            {
                let mut state = self.lock();
                if finished {
                    state.running -= 1;
                    finished = false;
                }
                if let Some(job) = state.queue.pop_front() {
                    state.running += 1;
                    state.gauges();
                    *phase = Phase::Running;
                    return Some(job);
                }
                state.gauges();
                if state.closing || state.idle >= MAX_PARKED {
                    state.runners -= 1;
                    *phase = Phase::Left;
                    // The event this runner just finished may have been the last one.
                    self.check_drained(&state);
                    return None;
                }
                // Park: register first, then count as idle, both under the lock, so that neither
                // a `submit` that sees this runner idle nor the shutdown can miss it.
                notified.as_mut().enable();
                state.idle += 1;
                *phase = Phase::Parked;
            }
            notified.await;
        }
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
    fn shared(&self) -> &Arc<Shared<E>> {
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

/// An event could not be queued. The receiver answers both with 503 and `Retry-After`.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::dispatch::{Dispatcher, EnqueueError, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use webhook_receiver::DecodeEvent;
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
/// let dispatcher = Dispatcher::builder(handlers).queue_capacity(1).concurrency_limit(1).spawn();
/// dispatcher.try_enqueue(event()).unwrap(); // handed to the one runner
/// dispatcher.try_enqueue(event()).unwrap(); // waits in the queue
/// assert_eq!(dispatcher.try_enqueue(event()), Err(EnqueueError::Full));
/// dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// assert_eq!(dispatcher.try_enqueue(event()), Err(EnqueueError::Closed));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// The queue is full: its capacity in events, or its byte budget (see
    /// [`DispatcherBuilder::queue_bytes`]).
    #[error("queue full")]
    Full,
    /// The dispatcher is shutting down.
    #[error("dispatcher closed")]
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "drain deadline passed with {running} event(s) still running, {queued} queued and {retrying} waiting for a retry; the {abandoned} not run were logged and dead-lettered"
)]
/// Shutdown did not finish running every accepted event before the deadline.
///
/// Every event that was still queued or waiting for a retry has been logged at `error` (type and
/// key) and given to the dead-letter hook with [`DeadLetterReason::Shutdown`]; the running ones
/// go on in the background as long as the runtime does, and are reported the same way if the
/// runtime stops them.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::dispatch::{Dispatcher, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use webhook_receiver::DecodeEvent;
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

/// A reserved queue slot, with its bytes: sending on it cannot fail. Dropping it frees the
/// slot and the bytes.
pub(crate) struct Slot<'a, E> {
    shared: &'a Arc<Shared<E>>,
    /// Taken by `submit`, with the slot; dropped with the slot otherwise.
    bytes: Option<QueueBytes>,
}

impl<E: Event> Slot<'_, E> {
    /// Sends the event; if its store keeps it (`entry`), its handlers' progress is recorded
    /// there, and it is completed there when they are done.
    pub(crate) fn send(
        self,
        item: Received<E>,
        key: DedupKey,
        id: Option<Box<str>>,
        received_at: SystemTime,
        entry: Option<Box<dyn crate::store::Entry>>,
    ) {
        let mut meta = Meta::new(item.event_name(), key, id, received_at);
        meta.persisted = entry.map(|entry| super::handler::Persisted {
            entry,
            outstanding: std::sync::atomic::AtomicUsize::new(1),
            replayed: false,
        });
        self.submit(item, Arc::new(meta));
    }

    fn submit(mut self, item: Received<E>, meta: Arc<Meta>) {
        let shared = self.shared;
        let bytes = self.bytes.take().expect("a slot is sent once");
        // The reservation passes to `submit`; it must not also be freed by `Drop` (which has
        // nothing else to free: the bytes were taken).
        std::mem::forget(self);
        shared.submit(Job::first(item, meta, Arc::new(bytes)), true);
    }
}

impl<E> Drop for Slot<'_, E> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.reserved -= 1;
        self.shared.check_drained(&state);
    }
}

impl<E: Event> Dispatcher<E> {
    /// Configures a dispatcher for `handlers`; [`spawn`](DispatcherBuilder::spawn) starts it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::dispatch::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
    /// let dispatcher = Dispatcher::builder(handlers).queue_capacity(10_000).spawn();
    /// assert_eq!((dispatcher.queued(), dispatcher.running()), (0, 0));
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn builder<S>(handlers: Handlers<E, S>) -> DispatcherBuilder<E> {
        DispatcherBuilder {
            routes: handlers.into_routes(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// The adaptive `Retry-After` (at most `max`) for a sender refused because the queue is
    /// full: see [`RetryAfter`](super::RetryAfter).
    pub(crate) fn retry_after_when_full(&self, max: Duration) -> Duration {
        let shared = self.shared();
        let waiting = shared.lock().queued();
        shared.backlog.retry_after(waiting, shared.limit, max)
    }

    /// Reserves a slot in the queue, and `bytes` of its byte budget (the request body's size),
    /// without waiting.
    pub(crate) fn try_reserve(&self, bytes: usize) -> Result<Slot<'_, E>, EnqueueError> {
        let mut state = self.shared().lock();
        if state.closing {
            return Err(EnqueueError::Closed);
        }
        if state.queued() >= self.shared().capacity {
            return Err(EnqueueError::Full);
        }
        let Some(bytes) = self.shared().bytes.try_reserve(bytes) else {
            tracing::debug!(
                bytes,
                held = self.shared().bytes.held(),
                budget = self.shared().bytes.limit(),
                "webhook queue byte budget spent"
            );
            return Err(EnqueueError::Full);
        };
        state.reserved += 1;
        Ok(Slot {
            shared: self.shared(),
            bytes: Some(bytes),
        })
    }

    /// Queues a decoded event directly (bypassing the HTTP receiver and dedup), e.g. to replay
    /// one from a dead-letter table.
    ///
    /// An event queued this way reserves no bytes of the [byte
    /// budget](DispatcherBuilder::queue_bytes), which counts request bodies (it does count
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
    /// use webhook_receiver::dispatch::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), webhook_receiver::BoxError> {
    /// # use webhook_receiver::DecodeEvent;
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
            .send(item, key, id, SystemTime::now(), None);
        Ok(())
    }

    /// Events accepted and waiting for a handler.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::dispatch::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::DecodeEvent;
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
    /// waiting for a retry, or running (see [`DispatcherBuilder::queue_bytes`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// use webhook_receiver::dispatch::{Dispatcher, Handlers};
    /// use webhook_receiver::receiver::WebhookService;
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
    /// use webhook_receiver::dispatch::{Dispatcher, Handlers, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::DecodeEvent;
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
    /// use webhook_receiver::dispatch::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::DecodeEvent;
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
    /// use webhook_receiver::dispatch::{Dispatcher, Handlers};
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

    /// Queues an event an inbox handed back (left by an earlier run, or taken from a shared
    /// inbox), decoded again as `item`: the handlers it had not finished run (a waiting retry
    /// when it is due, with its attempt number); the capacity is not checked, the event was
    /// accepted already.
    pub(crate) fn replay(
        &self,
        stored: &crate::store::StoredEvent,
        entry: Box<dyn crate::store::Entry>,
        replayed: bool,
        item: Received<E>,
        id: Option<Box<str>>,
    ) {
        let shared = self.shared();
        let mut meta = Meta::new(item.event_name(), stored.key, id, stored.received_at);
        // Its body counts against the byte budget, as a new event's does; it is not refused (it
        // was accepted before this start), so new requests wait until the replay has drained.
        let bytes = Arc::new(shared.bytes.reserve_over(stored.body.len()));
        let mut jobs: Vec<(Job<E>, Option<SystemTime>)> = Vec::new();
        if stored.routes.is_empty() {
            jobs.push((
                Job::first(
                    item,
                    Arc::new(Meta::new("", stored.key, None, stored.received_at)),
                    Arc::clone(&bytes),
                ),
                None,
            ));
        } else {
            for index in shared.routes.indices(&item) {
                let state = stored
                    .routes
                    .iter()
                    .find(|r| r.route == shared.routes.route_id(index));
                let (attempt, due) = match state {
                    Some(state) if state.done => continue,
                    Some(state) => (state.attempts + 1, state.next_at),
                    None => (1, None),
                };
                let job = Job {
                    item: item.clone(),
                    meta: Arc::new(Meta::new("", stored.key, None, stored.received_at)),
                    bytes: Arc::clone(&bytes),
                    target: Target::Route(index),
                    attempt,
                    last_error: None,
                    ready_at: Instant::now(),
                };
                jobs.push((job, due));
            }
        }
        if jobs.is_empty() {
            entry.complete();
            return;
        }
        meta.persisted = Some(super::handler::Persisted {
            entry,
            outstanding: std::sync::atomic::AtomicUsize::new(jobs.len()),
            replayed,
        });
        let meta = Arc::new(meta);
        let now = SystemTime::now();
        for (mut job, due) in jobs {
            job.meta = Arc::clone(&meta);
            match due.and_then(|due| due.duration_since(now).ok()) {
                Some(wait) if !wait.is_zero() => shared.delay(job, wait),
                _ => shared.submit(job, false),
            }
        }
    }

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
    /// [`DeadLetterReason::Shutdown`], before this returns; handlers still running go on in the
    /// background as long as the runtime does.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::dispatch::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::DecodeEvent;
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

/// Builder for [`Dispatcher`]: [`Dispatcher::builder`].
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::ChirpEvent;
/// use webhook_receiver::dispatch::{Dispatcher, DispatcherBuilder, Handlers};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let builder: DispatcherBuilder<ChirpEvent> = Dispatcher::builder(Handlers::new());
/// let dispatcher = builder.queue_capacity(256).concurrency_limit(4).spawn();
/// assert!(!dispatcher.is_closing());
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// # }
/// ```
#[must_use]
pub struct DispatcherBuilder<E> {
    routes: Routes<E>,
    queue_capacity: usize,
    queue_bytes: usize,
    concurrency: usize,
}

impl<E> fmt::Debug for DispatcherBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("handlers", &self.routes)
            .field("queue_capacity", &self.queue_capacity)
            .field("queue_bytes", &self.queue_bytes)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl<E: Event> DispatcherBuilder<E> {
    /// How many accepted events may wait for a handler or a retry (default 1024). When full,
    /// the receiver answers 503 with `Retry-After` and remembers nothing. Values below 1 are
    /// raised to 1.
    ///
    /// Running events do not count: at most `queue_capacity` plus the
    /// [concurrency limit](Self::concurrency_limit) are accepted and not done.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::dispatch::{Dispatcher, EnqueueError, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::DecodeEvent;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
    /// let dispatcher = Dispatcher::builder(handlers).queue_capacity(2).concurrency_limit(1).spawn();
    /// let results: Vec<_> = (0..4).map(|_| dispatcher.try_enqueue(event())).collect();
    /// // One runs, two wait, and the fourth is refused.
    /// assert_eq!(results, [Ok(()), Ok(()), Ok(()), Err(EnqueueError::Full)]);
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// How many bytes the accepted events that are not done may hold, counted as the size of
    /// their request bodies (default [`DEFAULT_QUEUE_BYTES`], 64 MiB). Past it, the receiver
    /// answers 503 with `Retry-After` and remembers nothing, as for a full queue. Values below
    /// 1 are raised to 1.
    ///
    /// An event holds its body's size from when the receiver accepts it until its last handler
    /// is done with it: while it waits in the queue, while its handlers run, and while any of
    /// them waits for a retry; it is given back however the event ends (handled,
    /// dead-lettered, abandoned at the drain deadline or with the runtime). Unlike
    /// [`queue_capacity`](Self::queue_capacity), running events count: their payloads are in
    /// memory too.
    ///
    /// An event larger than the whole budget is accepted only when no other event holds any
    /// bytes, so a budget below the [body limit](crate::receiver::DEFAULT_BODY_LIMIT) admits
    /// such events one at a time, never refuses them for good, and memory stays within the
    /// larger of the budget and one body.
    ///
    /// What an event holds in memory is close to its body's size: typed payloads are about the
    /// size of their fields' text, and untyped ones (unknown event types, invalid payloads,
    /// [`JsonEvent::raw`](crate::json::JsonEvent::raw)) are kept as text
    /// ([`RawJson`](crate::event::RawJson)). Free-form fields of typed payloads held as
    /// [`serde_json::Value`] (Chirp's `InboundMessage::extra` and `ResourceEvent::rest`) take
    /// more: up to about 16 times their text for arrays of small numbers.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// use webhook_receiver::dispatch::{Dispatcher, Handlers};
    /// use webhook_receiver::receiver::WebhookService;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let post = |body: &str| http::Request::post("/").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| std::future::pending::<()>());
    /// let dispatcher = Dispatcher::builder(handlers).queue_bytes(100).spawn();
    /// let svc = WebhookService::builder(Chirp, dispatcher.clone()).build();
    /// let event = |id: &str| format!(r#"{{"event":"calls.voice.started","data":{{"id":"{id}"}}}}"#);
    /// let first = svc.clone().oneshot(post(&event("call_1"))).await.unwrap();
    /// assert_eq!(first.status(), StatusCode::OK); // 54 bytes held while its handler runs
    /// let second = svc.clone().oneshot(post(&event("call_2"))).await.unwrap();
    /// assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE); // 108 > 100
    /// assert!(second.headers().contains_key("retry-after"));
    /// # dispatcher.drain(std::time::Duration::from_millis(10)).await.unwrap_err();
    /// # }
    /// ```
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes.max(1);
        self
    }

    /// How many events are handled at once (default 64). Values below 1 are raised to 1.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::dispatch::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::DecodeEvent;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
    /// let dispatcher = Dispatcher::builder(handlers).concurrency_limit(2).spawn();
    /// for _ in 0..3 {
    ///     dispatcher.try_enqueue(event()).unwrap();
    /// }
    /// assert_eq!((dispatcher.running(), dispatcher.queued()), (2, 1)); // two at once
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn concurrency_limit(mut self, limit: usize) -> Self {
        self.concurrency = limit.max(1);
        self
    }

    /// Builds the dispatcher on the current Tokio runtime: handlers run on it, in runner tasks
    /// spawned as the load needs them (none before the first event, at most the concurrency
    /// limit); up to 64 of them stay parked between events, until the shutdown.
    ///
    /// To run the handlers on another runtime, call `spawn` inside that runtime's
    /// [`enter`](tokio::runtime::Runtime::enter) guard. With cores to spare, a runtime of its own
    /// keeps handler work (timers firing, replies parsed) off the server's workers. On a single
    /// core it costs more than it saves: every event then wakes another thread.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::dispatch::{Dispatcher, Handlers};
    ///
    /// let handler_runtime = tokio::runtime::Builder::new_multi_thread()
    ///     .worker_threads(1)
    ///     .thread_name("webhook-handlers")
    ///     .enable_all()
    ///     .build()
    ///     .unwrap();
    /// // Each handler call records the name of the thread it ran on.
    /// let ran_on = Arc::new(Mutex::new(Vec::new()));
    /// let handlers = Handlers::<ChirpEvent, _>::with_state(Arc::clone(&ran_on)).fallback(
    ///     |_, ctx| async move {
    ///         let thread = std::thread::current().name().map(str::to_owned);
    ///         ctx.state().lock().unwrap().push(thread);
    ///     },
    /// );
    /// let dispatcher = {
    ///     let _on_handler_runtime = handler_runtime.enter();
    ///     Dispatcher::builder(handlers).spawn()
    /// };
    ///
    /// // The server's runtime: receivers enqueue here, handlers run on the other one.
    /// # let server = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # server.block_on(async {
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # use webhook_receiver::DecodeEvent;
    /// # let decoded = webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// # dispatcher.try_enqueue(decoded).unwrap();
    /// // At shutdown the drain waits for handlers on either runtime.
    /// dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// # });
    /// assert_eq!(*ran_on.lock().unwrap(), [Some("webhook-handlers".to_owned())]);
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn(self) -> Dispatcher<E> {
        let runtime = tokio::runtime::Handle::current();
        let spawn: Spawn = Box::new(move |task| {
            // A runtime that has shut down drops the task unpolled; its guard reports it.
            drop(runtime.spawn(task));
        });
        let shared = Arc::new(Shared {
            capacity: self.queue_capacity,
            bytes: ByteBudget::new(self.queue_bytes),
            limit: self.concurrency,
            routes: Arc::new(self.routes),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                delayed: BTreeMap::new(),
                seq: 0,
                reserved: 0,
                running: 0,
                runners: 0,
                idle: 0,
                closing: false,
                abandoned: false,
            }),
            spawn,
            runners: TaskTracker::new(),
            wake: Notify::new(),
            timer: Notify::new(),
            drained: CancellationToken::new(),
            closed: CancellationToken::new(),
            backlog: Backlog::new(),
        });
        let guard = TimerGuard {
            shared: Arc::clone(&shared),
            finished: false,
        };
        (shared.spawn)(Box::pin(timer(guard)));
        Dispatcher {
            handle: Arc::new(Handle { shared }),
        }
    }
}

/// Runs the runner's job, then queued jobs, parking while there are none, until the shutdown
/// (or until the queue is empty with enough runners parked). A runner that replaces one that
/// panicked first reports the job that panicked (`panicked`), then takes queued jobs.
async fn run<E: Event>(mut runner: Runner<E>) {
    let shared = Arc::clone(&runner.shared);
    runner.started = true;
    if let Some(job) = runner.panicked.take() {
        shared.report_panicked(job);
    }
    loop {
        run_job(&shared, &mut runner.job).await;
        match shared.next_job(&mut runner.phase).await {
            Some(next) => runner.job = Some(next),
            None => return,
        }
    }
}

/// Runs one job, records its progress in its store, and schedules its retries.
/// `slot` keeps the job until its retries are scheduled, so that a runner that panics before
/// leaves it to be reported.
async fn run_job<E: Event>(shared: &Arc<Shared<E>>, slot: &mut Option<Job<E>>) {
    let Some(job) = slot.as_ref() else {
        return;
    };
    crate::telemetry::queue_wait(job.ready_at.elapsed());
    let mut retries: Vec<(usize, Duration, super::HandlerFailure)> = Vec::new();
    // Handlers done with the event, recorded only for a kept one.
    let mut done: Vec<usize> = Vec::new();
    let persisted = job.meta.persisted.is_some();
    let outcome = |index: usize, outcome: RouteOutcome| match outcome {
        RouteOutcome::Retry(delay, failure) => retries.push((index, delay, failure)),
        RouteOutcome::Done => {
            if persisted {
                done.push(index);
            }
        }
    };
    // `debug`: at the usual `info` level the span is disabled, and the handlers run without
    // it (an `Instrumented` wrapper still costs an enter and exit per poll).
    let span = tracing::debug_span!("webhook_dispatch", event = %job.meta.event_name, key = %job.meta.key, attempt = job.attempt);
    let started = Instant::now();
    if span.is_disabled() {
        shared.routes.run(job, outcome).await;
    } else {
        shared.routes.run(job, outcome).instrument(span).await;
    }
    shared.backlog.job_done(started.elapsed());
    if let Some(p) = &job.meta.persisted {
        record_progress(&shared.routes, p, job.attempt, &done, &retries);
    }
    if let Some(finished) = slot.take() {
        schedule_retries(shared, finished, retries);
    }
}

/// Records in the durable inbox what became of a stored event's job: the event is completed
/// when this was its last outstanding job and nothing is retried; otherwise the handlers done
/// and the retries to come are recorded, so that a restart runs only what is left.
fn record_progress<E: Event>(
    routes: &Routes<E>,
    p: &super::handler::Persisted,
    attempt: u32,
    done: &[usize],
    retries: &[(usize, Duration, super::HandlerFailure)],
) {
    use std::sync::atomic::Ordering;
    // One atomic step: this job ends, its retries begin.
    let left = match retries.len() {
        0 => p.outstanding.fetch_sub(1, Ordering::AcqRel) - 1,
        n => p.outstanding.fetch_add(n - 1, Ordering::AcqRel) + n - 1,
    };
    if left == 0 {
        p.entry.complete();
        return;
    }
    for &index in done {
        p.entry.complete_route(routes.route_id(index));
    }
    for (index, delay, _) in retries {
        p.entry.record_attempt(
            routes.route_id(*index),
            attempt,
            Some(system_due_in(*delay)),
        );
    }
}

/// Puts a retry job for each failed handler in the timer queue; the last one takes the event,
/// the others a clone.
fn schedule_retries<E: Event>(
    shared: &Shared<E>,
    job: Job<E>,
    retries: Vec<(usize, Duration, super::HandlerFailure)>,
) {
    let mut retries = retries.into_iter().peekable();
    let Job {
        item,
        meta,
        bytes,
        attempt,
        ..
    } = job;
    let mut item = Some(item);
    while let Some((index, delay, failure)) = retries.next() {
        let item = if retries.peek().is_some() {
            item.clone()
        } else {
            item.take()
        };
        let Some(item) = item else { break };
        let retry = Job {
            item,
            meta: Arc::clone(&meta),
            bytes: Arc::clone(&bytes),
            target: Target::Route(index),
            attempt: attempt + 1,
            last_error: Some(failure),
            ready_at: due_in(delay),
        };
        shared.delay(retry, delay);
    }
}

/// The timer queue's task: queues each waiting retry when it is due, until the dispatcher is
/// drained.
async fn timer<E: Event>(mut guard: TimerGuard<E>) {
    let shared = Arc::clone(&guard.shared);
    loop {
        let woken = shared.timer.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let (due, next) = {
            let mut state = shared.lock();
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(entry) = state.delayed.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            let next = state.delayed.first_key_value().map(|(k, _)| k.0);
            // Moved to the queue below: counted as reserved until then, so that the drain
            // does not see nothing left in between.
            state.reserved += due.len();
            (due, next)
        };
        for job in due {
            shared.submit(job, true);
        }
        if shared.drained.is_cancelled() {
            guard.finished = true;
            return;
        }
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = woken => {}
            () = sleep => {}
            () = shared.drained.cancelled() => {}
        }
    }
}

/// Reports the waiting retries if the timer task is dropped before the dispatcher drained: its
/// runtime shut down.
struct TimerGuard<E: Event> {
    shared: Arc<Shared<E>>,
    finished: bool,
}

impl<E: Event> Drop for TimerGuard<E> {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.abandon_all(DeadLetterReason::RuntimeDropped);
        }
    }
}

/// What a runner is counted as, in [`State`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Running a job: counted in `running` and `runners`.
    Running,
    /// Waiting for a job: counted in `runners` and (until a job is handed to it) `idle`.
    Parked,
    /// No longer counted.
    Left,
}

/// A runner task's state. Its drop, when the task did not leave through
/// [`Shared::next_job`], tells two cases apart:
///
/// - the task panicked outside the handlers' catch (in the event type's code, a store's, or
///   the dispatcher's): the drop runs while unwinding. A new runner takes its place, in its
///   counts, reports its job ([`DeadLetterReason::Panicked`]) and goes on with the queue:
///   nothing queued is lost and the dispatcher stays open;
/// - the runtime dropped it (running or parked, or before it first ran): it is uncounted, its
///   job reported, and with the runtime gone everything left is reported.
struct Runner<E: Event> {
    shared: Arc<Shared<E>>,
    phase: Phase,
    /// The job being run.
    job: Option<Job<E>>,
    /// The job of the runner this one replaces, which panicked: reported first.
    panicked: Option<Job<E>>,
    /// Whether the task was polled: one dropped unpolled was dropped by its runtime.
    started: bool,
}

impl<E: Event> Drop for Runner<E> {
    fn drop(&mut self) {
        let shared = &self.shared;
        if std::thread::panicking() && self.started && self.phase != Phase::Left {
            // No user code here (a second panic while unwinding aborts): the replacement
            // reports the job. A parked runner's counts pass to it as a running one's.
            if self.phase == Phase::Parked {
                let mut state = shared.lock();
                state.idle = state.idle.saturating_sub(1);
                state.running += 1;
            }
            tracing::error!(
                "a webhook runner panicked outside a handler; it is replaced, and its event is dead-lettered"
            );
            shared.spawn_task(None, self.job.take());
            return;
        }
        {
            let mut state = shared.lock();
            match self.phase {
                Phase::Running => {
                    state.running -= 1;
                    state.runners -= 1;
                }
                Phase::Parked => {
                    state.runners -= 1;
                    // Dropped with the runtime, so exactness no longer matters; an event handed to
                    // it is passed on to another parked runner by `Notified`'s drop.
                    state.idle = state.idle.saturating_sub(1);
                }
                Phase::Left => return,
            }
        }
        for job in [self.panicked.take(), self.job.take()]
            .into_iter()
            .flatten()
        {
            shared.abandon(job, DeadLetterReason::RuntimeDropped);
        }
        // No runner will take what is queued: the runtime that runs them is going away.
        shared.abandon_all(DeadLetterReason::RuntimeDropped);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::event::Decoded;

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

    /// A store entry that keeps the due times of the retries recorded in it.
    #[derive(Debug)]
    struct DueTimes(Arc<Mutex<Vec<Option<SystemTime>>>>);

    impl crate::store::Entry for DueTimes {
        fn record_attempt(&self, _route: u32, _attempts: u32, next_at: Option<SystemTime>) {
            self.0.lock().unwrap().push(next_at);
        }
        fn complete_route(&self, _route: u32) {}
        fn complete(&self) {}
    }

    #[test]
    fn a_retry_recorded_past_the_clocks_range_is_due_at_the_longest_wait() {
        let routes = Handlers::<Ping>::new()
            .fallback(|_, _| async {})
            .into_routes();
        let due = Arc::new(Mutex::new(Vec::new()));
        let persisted = super::super::handler::Persisted {
            entry: Box::new(DueTimes(Arc::clone(&due))),
            outstanding: AtomicUsize::new(1),
            replayed: false,
        };
        let failure = super::super::HandlerFailure::Timeout(Duration::from_secs(1));
        let before = SystemTime::now();
        record_progress(&routes, &persisted, 1, &[], &[(0, Duration::MAX, failure)]);
        let due = due.lock().unwrap()[0].expect("a due time");
        assert!(due >= before + MAX_WAIT && due <= SystemTime::now() + MAX_WAIT);
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
