//! The `Retry-After` of a 503 for a full queue: [`RetryAfter`] (fixed, or adaptive to the
//! backlog) and the estimate behind the adaptive one, described in the
//! [`dispatch` module docs](crate::dispatch#retry-after).
//!
//! The estimate is made of pure functions (`estimate`, `spread`, `fold`) over what
//! `Backlog` measures, so that it is tested without a clock.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use webhook_receiver::chirp;
//! use webhook_receiver::dispatch::RetryAfter;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // Adaptive (the default), at most 2 minutes.
//! let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
//!     .retry_after(RetryAfter::adaptive(Duration::from_secs(120)))
//!     .spawn();
//! # webhooks.drain(Duration::from_secs(1)).await.unwrap();
//! // Always the same value: a `Duration` is a fixed `RetryAfter`.
//! let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
//!     .retry_after(Duration::from_secs(30))
//!     .spawn();
//! # webhooks.drain(Duration::from_secs(1)).await.unwrap();
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The `Retry-After` of a 503 that is not about the queue (shutting down, dedup store or
/// durable inbox failing), and of every 503 with [`RetryAfter::fixed`] left at its old default:
/// 5 seconds.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::dispatch::DEFAULT_RETRY_AFTER;
///
/// assert_eq!(DEFAULT_RETRY_AFTER, Duration::from_secs(5));
/// ```
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The default upper bound of the adaptive `Retry-After`: 60 seconds.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::dispatch::{DEFAULT_RETRY_AFTER_MAX, RetryAfter};
///
/// assert_eq!(DEFAULT_RETRY_AFTER_MAX, Duration::from_secs(60));
/// assert_eq!(RetryAfter::default(), RetryAfter::adaptive(DEFAULT_RETRY_AFTER_MAX));
/// ```
pub const DEFAULT_RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// Weight of a new job's run time in the moving average.
const ALPHA: f64 = 1.0 / 64.0;

/// How the receiver chooses the `Retry-After` of its 503s: adaptive to the backlog (the
/// default), or fixed.
///
/// The header is sent in whole seconds, at least 1. A [`Duration`] converts into a fixed
/// `RetryAfter`, so `.retry_after(Duration::from_secs(30))` keeps working. See the
/// [module docs](crate::dispatch#retry-after) for how the adaptive value is computed.
///
/// ```
/// use std::time::Duration;
/// use http::StatusCode;
/// use tower::ServiceExt;
/// use webhook_receiver::chirp;
/// use webhook_receiver::dispatch::RetryAfter;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
/// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// assert_eq!(RetryAfter::from(Duration::from_secs(30)), RetryAfter::fixed(Duration::from_secs(30)));
/// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
///     .retry_after(RetryAfter::adaptive(Duration::from_secs(300)))
///     .spawn();
/// webhooks.drain(Duration::from_secs(5)).await.unwrap(); // shutting down: no backlog to go by
/// let res = webhooks.clone().oneshot(post(delivered)).await.unwrap();
/// assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(res.headers()["retry-after"], "5"); // DEFAULT_RETRY_AFTER
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(Kind);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fixed(Duration),
    Adaptive { max: Duration },
}

impl RetryAfter {
    /// Always `retry_after` (rounded down to whole seconds, at least 1), whatever the backlog.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::dispatch::RetryAfter;
    ///
    /// let fixed = RetryAfter::fixed(Duration::from_secs(5));
    /// assert_eq!(fixed.max(), Duration::from_secs(5));
    /// ```
    pub const fn fixed(retry_after: Duration) -> Self {
        Self(Kind::Fixed(retry_after))
    }

    /// Computed from the backlog for every 503 that refuses a full queue, with `max` as its upper
    /// bound (at least 1 s): see the [module docs](crate::dispatch#retry-after). Other 503s get
    /// [`DEFAULT_RETRY_AFTER`] (at most `max`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::dispatch::RetryAfter;
    ///
    /// let adaptive = RetryAfter::adaptive(Duration::from_secs(120));
    /// assert_eq!(adaptive.max(), Duration::from_secs(120));
    /// assert!(adaptive.is_adaptive());
    /// ```
    pub const fn adaptive(max: Duration) -> Self {
        Self(Kind::Adaptive { max })
    }

    /// Whether the value is computed from the backlog.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::dispatch::RetryAfter;
    ///
    /// assert!(RetryAfter::default().is_adaptive());
    /// assert!(!RetryAfter::fixed(Duration::from_secs(5)).is_adaptive());
    /// ```
    pub const fn is_adaptive(&self) -> bool {
        matches!(self.0, Kind::Adaptive { .. })
    }

