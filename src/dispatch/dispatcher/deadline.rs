//! When a waiting retry is due: the wait is capped, and the deadline is computed without
//! overflow, on the monotonic clock (the timer queue) and on the wall clock (a store's record).
//!
//! A [`RetryPolicy`](super::RetryPolicy)'s backoff is a `Duration` (up to `Duration::MAX`);
//! `Instant::now() + backoff` past the clock's range panics, and on a runner's path that panic
//! used to close the dispatcher.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The longest a retry waits: a year. A [`RetryPolicy`](super::super::RetryPolicy) may ask for more
/// (its backoff is a `Duration`, up to `Duration::MAX`), but a deadline that far is past the
/// clock's range, and `Instant::now() + delay` would panic on the runner's path.
pub(super) const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// When a retry that waits `wait` (at most [`MAX_WAIT`]) is due; never panics.
pub(super) fn due_in(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait.min(MAX_WAIT)).unwrap_or(now)
}

/// [`due_in`] on the wall clock, as recorded in a store.
pub(super) fn system_due_in(wait: Duration) -> SystemTime {
    let now = SystemTime::now();
    now.checked_add(wait.min(MAX_WAIT)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_past_the_clocks_range_is_due_at_the_longest_wait() {
        let before = Instant::now();
        let due = due_in(Duration::MAX);
        assert!(due >= before + MAX_WAIT && due <= Instant::now() + MAX_WAIT);
        let before = SystemTime::now();
        let due = system_due_in(Duration::MAX);
        assert!(due >= before + MAX_WAIT && due <= SystemTime::now() + MAX_WAIT);
        assert!(due_in(Duration::from_secs(1)) <= Instant::now() + Duration::from_secs(1));
    }
}
