//! The backlog bound: accepts are refused (503) while `events` holds
//! [`max_backlog`](super::PostgresInboxBuilder::max_backlog) rows or more.
//!
//! Counting `events` for every accept batch would cost a scan of the backlog per batch, more the
//! fuller it gets: exactly when the database is already behind. Instead the committers keep an
//! estimate: the table's count, read again when it is older than [`REFRESH_NEAR`] while the
//! estimate is within a tenth of the bound, or older than [`REFRESH_FAR`] otherwise, plus the
//! events this replica stored since. Completions are not subtracted until the next count, so
//! between counts the estimate only errs upwards for this replica's own events; other replicas'
//! accepts are seen at the next count. The bound is therefore approximate: near it, all
//! replicas together may go past it by what they accept in [`REFRESH_NEAR`]; far from it, a
//! replica sees the others' accepts up to [`REFRESH_FAR`] late.
//!
//! Why not count every [`REFRESH_NEAR`] always: `events` is a queue table (every row inserted
//! once and deleted once), so between two vacuums a count scans every dead row too. Counting
//! four times a second took 12% of PostgreSQL's CPU under `benches/load.sh`'s load (perf,
//! `benches/README.md`); every 5 s it is a twentieth of that.

use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::Duration;

use tokio::time::Instant;

use super::Shared;

/// How old the count may get, once the estimate is within a tenth of the bound, before a
/// committer reads it again.
pub(super) const REFRESH_NEAR: Duration = Duration::from_millis(250);
/// How old the count may get while the estimate is further from the bound.
pub(super) const REFRESH_FAR: Duration = Duration::from_secs(5);

/// The committers' estimate of the backlog, against its bound.
pub(super) struct BacklogBound {
    /// 0: no bound.
    max: u64,
    state: Mutex<Estimate>,
}

#[derive(Clone, Copy)]
struct Estimate {
    rows: u64,
    counted_at: Option<Instant>,
}

/// What a committer may do with its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    /// Commit it.
    Yes,
    /// Refuse every accept of it: the backlog is at its bound.
    Full(u64),
}

impl BacklogBound {
    pub(super) const fn new(max: u64) -> Self {
        Self {
            max,
            state: Mutex::new(Estimate {
                rows: 0,
                counted_at: None,
            }),
        }
    }

    fn estimate(&self) -> Estimate {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a batch may commit; counts `events` first when the count is older than
    /// [`REFRESH_NEAR`] (the estimate within a tenth of the bound) or [`REFRESH_FAR`].
    ///
    /// # Errors
    ///
    /// The count's error (PostgreSQL unreachable): the batch would have failed too.
    pub(super) async fn admit(&self, shared: &Shared) -> Result<Admit, sqlx::Error> {
        if self.max == 0 {
            return Ok(Admit::Yes);
        }
        let now = Instant::now();
        let estimate = self.estimate();
        let near = estimate.rows >= self.max - self.max / 10;
        let refresh = if near { REFRESH_NEAR } else { REFRESH_FAR };
        let fresh = estimate
            .counted_at
            .is_some_and(|at| now.duration_since(at) < refresh);
        let rows = if fresh {
            estimate.rows
        } else {
            let counted: i64 = sqlx::query_scalar(&shared.sql.backlog)
                .fetch_one(&shared.pool)
                .await?;
            let rows = u64::try_from(counted).unwrap_or_default();
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            // Another committer may have counted meanwhile; the later count wins.
            if state.counted_at.is_none_or(|at| at <= now) {
                *state = Estimate {
                    rows,
                    counted_at: Some(now),
                };
            }
            state.rows
        };
        Ok(if rows >= self.max {
            Admit::Full(self.max)
        } else {
            Admit::Yes
        })
    }

    /// Adds the events a batch stored to the estimate.
    pub(super) fn stored(&self, events: usize) {
        if self.max == 0 || events == 0 {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.rows = state.rows.saturating_add(events as u64);
    }
}
