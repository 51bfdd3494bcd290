//! The dispatcher's state: the queue of jobs waiting for a runner, the timer queue of retries
//! waiting for their backoff, and the counts (reserved, running, runners, parked) that the
//! receiver, the runners and the drain read and change under one lock.
//!
//! The timer queue is an ordered map (`BTreeMap` by due time and a sequence number) under the
//! state lock, served by one task ([`timer`](super::timer)), rather than
//! `tokio_util::time::DelayQueue`. `benches/dispatch_primitives.rs` (insert a retry, take it
//! when due; 61 interleaved rounds of 10,000) measured a median of 305 ns per retry here
//! against 450 ns for a `DelayQueue` under the same lock (ratio 1.52, IQR 1.42–1.60; the same
//! code against itself 1.007, IQR 0.98–1.08). The lock is needed either way: the waiting
//! retries count against the capacity and are taken whole, to be reported, at a drain deadline
//! (a `DelayQueue` gives its entries back only when due or by key). A `DelayQueue` would also
//! need tokio-util's `time` feature, and panics on a deadline past about two years.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::super::backlog::Backlog;
use super::super::budget::ByteBudget;
use super::super::failure::DeadLetterReason;
use super::super::handler::{Job, Target};
use super::super::registry::Routes;
use super::deadline::due_in;
use crate::event::Event;

/// Spawns a task on the dispatcher's runtime.
pub(super) type Spawn = Box<dyn Fn(futures_util::future::BoxFuture<'static, ()>) + Send + Sync>;

pub(super) struct Shared<E> {
    pub(super) capacity: usize,
    pub(super) bytes: Arc<ByteBudget>,
    pub(super) limit: usize,
    pub(super) routes: Arc<Routes<E>>,
    pub(super) state: Mutex<State<E>>,
    pub(super) spawn: Spawn,
    /// Every runner task, so that the drain returns only once they have all returned.
    pub(super) runners: TaskTracker,
    /// Where parked runners wait for an event (`notify_one`) or the shutdown (`notify_waiters`).
    /// A runner registers (`Notified::enable`) before it counts itself in `State::idle`, under the
    /// state lock, so a notification always finds it.
    pub(super) wake: Notify,
    /// Wakes the timer task when a retry is due earlier than the ones it waits for.
    pub(super) timer: Notify,
    /// Cancelled once closing and nothing is reserved, queued, waiting or running.
    pub(super) drained: CancellationToken,
    /// Cancelled once closing (a drain began, or the last handle was dropped).
    pub(super) closed: CancellationToken,
    /// The jobs' run times and the refused senders, for the adaptive `Retry-After`.
    pub(super) backlog: Backlog,
    /// How long jobs waited for a runner (registered when the dispatcher was built).
    pub(super) queue_wait: metrics::Histogram,
}

pub(super) struct State<E> {
    /// Accepted events (and due retries) waiting for a runner, oldest first.
    pub(super) queue: VecDeque<Job<E>>,
    /// Retries waiting for their backoff to pass, by due time (and a sequence number).
    pub(super) delayed: BTreeMap<(Instant, u64), Job<E>>,
    /// The next sequence number for `delayed`.
    pub(super) seq: u64,
    /// Slots reserved by receivers that have not sent yet; they count against the capacity.
    pub(super) reserved: usize,
    /// Jobs whose handlers are running (one per busy runner).
    pub(super) running: usize,
    /// Runner tasks alive, busy or parked; at most the concurrency limit.
    pub(super) runners: usize,
    /// Parked runners that no event has been handed to yet.
    pub(super) idle: usize,
    pub(super) closing: bool,
    /// [`Hold`](super::slot::Hold)s alive: the drain waits for them (they are not events, and
    /// do not count against the capacity).
    pub(super) holds: usize,
    /// The drain deadline passed (or the runtime went away): what is left is reported, not run.
    pub(super) abandoned: bool,
    /// The dispatcher's gauges, registered when the dispatcher was built.
    pub(super) metrics: crate::telemetry::DispatcherMetrics,
}

impl<E> State<E> {
    /// Accepted events not running: reserved, queued, or waiting for a retry.
    pub(super) fn queued(&self) -> usize {
        self.reserved + self.queue.len() + self.delayed.len()
    }

    /// Sets the dispatcher's gauges from the counts.
    pub(super) fn gauges(&self) {
        self.metrics.gauges(
            self.reserved + self.queue.len(),
            self.delayed.len(),
            self.running,
        );
    }
}

impl<E> Shared<E> {
    /// The state; a poisoned lock is taken as is (no code panics while holding it).
    pub(super) fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Signals the drain if shutting down and nothing is left to run.
    pub(super) fn check_drained(&self, state: &State<E>) {
        if state.closing && state.running == 0 && state.queued() == 0 && state.holds == 0 {
            self.drained.cancel();
        }
    }
}

impl<E: Event> Shared<E> {
    /// Puts a failed handler's job in the timer queue, to run after `delay` (at most
    /// [`MAX_WAIT`]).
    pub(super) fn delay(&self, job: Job<E>, delay: Duration) {
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
    pub(super) fn abandon(&self, mut job: Job<E>, reason: DeadLetterReason) {
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
    pub(super) fn abandon_all(&self, reason: DeadLetterReason) -> (usize, usize) {
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
}
