//! Progress: the [`Entry`] of an event this replica holds, and the task that writes what it
//! records, in batches (one transaction each), only for events the replica still holds.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};

use super::{Inner, Shared};
use crate::inbox::record;
use crate::store::{DeadLetterRecord, Entry};

/// Bookkeeping, applied in order by one task.
pub(super) enum Book {
    Attempt {
        id: i64,
        route: u32,
        attempts: u32,
        next_at: Option<SystemTime>,
        done: bool,
    },
    DeadLetter {
        id: i64,
        handler: String,
        route: Option<u32>,
        reason: &'static str,
        attempts: u32,
        error: String,
    },
    Complete {
        id: i64,
    },
    /// The event was left unfinished (a drain deadline, a dropped feed): its lease is given
    /// back so that another replica takes it now rather than when the lease expires.
    Release {
        id: i64,
    },
    Flush {
        reply: oneshot::Sender<()>,
    },
}

/// The most bookkeeping commands applied in one transaction.
const BOOK_BATCH: usize = 512;

/// Applies the bookkeeping in batches of what is waiting: route progress, dead letters,
/// completions and releases, in that order, in one transaction. A batch is tried three times;
/// one that still fails is logged: its events (or handlers) then run again (at least once).
pub(super) async fn bookkeeper(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Book>) {
    let mut batch = Vec::with_capacity(BOOK_BATCH);
    while rx.recv_many(&mut batch, BOOK_BATCH).await > 0 {
        let work = batch.iter().any(|b| !matches!(b, Book::Flush { .. }));
        for tries in (1..=3u64).take_while(|_| work) {
            match apply(&shared, &batch).await {
                Ok(()) => break,
                Err(error) if tries < 3 => {
                    tracing::warn!(%error, "Postgres inbox bookkeeping failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(error) => {
                    tracing::error!(%error, commands = batch.len(), "Postgres inbox bookkeeping failed: its events may run again");
                }
            }
        }
        for book in batch.drain(..) {
            if let Book::Flush { reply } = book {
                let _ = reply.send(());
            }
        }
    }
}

async fn apply(shared: &Shared, batch: &[Book]) -> Result<(), sqlx::Error> {
    // Events completed in this batch: their route progress is not written (their rows are
    // deleted in the same transaction).
    let completed: std::collections::HashSet<i64> = batch
        .iter()
        .filter_map(|b| match b {
            Book::Complete { id } => Some(*id),
            _ => None,
        })
        .collect();
    // The last state of each (event, route); a route done stays done.
    let mut routes: HashMap<(i64, u32), (u32, i64, bool)> = HashMap::new();
    let (mut done, mut released) = (Vec::new(), Vec::new());
    let mut letters = Vec::new();
    for book in batch {
        match book {
            Book::Attempt { id, .. } | Book::Release { id } if completed.contains(id) => {}
            Book::Attempt {
                id,
                route,
                attempts,
                next_at,
                done: route_done,
            } => {
                let next = i64::try_from(record::next_at_to_millis(*next_at)).unwrap_or(i64::MAX);
                let state = routes.entry((*id, *route)).or_insert((0, 0, false));
                if !state.2 {
                    *state = (*attempts, next, *route_done);
                }
            }
            Book::DeadLetter { .. } => letters.push(book),
            Book::Complete { id } => done.push(*id),
            Book::Release { id } => released.push(*id),
            Book::Flush { .. } => {}
        }
    }
    let mut tx = shared.pool.begin().await?;
    // Bookkeeping need not wait for its WAL flush: what a server crash loses of it runs again
    // (at least once), and a transactional handler's own commit keeps its effect once.
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *tx)
        .await?;
    if !routes.is_empty() {
        let mut cols = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((id, route), (attempts, next, route_done)) in routes {
            cols.0.push(id);
            cols.1.push(super::route_to_db(route));
            cols.2.push(i32::try_from(attempts).unwrap_or(i32::MAX));
            cols.3.push(next);
            cols.4.push(route_done);
        }
        sqlx::query(&shared.sql.progress)
            .bind(cols.0)
            .bind(cols.1)
            .bind(cols.2)
            .bind(cols.3)
            .bind(cols.4)
            .bind(&shared.owner)
            .execute(&mut *tx)
            .await?;
    }
    for letter in letters {
        if let Book::DeadLetter {
            id,
            handler,
            route,
            reason,
            attempts,
            error,
        } = letter
        {
            sqlx::query(&shared.sql.dead_letter)
                .bind(id)
                .bind(&shared.owner)
                .bind(handler)
                .bind(*reason)
                .bind(i32::try_from(*attempts).unwrap_or(i32::MAX))
                .bind(error)
                .bind(route.map(super::route_to_db))
                .execute(&mut *tx)
                .await?;
        }
    }
    if !done.is_empty() {
        sqlx::query(&shared.sql.complete)
            .bind(&done)
            .bind(&shared.owner)
            .execute(&mut *tx)
            .await?;
    }
    if !released.is_empty() {
        sqlx::query(&shared.sql.release)
            .bind(&released)
            .bind(&shared.owner)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// One event held by this replica.
pub(super) struct PgEntry {
    pub(super) inner: Arc<Inner>,
    pub(super) id: i64,
    /// Set by [`Entry::complete`]: dropped after it, the lease is not given back.
    pub(super) completed: std::sync::atomic::AtomicBool,
}

impl PgEntry {
    pub(super) fn new(inner: Arc<Inner>, id: i64) -> Self {
        Self {
            inner,
            id,
            completed: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl fmt::Debug for PgEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgEntry").field("id", &self.id).finish()
    }
}

impl Drop for PgEntry {
    /// Its jobs are over: completed, or left at a drain deadline or with the feed. Either way
    /// this replica stops extending its lease; a left event's lease is given back.
    fn drop(&mut self) {
        self.inner.held().remove(&self.id);
        if !self.completed.load(std::sync::atomic::Ordering::Relaxed) {
            // Best effort: if the bookkeeper is gone, the lease expires instead.
            let _ = self.inner.book.send(Book::Release { id: self.id });
        }
    }
}

impl Entry for PgEntry {
    fn record_attempt(&self, route: u32, attempts: u32, next_at: Option<SystemTime>) {
        self.inner.book(Book::Attempt {
            id: self.id,
            route,
            attempts,
            next_at,
            done: false,
        });
    }

    fn complete_route(&self, route: u32) {
        self.inner.book(Book::Attempt {
            id: self.id,
            route,
            attempts: 0,
            next_at: None,
            done: true,
        });
    }

    fn complete(&self) {
        self.completed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.inner.book(Book::Complete { id: self.id });
    }

    fn dead_letter(&self, letter: &DeadLetterRecord<'_>) {
        self.inner.book(Book::DeadLetter {
            id: self.id,
            handler: letter.handler.unwrap_or_default().to_owned(),
            route: letter.route,
            reason: letter.reason,
            attempts: letter.attempts,
            error: letter.error.unwrap_or_default().to_owned(),
        });
    }

    fn undecodable(&self, error: &str) {
        self.inner.undecodable(self.id, error);
        self.completed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Inner {
    /// Moves an event that cannot be decoded to the dead letters, and out of `events`.
    pub(super) fn undecodable(&self, id: i64, error: &str) {
        self.book(Book::DeadLetter {
            id,
            handler: String::new(),
            route: None,
            reason: "undecodable",
            attempts: 0,
            error: error.to_owned(),
        });
        self.book(Book::Complete { id });
    }
}
