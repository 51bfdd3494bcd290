//! The timestamp window of the signature schemes that sign a timestamp (Standard Webhooks,
//! and the HMAC scheme with a timestamp: Stripe, Slack): how far from now a signed timestamp
//! may be, in either direction, and the clock "now" is read from.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Rejection;

/// A window around now, read from the system clock or an injected one.
#[derive(Clone)]
pub(crate) struct Tolerance {
    window: Duration,
    clock: Option<Arc<dyn Fn() -> SystemTime + Send + Sync>>,
}

impl Tolerance {
    pub(crate) const fn new(window: Duration) -> Self {
        Self {
            window,
            clock: None,
        }
    }

    pub(crate) fn with_window(self, window: Duration) -> Self {
        Self { window, ..self }
    }

    pub(crate) fn with_clock<F>(self, clock: F) -> Self
    where
        F: Fn() -> SystemTime + Send + Sync + 'static,
    {
        Self {
            clock: Some(Arc::new(clock)),
            ..self
        }
    }

    pub(crate) const fn window(&self) -> Duration {
        self.window
    }

    /// The current unix time, in seconds.
    pub(crate) fn now(&self) -> i64 {
        let now = self
            .clock
            .as_ref()
            .map_or_else(SystemTime::now, |clock| clock());
        match now.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
        }
    }

    /// Rejects a unix timestamp further than the window from now, either way (401).
    pub(crate) fn check(&self, ts: i64) -> Result<(), Rejection> {
        let now = self.now();
        let skew = now.abs_diff(ts);
        if skew <= self.window.as_secs() {
            return Ok(());
        }
        Err(Rejection::StaleTimestamp {
            skew: Duration::from_secs(skew),
            ahead: ts > now,
            tolerance: self.window,
        })
    }
}

impl fmt::Debug for Tolerance {
    /// `60s (system clock)`: the clock is not shown, only whether it is the system's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clock = if self.clock.is_some() {
            "custom clock"
        } else {
            "system clock"
        };
        write!(f, "{:?} ({clock})", self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_checked_in_both_directions() {
        let at = UNIX_EPOCH + Duration::from_secs(1_000);
        let window = Tolerance::new(Duration::from_secs(300)).with_clock(move || at);
        assert_eq!(window.now(), 1_000);
        assert!(window.check(700).is_ok() && window.check(1_300).is_ok());
        assert!(matches!(
            window.check(699),
            Err(Rejection::StaleTimestamp { ahead: false, .. })
        ));
        assert!(matches!(
            window.check(1_301),
            Err(Rejection::StaleTimestamp { ahead: true, .. })
        ));
        assert_eq!(format!("{window:?}"), "300s (custom clock)");
    }
}
