//! The retry policy of a handler: how many attempts, how long each may take, how long to wait
//! between them.

use std::time::Duration;

/// How a failed handler is retried: at most [`max_attempts`](Self::max_attempts) attempts, each
/// cut off after [`attempt_timeout`](Self::attempt_timeout), with an exponential backoff between
/// them (doubling from [`initial_backoff`](Self::initial_backoff) up to
/// [`max_backoff`](Self::max_backoff)) and jitter.
///
/// An attempt fails when the handler returns an error, panics, or runs past the timeout (its
/// future is then dropped). Only the handler that failed is retried, not the other handlers of
/// the same event. A waiting retry holds no runner and no concurrency slot: it sits in the
/// dispatcher's timer queue, and counts against the queue capacity, so a storm of failing
/// handlers makes the receiver answer 503 rather than grow without bound. After the last attempt
/// the event goes to the dead-letter hook.
///
/// The default: 5 attempts, 30 s per attempt, backoff 1 s, 2 s, 4 s, 8 s (each between half and
/// all of that, at random), capped at 5 minutes.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::dispatch::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(3)
///     .initial_backoff(Duration::from_millis(200))
///     .attempt_timeout(Duration::from_secs(5));
/// assert_eq!(policy.get_max_attempts(), 3);
/// // The wait after the first failure is between 100 and 200 ms, after the second 200 to 400 ms.
/// let wait = policy.backoff(1);
/// assert!(wait >= Duration::from_millis(100) && wait <= Duration::from_millis(200));
/// assert!(policy.without_jitter().backoff(2) == Duration::from_millis(400));
/// // No retry at all:
/// assert_eq!(RetryPolicy::never().get_max_attempts(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct RetryPolicy {
    max_attempts: u32,
    attempt_timeout: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
    jitter: bool,
}

/// The default number of attempts of a handler: 5.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// The default time limit of one handler attempt: 30 s.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retry (with the default attempt timeout).
    pub fn never() -> Self {
        Self::default().max_attempts(1)
    }

    /// Attempts in all, the first one included (default 5). Values below 1 are raised to 1.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// How long one attempt may run before it counts as failed and its future is dropped
    /// (default 30 s). Zero is raised to 1 ms.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The wait after the first failed attempt (default 1 s); it doubles after each failure.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest wait between two attempts (default 5 minutes).
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Waits exactly the backoff, without the random part. Jitter (on by default) spreads the
    /// retries of events that failed together, e.g. when a database came back.
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// Attempts in all.
    pub fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The time limit of one attempt.
    pub fn get_attempt_timeout(&self) -> Duration {
        self.attempt_timeout
    }

    /// The wait after attempt `failed` (1 for the first) failed: `initial_backoff` ×
    /// 2^(failed − 1), capped at `max_backoff`; with jitter, a uniformly random duration between
    /// half of that and all of it ("equal jitter": never less than half the backoff).
    pub fn backoff(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(31);
        let full = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        if !self.jitter || full.is_zero() {
            return full;
        }
        let half = full / 2;
        let nanos = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}
