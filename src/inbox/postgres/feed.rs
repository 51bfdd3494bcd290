//! The consumer: claims events with a lease, as many as the receiver has room for, woken by
//! `LISTEN/NOTIFY` and polling as a fallback; the heartbeat that extends the leases of held
//! events and prunes expired dedup keys.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use sqlx::Row;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::entry::PgEntry;
use super::{Inner, Shared, schema};
use crate::dedup::DedupKey;
use crate::inbox::error::InboxError;
use crate::inbox::record;
use crate::store::{Pending, RouteState, StoredId, StoredRequest};

/// The most dedup keys one prune statement deletes.
const PRUNE_BATCH: i64 = 10_000;

/// Starts the consumer (and its listener); it stops when the receiver drops the feed.
pub(super) fn spawn(inner: &Arc<Inner>) -> mpsc::Receiver<Pending> {
    let capacity = inner.shared.claim_batch;
    let (tx, rx) = mpsc::channel(capacity);
    let stop = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    let closed = tx.clone();
    let cancel = stop.clone();
    tokio::spawn(async move {
        closed.closed().await;
        cancel.cancel();
    });
    tokio::spawn(listen(
        Arc::clone(&inner.shared),
        Arc::clone(&wake),
        stop.clone(),
    ));
    tokio::spawn(consume(Arc::clone(inner), tx, wake, stop));
    rx
}

/// Wakes the consumer on every notification of the schema's channel. The listener's own
/// connection reconnects after an error (notifications sent meanwhile are lost: the consumer's
/// polling finds their events).
async fn listen(shared: Arc<Shared>, wake: Arc<Notify>, stop: CancellationToken) {
    let channel = schema::channel(&shared.schema);
    let mut listener: Option<PgListener> = None;
    loop {
        let Some(current) = listener.as_mut() else {
            let connected = tokio::select! {
                connected = async {
                    let mut l = PgListener::connect_with(&shared.pool).await?;
                    l.listen(&channel).await?;
                    Ok::<_, sqlx::Error>(l)
                } => connected,
                () = stop.cancelled() => return,
            };
            match connected {
                Ok(l) => {
                    listener = Some(l);
                    // Whatever was notified while not listening.
                    wake.notify_one();
                }
                Err(error) => {
                    tracing::warn!(%error, "Postgres inbox: LISTEN failed; polling meanwhile, trying again in 1 s");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = stop.cancelled() => return,
                    }
                }
            }
            continue;
        };
        let got = tokio::select! {
            got = current.try_recv() => got,
            () = stop.cancelled() => return,
        };
        match got {
            Ok(Some(_)) => wake.notify_one(),
            // The connection was lost; the next call reconnects (and listens again).
            Ok(None) => wake.notify_one(),
            Err(error) => {
                tracing::warn!(%error, "Postgres inbox: the LISTEN connection failed; reconnecting in 1 s");
                listener = None;
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }
}

/// Claims events when the receiver has room: at least one slot of the feed reserved first,
/// then as many as are free (at most the claim batch), so that this replica holds only what it
/// keeps fresh and leaves the rest to the others.
async fn consume(
    inner: Arc<Inner>,
    tx: mpsc::Sender<Pending>,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    let shared = Arc::clone(&inner.shared);
    let lease_ms = i64::try_from(shared.lease.as_millis()).unwrap_or(i64::MAX);
    loop {
        let permit = tokio::select! {
            permit = tx.reserve() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            () = stop.cancelled() => return,
        };
        let room = (1 + tx.capacity()).min(shared.claim_batch);
        let claimed = claim(&inner, lease_ms, room).await;
        match claimed {
            Ok(mut events) if !events.is_empty() => {
                let first = events.remove(0);
                permit.send(first);
                for pending in events {
                    // Room was counted before the claim and this task is the only sender, so
                    // this does not wait. Closed: the receiver is gone (the events' leases are
                    // given back as their entries drop).
                    if tx.send(pending).await.is_err() {
                        return;
                    }
                }
            }
            Ok(_) => {
                drop(permit);
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(shared.poll_interval) => {}
                    () = stop.cancelled() => return,
                }
            }
            Err(error) => {
                drop(permit);
                tracing::warn!(%error, "Postgres inbox: claiming events failed; trying again in 1 s");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }
}

/// Claims at most `n` events whose lease is free or expired, with their handlers' progress.
async fn claim(inner: &Arc<Inner>, lease_ms: i64, n: usize) -> Result<Vec<Pending>, InboxError> {
    let shared = &inner.shared;
    let rows = sqlx::query(&shared.sql.claim)
        .bind(&shared.owner)
        .bind(lease_ms)
        .bind(i64::try_from(n).unwrap_or(1))
        .fetch_all(&shared.pool)
        .await
        .map_err(InboxError::storage)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut events = Vec::with_capacity(rows.len());
    let mut again = Vec::new();
    for row in rows {
        let id: i64 = row.try_get(0).map_err(InboxError::storage)?;
        inner.held().insert(id);
        let leases: i32 = row.try_get(5).map_err(InboxError::storage)?;
        if leases > 1 {
            again.push(id);
        }
        events.push((id, row, leases > 1));
    }
    let mut routes: HashMap<i64, Vec<RouteState>> = HashMap::new();
    if !again.is_empty() {
        let rows = sqlx::query(&shared.sql.routes)
            .bind(&again)
            .fetch_all(&shared.pool)
            .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) => {
                // Released: claimed again at the next poll, with their progress.
                for (id, _, _) in &events {
                    inner.held().remove(id);
                    inner.book(super::entry::Book::Release { id: *id });
                }
                return Err(InboxError::storage(error));
            }
        };
        for row in rows {
            let id: i64 = row.try_get(0).map_err(InboxError::storage)?;
            let route: i32 = row.try_get(1).map_err(InboxError::storage)?;
            let attempts: i32 = row.try_get(2).map_err(InboxError::storage)?;
            let next_ms: i64 = row.try_get(3).map_err(InboxError::storage)?;
            let done: bool = row.try_get(4).map_err(InboxError::storage)?;
            let state = record::route_from_row(
                StoredId::new(id as u64),
                super::route_from_db(route),
                (
                    u32::try_from(attempts).unwrap_or_default(),
                    u64::try_from(next_ms).unwrap_or_default(),
                    done,
                ),
            )?;
            routes.entry(id).or_default().push(state);
        }
    }
    let mut out = Vec::with_capacity(events.len());
    for (id, row, replayed) in events {
        match read_event(id, &row) {
            Ok(mut event) => {
                event.routes = routes.remove(&id).unwrap_or_default();
                // An operator's replay of dead letters: only the routes it listed run.
                event.listed_only = row.try_get(6).unwrap_or(false);
                let entry = Box::new(PgEntry::new(Arc::clone(inner), id));
                if replayed {
                    tracing::warn!(event = id, owner = %shared.owner, "Postgres inbox: taking over an event whose lease expired or was given back (its replica stopped, stalled or drained)");
                    out.push(Pending::replay(event, entry));
                } else {
                    out.push(Pending::first_run(event, entry));
                }
            }
            Err(what) => {
                tracing::error!(
                    event = id,
                    what,
                    "a Postgres inbox row cannot be read: dead-lettered"
                );
                inner.held().remove(&id);
                inner.undecodable(id, what);
            }
        }
    }
    Ok(out)
}

