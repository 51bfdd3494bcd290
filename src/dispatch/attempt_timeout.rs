//! [`AttemptTimeout`]: a handler attempt bounded by its policy's attempt timeout, with the timer
//! armed only if the attempt waits.
//!
//! `tokio::time::timeout` builds its `Sleep` when it is called: a clock read, a clone of the
//! runtime's timer handle, and the entry's set-up and tear-down, about 700 instructions
//! (`benches/callgrind.sh`) for every attempt, though most handlers of a webhook (a log line, a
//! channel send, a queue push) finish on their first poll and never wait on the timer. Here the
//! handler is polled first; only if it returns `Pending` is the deadline set, measured from the
//! attempt's start, as before.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

pin_project! {
    /// `future`, or [`Elapsed`] once `timeout` has passed since `started`.
    pub(super) struct AttemptTimeout<F> {
        #[pin]
        future: F,
        started: Instant,
        timeout: Duration,
        #[pin]
        sleep: Option<Sleep>,
    }
}

/// The attempt's timeout passed.
#[derive(Debug)]
pub(super) struct Elapsed;

impl<F: Future> AttemptTimeout<F> {
    /// `future`, bounded by `timeout` from `started`.
    pub(super) fn new(future: F, started: Instant, timeout: Duration) -> Self {
        Self {
            future,
            started,
            timeout,
            sleep: None,
        }
    }
}

impl<F: Future> Future for AttemptTimeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if this.sleep.is_none() {
            // A deadline past the clock's range never comes: such a timeout is no timeout.
            let Some(deadline) = this.started.checked_add(*this.timeout) else {
                return Poll::Pending;
            };
            this.sleep.set(Some(tokio::time::sleep_until(deadline)));
        }
        match this.sleep.as_pin_mut() {
            Some(sleep) => sleep.poll(cx).map(|()| Err(Elapsed)),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_attempt_that_finishes_at_once_arms_no_timer() {
        let attempt = AttemptTimeout::new(async { 7 }, Instant::now(), Duration::from_secs(1));
        tokio::pin!(attempt);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(attempt.as_mut().poll(&mut cx), Poll::Ready(Ok(7))));
        assert!(attempt.sleep.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_that_waits_past_its_timeout_ends_elapsed() {
        let started = Instant::now();
        let slow = tokio::time::sleep(Duration::from_secs(5));
        let ended = AttemptTimeout::new(slow, started, Duration::from_secs(2)).await;
        assert!(ended.is_err());
        // Measured from the attempt's start.
        assert_eq!(Instant::now() - started, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_that_waits_less_than_its_timeout_ends_with_its_output() {
        let started = Instant::now();
        let quick = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            "done"
        };
        let ended = AttemptTimeout::new(quick, started, Duration::from_secs(2)).await;
        assert!(matches!(ended, Ok("done")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_past_the_clocks_range_never_elapses() {
        let quick = async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            1
        };
        let ended = AttemptTimeout::new(quick, Instant::now(), Duration::MAX).await;
        assert!(matches!(ended, Ok(1)));
    }
}
