//! The runners: tasks that run one job at a time (an event's first run, or one handler's
//! retry), at most the concurrency limit of them.
//!
//! An accepted event wakes a parked runner if there is one, else starts a new runner while
//! under the limit, else waits in the queue for the next runner to finish its job. A runner
//! whose queue is empty parks until the next event or the shutdown, or leaves if 64 runners are
//! parked already. So a steady stream of events costs no task spawn, and an idle dispatcher
//! keeps at most 64 parked tasks. A handler that failed and will be retried leaves its runner:
//! its job waits in the timer queue.
//!
//! A runner that panics outside the handlers' catch is replaced (see [`Runner`]); one dropped by
//! its runtime reports everything left.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use super::super::failure::{DeadLetterReason, HandlerFailure};
use super::super::handler::{Job, Target};
use super::super::registry::RouteOutcome;
use super::deadline::due_in;
use super::progress::record_progress;
use super::queue::Shared;
use crate::event::Event;

/// Parked runners kept at most; a runner that finds the queue empty while this many are parked
/// leaves, so that a burst under a high concurrency limit does not keep its tasks.
pub(super) const MAX_PARKED: usize = 64;

impl<E: Event> Shared<E> {
    /// Hands a job to a parked runner, or to a new one while under the limit, or queues it for
    /// the next runner to finish. `reserved`: the job had a reserved slot (a new event).
    pub(super) fn submit(self: &Arc<Self>, job: Job<E>, reserved: bool) {
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
    pub(super) fn spawn_runner(self: &Arc<Self>, job: Job<E>) {
        self.spawn_task(Some(job), None);
    }

    /// Starts a runner counted as running, with `job` to run or `panicked` to report first.
    pub(super) fn spawn_task(self: &Arc<Self>, job: Option<Job<E>>, panicked: Option<Job<E>>) {
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
    pub(super) fn report_panicked(&self, job: Job<E>) {
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

    /// The next job for a runner that finished one: the oldest queued job, else (parked) the
    /// next one submitted. `None` when the queue is empty and the dispatcher is closing or
    /// enough runners are parked already: the runner is then no longer counted and must return.
    /// `phase` tracks what the runner is counted as, for [`Runner`]'s drop.
    pub(super) async fn next_job(&self, phase: &mut Phase) -> Option<Job<E>> {
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
    // The job's clock reads: this one, and one at the end of each attempt.
    let started = Instant::now();
    shared.queue_wait.record(
        started
            .saturating_duration_since(job.ready_at)
            .as_secs_f64(),
    );
    let mut retries: Vec<(usize, Duration, HandlerFailure)> = Vec::new();
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
    let ended = if span.is_disabled() {
        shared.routes.run(job, started, outcome).await
    } else {
        shared
            .routes
            .run(job, started, outcome)
            .instrument(span)
            .await
    };
    shared
        .backlog
        .job_done(ended.saturating_duration_since(started));
    if let Some(p) = &job.meta.persisted {
        record_progress(&shared.routes, p, job.attempt, &done, &retries);
    }
    if let Some(finished) = slot.take() {
        schedule_retries(shared, finished, retries);
    }
}

/// Puts a retry job for each failed handler in the timer queue; the last one takes the event,
/// the others a clone.
fn schedule_retries<E: Event>(
    shared: &Shared<E>,
    job: Job<E>,
    retries: Vec<(usize, Duration, HandlerFailure)>,
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

/// What a runner is counted as, in [`State`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
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
pub(super) struct Runner<E: Event> {
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