    /// The longest `Retry-After` this sends: the fixed value, or the adaptive maximum.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::dispatch::RetryAfter;
    ///
    /// assert_eq!(RetryAfter::default().max(), Duration::from_secs(60));
    /// ```
    pub const fn max(&self) -> Duration {
        match self.0 {
            Kind::Fixed(d) | Kind::Adaptive { max: d } => d,
        }
    }

    /// The value for a 503 refusing a full queue: the fixed value, or `adaptive(max)`.
    pub(crate) fn when_full(self, adaptive: impl FnOnce(Duration) -> Duration) -> Duration {
        match self.0 {
            Kind::Fixed(d) => d,
            Kind::Adaptive { max } => adaptive(max),
        }
    }

    /// The value for a 503 that is not about the queue: there is no backlog to go by.
    pub(crate) fn without_backlog(self) -> Duration {
        match self.0 {
            Kind::Fixed(d) => d,
            Kind::Adaptive { max } => DEFAULT_RETRY_AFTER.min(max),
        }
    }
}

impl Default for RetryAfter {
    /// Adaptive, at most [`DEFAULT_RETRY_AFTER_MAX`].
    fn default() -> Self {
        Self::adaptive(DEFAULT_RETRY_AFTER_MAX)
    }
}

impl From<Duration> for RetryAfter {
    /// [`RetryAfter::fixed`].
    fn from(retry_after: Duration) -> Self {
        Self::fixed(retry_after)
    }
}

// ===== the estimate =====

/// What the adaptive `Retry-After` is computed from: the jobs' moving-average run time, and the
/// senders told to come back that are not due yet. Shared by a dispatcher's runners (which
/// record each job's run time) and its receivers (which ask when refusing).
pub(crate) struct Backlog {
    /// The moving average of a job's run time, in seconds, as `f64` bits; NaN before the first.
    run_time: AtomicU64,
    deferred: Mutex<Deferred>,
    /// Time zero of `Deferred`'s whole seconds.
    epoch: Instant,
}

/// Senders answered 503 and told to come back, by the whole second they were given (from
/// `Backlog::epoch`).
#[derive(Default)]
struct Deferred {
    due: BTreeMap<u64, usize>,
    total: usize,
}

impl Deferred {
    /// Forgets the senders due at or before `now`.
    fn prune(&mut self, now: u64) {
        while let Some(entry) = self.due.first_entry() {
            if *entry.key() > now {
                break;
            }
            self.total -= entry.remove();
        }
    }

    fn add(&mut self, due: u64) {
        *self.due.entry(due).or_insert(0) += 1;
        self.total += 1;
    }
}

impl Backlog {
    pub(crate) fn new() -> Self {
        Self {
            run_time: AtomicU64::new(f64::NAN.to_bits()),
            deferred: Mutex::new(Deferred::default()),
            epoch: Instant::now(),
        }
    }

    /// Records that a job took `run_time` to run.
    pub(crate) fn job_done(&self, run_time: Duration) {
        let sample = run_time.as_secs_f64();
        // `fetch_update` retries on a concurrent update, so no sample is lost.
        let _ = self
            .run_time
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some(fold(mean(bits), sample).to_bits())
            });
    }

    /// The moving average of a job's run time in seconds, if a job has finished.
    fn run_time(&self) -> Option<f64> {
        mean(self.run_time.load(Ordering::Relaxed))
    }

    /// The adaptive `Retry-After` for a sender refused now, with `waiting` jobs accepted and not
    /// running, `limit` runners, and at most `max`; the sender is then counted as ahead of the
    /// next ones until its time has passed.
    pub(crate) fn retry_after(&self, waiting: usize, limit: usize, max: Duration) -> Duration {
        let now = self.epoch.elapsed().as_secs();
        let mut deferred = self.deferred.lock().unwrap_or_else(PoisonError::into_inner);
        deferred.prune(now);
        let est = estimate(waiting + deferred.total, limit, self.run_time());
        let retry_after = spread(est, fastrand::f64(), max);
        deferred.add(now + retry_after.as_secs());
        retry_after
    }

    /// Senders told to come back that are not due yet.
    #[cfg(test)]
    fn deferred(&self) -> usize {
        let now = self.epoch.elapsed().as_secs();
        let mut deferred = self.deferred.lock().unwrap_or_else(PoisonError::into_inner);
        deferred.prune(now);
        deferred.total
    }
}

/// The moving average stored as `bits`, if any.
fn mean(bits: u64) -> Option<f64> {
    let mean = f64::from_bits(bits);
    (!mean.is_nan()).then_some(mean)
}

/// The moving average after one more `sample`: the sample itself if it is the first.
fn fold(mean: Option<f64>, sample: f64) -> f64 {
    match mean {
        Some(mean) => mean + (sample - mean) * ALPHA,
        None => sample,
    }
}