fn read_event(id: i64, row: &sqlx::postgres::PgRow) -> Result<StoredRequest, &'static str> {
    let key: Vec<u8> = row.try_get(1).map_err(|_| "unreadable key")?;
    let key: [u8; 16] = key.try_into().map_err(|_| "the key is not 16 bytes")?;
    let body: Vec<u8> = row.try_get(2).map_err(|_| "unreadable body")?;
    let headers: Vec<u8> = row.try_get(3).map_err(|_| "unreadable headers")?;
    let headers = super::accept::decode_headers(&headers).ok_or("malformed headers")?;
    let received_ms: i64 = row.try_get(4).map_err(|_| "unreadable receive time")?;
    let received_at = record::from_millis(u64::try_from(received_ms).unwrap_or_default())
        .ok_or("receive time out of range")?;
    Ok(StoredRequest::new(
        StoredId::new(u64::try_from(id).unwrap_or_default()),
        DedupKey::from_bytes(key),
        Bytes::from(body),
        headers,
        received_at,
    ))
}

/// Extends the leases of the events this replica holds every third of the lease, and stops
/// holding those it lost (completed, or claimed by another replica after this one stalled);
/// prunes expired dedup keys every prune interval. Ends when the inbox is dropped.
pub(super) async fn heartbeat(inner: Weak<Inner>) {
    let Some((period, prune_every)) = inner
        .upgrade()
        .map(|i| (i.shared.lease / 3, i.shared.prune_interval))
    else {
        return;
    };
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut next_prune = Instant::now();
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let shared = &inner.shared;
        let ids: Vec<i64> = inner.held().iter().copied().collect();
        if !ids.is_empty() {
            let lease_ms = i64::try_from(shared.lease.as_millis()).unwrap_or(i64::MAX);
            let kept: Result<Vec<i64>, sqlx::Error> = sqlx::query_scalar(&shared.sql.extend)
                .bind(&ids)
                .bind(&shared.owner)
                .bind(lease_ms)
                .fetch_all(&shared.pool)
                .await;
            match kept {
                Ok(kept) => {
                    let kept: std::collections::HashSet<i64> = kept.into_iter().collect();
                    let mut held = inner.held();
                    for id in ids.iter().filter(|id| !kept.contains(id)) {
                        if held.remove(id) {
                            tracing::debug!(
                                event = id,
                                "Postgres inbox: a held event is no longer this replica's (completed, or claimed by another after a stall)"
                            );
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, events = ids.len(), "Postgres inbox: extending leases failed: another replica may claim these events once their leases expire");
                }
            }
        }
        if Instant::now() >= next_prune {
            next_prune = Instant::now() + prune_every;
            if let Err(error) = prune(shared).await {
                tracing::warn!(%error, "Postgres inbox: pruning expired dedup keys failed; trying again later");
            }
        }
    }
}

/// Deletes expired dedup keys whose events are done, with their effect marks, in statements of
/// at most [`PRUNE_BATCH`] keys; returns how many.
pub(super) async fn prune(shared: &Shared) -> Result<u64, InboxError> {
    let mut total = 0u64;
    loop {
        let n: i64 = sqlx::query_scalar(&shared.sql.prune)
            .bind(PRUNE_BATCH)
            .fetch_one(&shared.pool)
            .await
            .map_err(InboxError::storage)?;
        total += u64::try_from(n).unwrap_or_default();
        if n < PRUNE_BATCH {
            return Ok(total);
        }
    }
}
