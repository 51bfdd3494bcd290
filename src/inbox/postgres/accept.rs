//! Accept with group commit: the accepts waiting when a committer is free share one statement
//! (the dedup claim and the stored event for the whole batch) and one commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::Shared;
use super::backlog::Admit;
use crate::inbox::error::InboxError;
use crate::inbox::record::to_millis;
use crate::store::{Incoming, StoreError};

/// Accepts waiting for a committer, at most: past it, accepts are refused at once (503).
const QUEUE: usize = 8192;

/// One accept waiting for its batch.
pub(super) struct Accept {
    key: [u8; 16],
    body: Bytes,
    headers: Vec<u8>,
    received_ms: i64,
    /// The receiver has a place for the event: store it leased to this replica.
    local: bool,
    reply: oneshot::Sender<Result<Outcome, Refused>>,
}

/// What became of one accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The key was remembered: nothing stored.
    Duplicate,
    /// Stored, for whichever replica claims it.
    Stored,
    /// Stored with this replica's lease: the row's id.
    Leased(i64),
}

/// Why a batch was not committed.
#[derive(Clone)]
enum Refused {
    /// The backlog is at its bound (the bound).
    Full(u64),
    /// PostgreSQL failed.
    Inbox(InboxError),
}

/// The kept headers in HTTP/1 form, `name: value\r\n` per header (a header value has no CR or
/// LF, so the lines are unambiguous; values may hold non-UTF-8 bytes, hence `bytea`).
pub(super) fn encode_headers(event: &Incoming<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in event.kept_headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Headers read back from [`encode_headers`]'s form; a line that is not a valid header is
/// `None` (the row was written by something else).
pub(super) fn decode_headers(bytes: &[u8]) -> Option<http::HeaderMap> {
    let mut headers = http::HeaderMap::new();
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let line = line.strip_suffix(b"\r")?;
        let at = line.windows(2).position(|w| w == b": ")?;
        let name = http::HeaderName::from_bytes(&line[..at]).ok()?;
        let value = http::HeaderValue::from_bytes(&line[at + 2..]).ok()?;
        headers.append(name, value);
    }
    Some(headers)
}

/// Queues `event` for the next batch and waits for its commit, at most `timeout`.
pub(super) async fn accept(
    accepts: &mpsc::Sender<Accept>,
    event: &Incoming<'_>,
    timeout: Duration,
) -> Result<Outcome, StoreError> {
    let (reply, rx) = oneshot::channel();
    let accept = Accept {
        key: *event.key().as_bytes(),
        body: event.body().clone(),
        headers: encode_headers(event),
        received_ms: i64::try_from(to_millis(event.received())).unwrap_or(i64::MAX),
        local: event.local_slot(),
        reply,
    };
    accepts.try_send(accept).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => StoreError::new(InboxError::storage(
            std::io::Error::other("the Postgres inbox's accept queue is full"),
        )),
        mpsc::error::TrySendError::Closed(_) => StoreError::from(InboxError::Closed),
    })?;
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(answer)) => answer.map_err(|refused| match refused {
            Refused::Full(max) => StoreError::backlog_full(max),
            Refused::Inbox(error) => StoreError::from(error),
        }),
        Ok(Err(_)) => Err(InboxError::Closed.into()),
        Err(_) => Err(StoreError::from(InboxError::storage(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no commit from PostgreSQL within {timeout:?}"),
        )))),
    }
}

/// Starts `committers` tasks that take what is waiting (at most `max_batch`) and commit it as
/// one statement. They end when the returned sender (and its clones) are dropped.
pub(super) fn spawn(
    shared: &Arc<Shared>,
    max_batch: usize,
    committers: usize,
) -> mpsc::Sender<Accept> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..committers {
        tokio::spawn(committer(Arc::clone(shared), Arc::clone(&rx), max_batch));
    }
    tx
}

async fn committer(shared: Arc<Shared>, rx: Arc<Mutex<mpsc::Receiver<Accept>>>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        let n = rx.lock().await.recv_many(&mut batch, max_batch).await;
        if n == 0 {
            return;
        }
        // A request that gave up (timed out, or its client went away) keeps nothing.
        batch.retain(|a| !a.reply.is_closed());
        if !batch.is_empty() {
            commit(&shared, &mut batch).await;
        }
        batch.clear();
    }
}

