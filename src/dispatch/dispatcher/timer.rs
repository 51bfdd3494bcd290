//! The timer task: moves each waiting retry from the timer queue (in
//! [`queue`](super::queue)) to a runner when its backoff has passed, until the dispatcher is
//! drained; if its runtime drops it first, everything left is reported.

use std::sync::Arc;

use tokio::time::Instant;

use super::super::failure::DeadLetterReason;
use super::queue::Shared;
use crate::event::Event;

/// The timer queue's task: queues each waiting retry when it is due, until the dispatcher is
/// drained.
pub(super) async fn timer<E: Event>(mut guard: TimerGuard<E>) {
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
pub(super) struct TimerGuard<E: Event> {
    pub(super) shared: Arc<Shared<E>>,
    pub(super) finished: bool,
}

impl<E: Event> Drop for TimerGuard<E> {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.abandon_all(DeadLetterReason::RuntimeDropped);
        }
    }
}
