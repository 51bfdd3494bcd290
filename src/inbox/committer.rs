//! The group-commit thread: the only writer of the inbox's database.
//!
//! It blocks for one command, then takes every command already waiting (up to `max_batch`),
//! applies them all in one write transaction and commits once. While one `fsync` runs, new
//! commands pile up in the channel and share the next commit, so the number of `fsync`s per
//! second stays bounded by the disk's latency while the events per `fsync` grow with the load.
//!
//! A batch is committed with [`Durability::Immediate`] (`fsync` before any reply) when it holds
//! an accept or a flush, and with [`Durability::None`] when it holds only bookkeeping (attempts,
//! completions): redb persists those with the next durable commit, and a crash before it loses
//! only that bookkeeping, which makes events run again (at-least-once), never lose them.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::SystemTime;

use redb::{Database, Durability, ReadableTable};
use tokio::sync::oneshot;

use super::error::InboxError;
use super::record::to_millis;
use super::schema::{self, ADMIN, DEAD, EVENTS, EXPIRY, KeyIndex, META, NEXT_EVENT_ID, ROUTES};
use crate::dedup::DedupKey;
use crate::store::{EventState, ReplayOutcome, StoredId};

/// The committer thread's name.
pub(crate) const THREAD_NAME: &str = "webhook-inbox-commit";

/// Expired keys purged at most per durable commit, so that purging never makes one commit slow.
const PURGE_PER_COMMIT: usize = 1024;

/// The outcome of an accept ([`DurableInbox::accept`](super::DurableInbox)).
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accept {
    /// The key was not remembered (or had expired): it is claimed and the event is stored, both
    /// durably. Dispatch it.
    New(StoredId),
    /// The key is remembered and unexpired: a redelivery. Nothing was written.
    Duplicate,
}

/// What the committer is asked to do.
pub(crate) enum Command {
    /// Claim `key` and store `record` (encoded by the caller), durably.
    Accept {
        key: DedupKey,
        record: Vec<u8>,
        reply: oneshot::Sender<Result<Accept, InboxError>>,
    },
    /// Record a handler attempt (not durable by itself).
    Attempt {
        id: StoredId,
        route: u32,
        attempts: u32,
        next_at_ms: u64,
    },
    /// Mark one handler of an event done (not durable by itself).
    CompleteRoute { id: StoredId, route: u32 },
    /// Delete an event and its route states, or, if a handler dead-lettered it, keep it as
    /// dead (not durable by itself).
    Complete { id: StoredId },
    /// Keep a dead letter of a handler (`route`; `u32::MAX`: no handler) of an event (not
    /// durable by itself).
    DeadLetter {
        id: StoredId,
        route: u32,
        letter: Vec<u8>,
    },
    /// An operator's replay of a dead event (durable): `None` if the event is not kept.
    Replay {
        id: StoredId,
        all: bool,
        reply: oneshot::Sender<Result<Option<ReplayOutcome>, InboxError>>,
    },
    /// An operator's deletion of an event (durable): whether it was kept.
    Delete {
        id: StoredId,
        reply: oneshot::Sender<Result<bool, InboxError>>,
    },
    /// Commit durably everything sent before, then answer.
    Flush {
        reply: oneshot::Sender<Result<(), InboxError>>,
    },
    /// Compact the database file (after committing what was sent before).
    Compact {
        reply: mpsc::SyncSender<Result<bool, InboxError>>,
    },
}

impl Command {
    /// Whether the command's caller waits for a durable commit (`fsync`).
    fn is_durable(&self) -> bool {
        matches!(
            self,
            Self::Accept { .. } | Self::Flush { .. } | Self::Replay { .. } | Self::Delete { .. }
        )
    }
}

/// What a command that is answered came to, in batch order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Accept(Accept),
    Replay(Option<ReplayOutcome>),
    Delete(bool),
}

/// The write side of the inbox, run on its own thread.
/// How long handler bookkeeping (attempts, completions) waits for a durable commit to share
/// before it is committed on its own (without fsync).
const BOOKKEEPING_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