/// Seconds until `ahead` jobs have run, `limit` at a time, each taking `run_time` seconds; `None`
/// if the run time is not known yet.
fn estimate(ahead: usize, limit: usize, run_time: Option<f64>) -> Option<f64> {
    run_time.map(|t| ahead as f64 * t / limit.max(1) as f64)
}

/// The answer for an estimate of `est` seconds: `est × (1 + u)` for `u` in `[0, 1)`, rounded up
/// to whole seconds, within 1 s and `max` (itself at least 1 s); `max` when there is no estimate.
fn spread(est: Option<f64>, u: f64, max: Duration) -> Duration {
    let max = max.as_secs().max(1);
    let secs = match est {
        // `as` saturates: an absurd estimate is `max`, as it should be.
        Some(est) => ((est * (1.0 + u)).ceil() as u64).clamp(1, max),
        None => max,
    };
    Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn estimate_is_the_backlog_over_the_drain_rate() {
        // 8 runners of 100 ms: 80 jobs/s; 256 ahead take 3.2 s.
        let est = estimate(256, 8, Some(0.1)).unwrap();
        assert!((est - 3.2).abs() < 1e-9, "{est}");
        assert_eq!(estimate(0, 8, Some(0.1)), Some(0.0));
        assert_eq!(estimate(10, 8, None), None, "no job finished: unknown");
        // A limit of 0 is taken as 1 (the builder raises it anyway).
        assert_eq!(estimate(3, 0, Some(2.0)), Some(6.0));
    }

    #[test]
    fn spread_draws_from_est_to_twice_est_in_whole_seconds() {
        assert_eq!(spread(Some(3.2), 0.0, MAX), Duration::from_secs(4));
        assert_eq!(spread(Some(3.2), 0.5, MAX), Duration::from_secs(5));
        assert_eq!(spread(Some(3.2), 0.999, MAX), Duration::from_secs(7));
        assert_eq!(spread(Some(10.0), 0.0, MAX), Duration::from_secs(10));
    }

    #[test]
    fn spread_is_clamped_to_one_second_and_max() {
        assert_eq!(spread(Some(0.0), 0.3, MAX), Duration::from_secs(1));
        assert_eq!(spread(Some(0.001), 0.9, MAX), Duration::from_secs(1));
        assert_eq!(spread(Some(45.0), 0.9, MAX), MAX);
        assert_eq!(spread(Some(f64::INFINITY), 0.0, MAX), MAX);
        assert_eq!(spread(None, 0.0, MAX), MAX, "unknown: the maximum");
        // A maximum below 1 s is 1 s.
        assert_eq!(
            spread(Some(5.0), 0.0, Duration::ZERO),
            Duration::from_secs(1)
        );
        assert_eq!(
            spread(Some(5.0), 0.0, Duration::from_millis(1500)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn moving_average_starts_at_the_first_sample_and_follows_slowly() {
        assert_eq!(fold(None, 0.25), 0.25);
        let mut avg = Some(0.1);
        for _ in 0..64 {
            avg = Some(fold(avg, 0.2));
        }
        // After 64 samples of the new value, 1 - (63/64)^64 ≈ 63% of the way.
        let m = avg.unwrap();
        assert!(m > 0.16 && m < 0.17, "{m}");
        assert_eq!(mean(f64::NAN.to_bits()), None);
        assert_eq!(mean(0.5f64.to_bits()), Some(0.5));
    }

    #[test]
    fn without_backlog_is_the_fixed_value_or_the_default_within_max() {
        let five = Duration::from_secs(5);
        assert_eq!(
            RetryAfter::fixed(Duration::from_secs(7)).without_backlog(),
            Duration::from_secs(7)
        );
        assert_eq!(RetryAfter::default().without_backlog(), five);
        assert_eq!(
            RetryAfter::adaptive(Duration::from_secs(2)).without_backlog(),
            Duration::from_secs(2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn each_refused_sender_is_ahead_of_the_next_until_due() {
        let backlog = Backlog::new();
        // Before any job has finished: the maximum.
        assert_eq!(backlog.retry_after(10, 1, MAX), MAX);
        assert_eq!(backlog.deferred(), 1);
        tokio::time::advance(MAX + Duration::from_secs(1)).await;
        assert_eq!(backlog.deferred(), 0, "due: forgotten");

        // One runner, 1 s per job, 4 waiting: 4 s ahead for the first refused sender ...
        backlog.job_done(Duration::from_secs(1));
        let first = backlog.retry_after(4, 1, MAX).as_secs();
        assert!((4..=8).contains(&first), "{first}");
        // ... and 5 s (the first sender is ahead too) for the second.
        let second = backlog.retry_after(4, 1, MAX).as_secs();
        assert!((5..=10).contains(&second), "{second}");
        assert_eq!(backlog.deferred(), 2);
        tokio::time::advance(Duration::from_secs(first.max(second) + 1)).await;
        assert_eq!(backlog.deferred(), 0);
    }
}