/// One statement for the batch; each accept is answered. A key twice in one batch is stored
/// once: the later ones are duplicates of the first. While the backlog is at its bound, the
/// whole batch is refused (duplicates too, as the Redis inbox does) and nothing is written.
async fn commit(shared: &Shared, batch: &mut Vec<Accept>) {
    match shared.backlog.admit(shared).await {
        Ok(Admit::Yes) => {}
        Ok(Admit::Full(max)) => {
            tracing::warn!(
                max_backlog = max,
                events = batch.len(),
                "Postgres inbox: the backlog is full (answered 503)"
            );
            for a in batch.drain(..) {
                let _ = a.reply.send(Err(Refused::Full(max)));
            }
            return;
        }
        Err(error) => {
            refuse(batch, error);
            return;
        }
    }
    let mut first: HashMap<[u8; 16], usize> = HashMap::with_capacity(batch.len());
    let (mut keys, mut bodies, mut headers, mut received, mut local) = (
        Vec::with_capacity(batch.len()),
        Vec::with_capacity(batch.len()),
        Vec::with_capacity(batch.len()),
        Vec::with_capacity(batch.len()),
        Vec::with_capacity(batch.len()),
    );
    for (i, a) in batch.iter().enumerate() {
        if first.insert(a.key, i).is_none() {
            keys.push(a.key.to_vec());
            bodies.push(a.body.to_vec());
            headers.push(a.headers.clone());
            received.push(a.received_ms);
            local.push(a.local);
        }
    }
    let ttl_ms = i64::try_from(shared.dedup_ttl.as_millis()).unwrap_or(i64::MAX);
    let lease_ms = i64::try_from(shared.lease.as_millis()).unwrap_or(i64::MAX);
    let stored: Result<Vec<(Vec<u8>, i64, bool)>, sqlx::Error> = sqlx::query_as(&shared.sql.accept)
        .bind(&keys)
        .bind(&bodies)
        .bind(&headers)
        .bind(&received)
        .bind(ttl_ms)
        .bind(&local)
        .bind(&shared.owner)
        .bind(lease_ms)
        .fetch_all(&shared.pool)
        .await;
    match stored {
        Ok(stored) => {
            shared.backlog.stored(stored.len());
            let stored: HashMap<Vec<u8>, Outcome> = stored
                .into_iter()
                .map(|(key, id, leased)| {
                    (
                        key,
                        if leased {
                            Outcome::Leased(id)
                        } else {
                            Outcome::Stored
                        },
                    )
                })
                .collect();
            let mut answered = std::collections::HashSet::new();
            let mut orphans = Vec::new();
            for a in batch.drain(..) {
                // Only the first accept of a stored key is new (and the first is the one
                // whose `local` the row took).
                let outcome = match stored.get(a.key.as_slice()) {
                    Some(outcome) if answered.insert(a.key) => *outcome,
                    _ => Outcome::Duplicate,
                };
                if let (Err(_), Outcome::Leased(id)) = (a.reply.send(Ok(outcome)), outcome) {
                    orphans.push(id);
                }
            }
            if !orphans.is_empty() {
                release(shared, &orphans).await;
            }
        }
        Err(error) => refuse(batch, error),
    }
}

/// Gives back the leases of events stored for requests that gave up while their batch committed
/// (timed out, or the client went away): any replica claims them at its next poll. If that
/// fails too, they are claimed once the lease expires.
async fn release(shared: &Shared, ids: &[i64]) {
    let released = sqlx::query(&shared.sql.release)
        .bind(ids)
        .bind(&shared.owner)
        .execute(&shared.pool)
        .await;
    if let Err(error) = released {
        tracing::warn!(%error, events = ids.len(), "Postgres inbox: giving back the leases of accepts given up on failed: they run once their lease expires");
    }
}

/// Answers every accept of a batch PostgreSQL failed (503).
fn refuse(batch: &mut Vec<Accept>, error: sqlx::Error) {
    tracing::warn!(%error, events = batch.len(), "Postgres inbox: an accept batch failed (answered 503)");
    let error = Refused::Inbox(InboxError::storage(error));
    for a in batch.drain(..) {
        let _ = a.reply.send(Err(error.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_without_credentials() {
        let body = Bytes::new();
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.append("x-multi", "a".parse().unwrap());
        headers.append("x-multi", "b: c".parse().unwrap());
        headers.insert(
            "x-latin1",
            http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        headers.insert("authorization", "Bearer s3cr3t".parse().unwrap());
        let event = Incoming::new(crate::DedupKey::from_parts(&[b"e"]), &body, &headers);
        let decoded = decode_headers(&encode_headers(&event)).unwrap();
        assert_eq!(decoded.len(), 4);
        assert_eq!(decoded.get_all("x-multi").iter().count(), 2);
        assert_eq!(decoded["x-latin1"].as_bytes(), b"caf\xe9");
        assert!(!decoded.contains_key("authorization"));
        assert!(decode_headers(b"no separator\r\n").is_none());
    }
}
