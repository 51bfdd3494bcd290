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
///
/// ```
/// use webhook_receiver::dispatch::{DEFAULT_MAX_ATTEMPTS, RetryPolicy};
/// assert_eq!(RetryPolicy::default().get_max_attempts(), DEFAULT_MAX_ATTEMPTS);
/// ```
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// The default time limit of one handler attempt: 30 s.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::dispatch::{DEFAULT_ATTEMPT_TIMEOUT, RetryPolicy};
/// assert_eq!(DEFAULT_ATTEMPT_TIMEOUT, Duration::from_secs(30));
/// assert_eq!(RetryPolicy::default().get_attempt_timeout(), DEFAULT_ATTEMPT_TIMEOUT);
/// ```
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
    ///
    /// ```
    /// use webhook_receiver::dispatch::{DEFAULT_ATTEMPT_TIMEOUT, RetryPolicy};
    /// let policy = RetryPolicy::never();
    /// assert_eq!(policy.get_max_attempts(), 1);
    /// assert_eq!(policy.get_attempt_timeout(), DEFAULT_ATTEMPT_TIMEOUT);
    /// ```
    pub fn never() -> Self {
        Self::default().max_attempts(1)
    }

    /// Attempts in all, the first one included (default 5). Values below 1 are raised to 1.
    ///
    /// ```
    /// use webhook_receiver::dispatch::RetryPolicy;
    /// assert_eq!(RetryPolicy::default().max_attempts(10).get_max_attempts(), 10);
    /// assert_eq!(RetryPolicy::default().max_attempts(0).get_max_attempts(), 1);
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// How long one attempt may run before it counts as failed and its future is dropped
    /// (default 30 s). Zero is raised to 1 ms.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use webhook_receiver::chirp::ChirpEvent;
    /// use webhook_receiver::dispatch::{HandlerError, RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use webhook_receiver::Format;
    /// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
    /// let errors = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&errors);
    /// let policy = RetryPolicy::never().attempt_timeout(Duration::from_millis(20));
    /// let handlers = Handlers::<ChirpEvent>::new()
    ///     .retry_policy(policy)
    ///     .fallback(|_, _| std::future::pending::<()>()) // hangs
    ///     .on_error(move |err: &HandlerError| sink.lock().unwrap().push(err.failure.to_string()));
    /// # let dispatcher = Dispatcher::builder(handlers).spawn();
    /// # dispatcher.try_enqueue(event()).unwrap();
    /// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    /// assert_eq!(*errors.lock().unwrap(), ["timed out after 20ms"]);
    /// # }
    /// ```
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The wait after the first failed attempt (default 1 s); it doubles after each failure.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::dispatch::RetryPolicy;
    /// let policy = RetryPolicy::default().initial_backoff(Duration::from_millis(200)).without_jitter();
    /// assert_eq!(policy.backoff(1), Duration::from_millis(200));
    /// assert_eq!(policy.backoff(2), Duration::from_millis(400));
    /// ```
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest wait between two attempts (default 5 minutes).
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::dispatch::RetryPolicy;
    /// let policy = RetryPolicy::default().max_backoff(Duration::from_secs(5)).without_jitter();
    /// assert_eq!(policy.backoff(3), Duration::from_secs(4));
    /// assert_eq!(policy.backoff(4), Duration::from_secs(5)); // 8 s, capped
    /// ```
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Waits exactly the backoff, without the random part. Jitter (on by default) spreads the
    /// retries of events that failed together, e.g. when a database came back.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::dispatch::RetryPolicy;
    /// let jittered = RetryPolicy::default().backoff(1);
    /// assert!(jittered >= Duration::from_millis(500) && jittered <= Duration::from_secs(1));
    /// assert_eq!(RetryPolicy::default().without_jitter().backoff(1), Duration::from_secs(1));
    /// ```
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// Attempts in all.
    ///
    /// ```
    /// use webhook_receiver::dispatch::RetryPolicy;
    /// assert_eq!(RetryPolicy::default().get_max_attempts(), 5);
    /// assert_eq!(RetryPolicy::default().max_attempts(3).get_max_attempts(), 3);
    /// ```
    pub fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The time limit of one attempt.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::dispatch::RetryPolicy;
    /// let policy = RetryPolicy::default().attempt_timeout(Duration::from_secs(5));
    /// assert_eq!(policy.get_attempt_timeout(), Duration::from_secs(5));
    /// ```
    pub fn get_attempt_timeout(&self) -> Duration {
        self.attempt_timeout
    }

    /// The wait after attempt `failed` (1 for the first) failed: `initial_backoff` ×
    /// 2^(failed − 1), capped at `max_backoff`; with jitter, a uniformly random duration between
    /// half of that and all of it ("equal jitter": never less than half the backoff).
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::dispatch::RetryPolicy;
    /// let policy = RetryPolicy::default().without_jitter();
    /// let waits: Vec<u64> = (1..=4).map(|failed| policy.backoff(failed).as_secs()).collect();
    /// assert_eq!(waits, [1, 2, 4, 8]);
    /// assert_eq!(policy.backoff(20), Duration::from_secs(300)); // capped at `max_backoff`
    /// ```
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