/// Accepted events whose answer nobody observed (the request went away mid-commit): handed to
/// the inbox's feed, which runs them now. Without a feed they run at the next start.
#[derive(Debug)]
pub(crate) struct Orphans {
    tx: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<StoredId>>>,
    /// Orphans handed to the feed so far.
    handed: AtomicU64,
    /// Orphans the feed has forwarded (or found done) so far.
    forwarded: tokio::sync::watch::Sender<u64>,
}

impl Default for Orphans {
    fn default() -> Self {
        Self {
            tx: std::sync::Mutex::new(None),
            handed: AtomicU64::new(0),
            forwarded: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Orphans {
    /// Hands `id` to the feed, if one listens.
    pub(crate) fn hand_over(&self, id: StoredId) {
        let guard = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = guard.as_ref() {
            if tx.send(id).is_ok() {
                self.handed.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// From now on, orphans go to the returned receiver; the feed calls
    /// [`forwarded_one`](Self::forwarded_one) for each.
    pub(crate) fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<StoredId> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        *self.tx.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
        rx
    }

    /// The feed is done with one orphan (handed on, found done, or failed to read).
    pub(crate) fn forwarded_one(&self) {
        self.forwarded.send_modify(|n| *n += 1);
    }

    /// Resolves once every orphan handed over before the call has been forwarded by the feed
    /// (at once if no feed listens any more).
    pub(crate) async fn settled(&self) {
        let target = self.handed.load(Ordering::Acquire);
        let listening = self
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|tx| !tx.is_closed());
        if !listening {
            return;
        }
        let mut forwarded = self.forwarded.subscribe();
        // The feed forwards each one with a read of the file: bounded, but never waited for
        // forever (a feed whose receiver stopped reading leaves the rest for the next start).
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            forwarded.wait_for(|n| *n >= target),
        )
        .await;
    }
}

pub(crate) struct Committer {
    pub(crate) db: Arc<RwLock<Database>>,
    pub(crate) orphans: Arc<Orphans>,
    pub(crate) rx: Receiver<Command>,
    pub(crate) ttl_ms: u64,
    pub(crate) max_batch: usize,
    pub(crate) commits: Arc<AtomicU64>,
    /// The dedup keys, the committer's own (see [`KeyIndex`]).
    pub(crate) keys: KeyIndex,
}

impl Committer {
    /// Starts the thread. It runs until every sender is dropped and the queue is empty.
    pub(crate) fn spawn(self) -> io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || self.run())
    }

    /// Adds to `batch` every command already waiting, up to `max_batch`. A batch of bookkeeping
    /// alone (no accept, no flush) is not committed on its own: it waits, up to
    /// [`BOOKKEEPING_DELAY`], for the next durable command to ride with, so that handler
    /// completions cost no commit of their own under load.
    fn gather(
        &self,
        batch: &mut Vec<Command>,
        compact: &mut Option<mpsc::SyncSender<Result<bool, InboxError>>>,
        max_batch: usize,
    ) {
        let deadline = std::time::Instant::now() + BOOKKEEPING_DELAY;
        loop {
            while compact.is_none() && batch.len() < max_batch {
                match self.rx.try_recv() {
                    Ok(Command::Compact { reply }) => *compact = Some(reply),
                    Ok(cmd) => batch.push(cmd),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let durable = batch.iter().any(Command::is_durable);
            if durable || compact.is_some() || batch.len() >= max_batch || batch.is_empty() {
                return;
            }
            let Some(wait) = deadline.checked_duration_since(std::time::Instant::now()) else {
                return;
            };
            match self.rx.recv_timeout(wait) {
                Ok(Command::Compact { reply }) => *compact = Some(reply),
                Ok(cmd) => batch.push(cmd),
                Err(_) => return,
            }
        }
    }

    fn run(mut self) {
        let max_batch = self.max_batch.max(1);
        let mut batch = Vec::with_capacity(max_batch.min(4096));
        // Some bookkeeping is committed without fsync and not yet made durable.
        let mut volatile = false;
        // `recv` fails only once every sender is gone *and* the queue is empty, so nothing
        // queued is lost on close.
        while let Ok(first) = self.rx.recv() {
            let mut compact = None;
            match first {
                Command::Compact { reply } => compact = Some(reply),
                cmd => batch.push(cmd),
            }
            self.gather(&mut batch, &mut compact, max_batch);
            if !batch.is_empty() {
                let durable = batch.iter().any(Command::is_durable);
                let ok = self.commit(&mut batch, durable);
                volatile = if durable {
                    volatile && !ok
                } else {
                    volatile || ok
                };
            }
            if let Some(reply) = compact {
                let result = self.compact();
                volatile &= result.is_err();
                let _ = reply.send(result);
            }
        }
        if volatile {
            // Make the last bookkeeping durable before the database is closed.
            let (reply, _) = oneshot::channel();
            self.commit(&mut vec![Command::Flush { reply }], true);
        }
    }

    /// Applies and commits `batch` (emptying it), then answers its callers. Returns whether the
    /// commit succeeded.
    fn commit(&mut self, batch: &mut Vec<Command>, durable: bool) -> bool {
        let shared = Arc::clone(&self.db);
        let db = shared.read().unwrap_or_else(PoisonError::into_inner);
        let result = self.apply(&db, batch, durable);
        drop(db);
        let ok = result.is_ok();
        match result {
            Ok(outcomes) => {
                if durable {
                    self.commits.fetch_add(1, Ordering::Relaxed);
                }
                crate::telemetry::dedup_keys(self.keys.len() as u64);
                let mut outcomes = outcomes.into_iter();
                for cmd in batch.drain(..) {
                    match cmd {
                        // A dropped receiver (the caller gave up): the event is stored, and
                        // the feed runs it.
                        Command::Accept { reply, .. } => {
                            let outcome = match outcomes.next() {
                                Some(Outcome::Accept(accept)) => Ok(accept),
                                _ => Err(InboxError::Closed),
                            };
                            if let Err(Ok(Accept::New(id))) = reply.send(outcome) {
                                self.orphans.hand_over(id);
                            }
                        }
                        Command::Replay { id, reply, .. } => {
                            let outcome = match outcomes.next() {
                                Some(Outcome::Replay(replay)) => Ok(replay),
                                _ => Err(InboxError::Closed),
                            };
                            // A running receiver's feed runs it now; without one, the next
                            // start does.
                            if matches!(outcome, Ok(Some(ReplayOutcome::Replayed))) {
                                self.orphans.hand_over(id);
                            }
                            let _ = reply.send(outcome);
                        }
                        Command::Delete { reply, .. } => {
                            let _ = reply.send(match outcomes.next() {
                                Some(Outcome::Delete(deleted)) => Ok(deleted),
                                _ => Err(InboxError::Closed),
                            });
                        }
                        Command::Flush { reply } => {
                            let _ = reply.send(Ok(()));
                        }
                        _ => {}
                    }
                }
            }
            Err(err) => {
                tracing::error!(error = %err, commands = batch.len(), "durable inbox commit failed");
                for cmd in batch.drain(..) {
                    match cmd {
                        Command::Accept { reply, .. } => {
                            let _ = reply.send(Err(err.clone()));
                        }
                        Command::Flush { reply } => {
                            let _ = reply.send(Err(err.clone()));
                        }
                        Command::Replay { reply, .. } => {
                            let _ = reply.send(Err(err.clone()));
                        }
                        Command::Delete { reply, .. } => {
                            let _ = reply.send(Err(err.clone()));
                        }
                        _ => {}
                    }
                }
            }
        }
        ok
    }

    /// Applies `batch` in one write transaction and commits it. Returns the outcome of each
    /// accept, in order. On error nothing of the batch is applied.
    fn apply(
        &mut self,
        db: &Database,
        batch: &[Command],
        durable: bool,
    ) -> Result<Vec<Outcome>, InboxError> {
        // The keys this batch claims, with what they held before: put back if it fails.
        let mut undo = Vec::new();
        let result = self.apply_txn(db, batch, durable, &mut undo);
        if result.is_err() {
            for (key, before) in undo.into_iter().rev() {
                match before {
                    Some(expires) => self.keys.insert(key, expires),
                    None => self.keys.remove(&key),
                };
            }
        }
        result
    }

    fn apply_txn(
        &mut self,
        db: &Database,
        batch: &[Command],
        durable: bool,
        undo: &mut Vec<([u8; 16], Option<u64>)>,
    ) -> Result<Vec<Outcome>, InboxError> {
        let mut txn = db.begin_write().map_err(InboxError::storage)?;
        txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        })
        .map_err(InboxError::storage)?;
        let now_ms = to_millis(SystemTime::now());
        let outcomes = apply_commands(&txn, batch, now_ms, self.ttl_ms, &mut self.keys, undo)
            .map_err(InboxError::storage)?;
        if durable {
            schema::purge_expired(&txn, now_ms, PURGE_PER_COMMIT, &mut self.keys)
                .map_err(InboxError::storage)?;
        }
        txn.commit().map_err(InboxError::storage)?;
        Ok(outcomes)
    }

    fn compact(&self) -> Result<bool, InboxError> {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        db.compact().map_err(InboxError::storage)
    }
}

/// The effect of every command of a batch, in order, within `txn`.
fn apply_commands(
    txn: &redb::WriteTransaction,
    batch: &[Command],
    now_ms: u64,
    ttl_ms: u64,
    keys: &mut KeyIndex,
    undo: &mut Vec<([u8; 16], Option<u64>)>,
) -> Result<Vec<Outcome>, redb::Error> {
    let mut events = txn.open_table(EVENTS)?;
    let mut expiry = txn.open_table(EXPIRY)?;
    let mut routes = txn.open_table(ROUTES)?;
    let mut dead = txn.open_table(DEAD)?;
    let mut admin = txn.open_table(ADMIN)?;
    let mut meta = txn.open_table(META)?;
    let first_id = meta.get(NEXT_EVENT_ID)?.map_or(1, |v| v.value());
    let mut next_id = first_id;
    let mut outcomes = Vec::new();
    for cmd in batch {
        match cmd {
            Command::Accept { key, record, .. } => {
                let key = *key.as_bytes();
                let remembered = keys.get(&key).copied();
                if let Some(expires) = remembered {
                    if expires > now_ms {
                        outcomes.push(Outcome::Accept(Accept::Duplicate));
                        continue;
                    }
                    // Expired but not purged yet: claim it again.
                    expiry.remove((expires, key))?;
                }
                let expires = now_ms.saturating_add(ttl_ms);
                undo.push((key, keys.insert(key, expires)));
                expiry.insert((expires, key), ())?;
                events.insert(next_id, record.as_slice())?;
                outcomes.push(Outcome::Accept(Accept::New(StoredId::new(next_id))));
                next_id += 1;
            }
            Command::Attempt {
                id,
                route,
                attempts,
                next_at_ms,
            } => {
                if events.get(id.get())?.is_some() {
                    let row = (id.get(), *route);
                    let done = routes.get(row)?.is_some_and(|v| v.value().2);
                    routes.insert(row, (*attempts, *next_at_ms, done))?;
                }
            }
            Command::CompleteRoute { id, route } => {
                if events.get(id.get())?.is_some() {
                    let row = (id.get(), *route);
                    let attempts = routes.get(row)?.map_or(0, |v| v.value().0);
                    routes.insert(row, (attempts, 0, true))?;
                }
            }
            Command::Complete { id } => {
                let rows = (id.get(), 0)..=(id.get(), u32::MAX);
                if dead.range(rows.clone())?.next().is_some() {
                    // Dead-lettered by a handler: kept, as dead, for an operator.
                    if events.get(id.get())?.is_some() {
                        let (_, replays, last, _) =
                            admin.get(id.get())?.map_or((0, 0, 0, false), |v| v.value());
                        admin.insert(id.get(), (now_ms.max(1), replays, last, false))?;
                    }
                } else {
                    events.remove(id.get())?;
                    routes.retain_in(rows, |_, _| false)?;
                    admin.remove(id.get())?;
                }
            }
            Command::DeadLetter { id, route, letter } => {
                if events.get(id.get())?.is_some() {
                    dead.insert((id.get(), *route), letter.as_slice())?;
                }
            }
            Command::Replay { id, all, .. } => {
                let rows = (id.get(), 0)..=(id.get(), u32::MAX);
                if events.get(id.get())?.is_none() {
                    outcomes.push(Outcome::Replay(None));
                    continue;
                }
                let (dead_at, replays, _, _) =
                    admin.get(id.get())?.map_or((0, 0, 0, false), |v| v.value());
                if dead_at == 0 {
                    let mut state = EventState::Waiting;
                    for row in routes.range(rows.clone())? {
                        let (attempts, _, done) = row?.1.value();
                        if attempts > 0 && !done {
                            state = EventState::Retrying;
                        }
                    }
                    outcomes.push(Outcome::Replay(Some(ReplayOutcome::NotDead(state))));
                    continue;
                }
                let mut dead_routes = Vec::new();
                for row in dead.range(rows.clone())? {
                    dead_routes.push(row?.0.value().1);
                }
                // An event that had no handler runs every handler.
                let all = *all || dead_routes.contains(&u32::MAX);
                routes.retain_in(rows.clone(), |_, _| false)?;
                if !all {
                    for route in &dead_routes {
                        routes.insert((id.get(), *route), (0, 0, false))?;
                    }
                }
                dead.retain_in(rows, |_, _| false)?;
                admin.insert(
                    id.get(),
                    (0, replays.saturating_add(1), now_ms.max(1), !all),
                )?;
                outcomes.push(Outcome::Replay(Some(ReplayOutcome::Replayed)));
            }
            Command::Delete { id, .. } => {
                let rows = (id.get(), 0)..=(id.get(), u32::MAX);
                let existed = events.remove(id.get())?.is_some();
                routes.retain_in(rows.clone(), |_, _| false)?;
                dead.retain_in(rows, |_, _| false)?;
                admin.remove(id.get())?;
                outcomes.push(Outcome::Delete(existed));
            }
            Command::Flush { .. } | Command::Compact { .. } => {}
        }
    }
    if next_id != first_id {
        meta.insert(NEXT_EVENT_ID, next_id)?;
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(key: DedupKey) -> Command {
        let (reply, _) = oneshot::channel();
        Command::Accept {
            key,
            record: b"record".to_vec(),
            reply,
        }
    }

    #[test]
    fn same_key_twice_in_one_batch_is_new_then_duplicate() {
        let path = std::env::temp_dir().join(format!(
            "webhook-inbox-test-{}-batch.redb",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        schema::init(&txn).unwrap();
        let a = DedupKey::from_parts(&[b"a"]);
        let b = DedupKey::from_parts(&[b"b"]);
        let batch = [accept(a), accept(b), accept(a)];
        let mut keys = KeyIndex::new();
        let mut undo = Vec::new();
        let outcomes = apply_commands(&txn, &batch, 1_000, 60_000, &mut keys, &mut undo).unwrap();
        assert_eq!(
            outcomes,
            [
                Outcome::Accept(Accept::New(StoredId::new(1))),
                Outcome::Accept(Accept::New(StoredId::new(2))),
                Outcome::Accept(Accept::Duplicate)
            ]
        );
        // An expired key (expiry at or before now) is claimed again, replacing its index entry.
        let outcomes =
            apply_commands(&txn, &[accept(a)], 61_000, 60_000, &mut keys, &mut undo).unwrap();
        assert_eq!(undo.len(), 3, "every claim can be undone");
        assert_eq!(outcomes, [Outcome::Accept(Accept::New(StoredId::new(3)))]);
        let expiry = txn.open_table(EXPIRY).unwrap();
        let rows: Vec<_> = expiry
            .iter()
            .unwrap()
            .map(|r| r.unwrap().0.value())
            .collect();
        assert_eq!(rows, [(61_000, *b.as_bytes()), (121_000, *a.as_bytes())]);
        drop(expiry);
        txn.abort().unwrap();
        drop(db);
        let _ = std::fs::remove_file(&path);
    }
}
