//! The claim protocol on Redis: `SET NX GET` of a pending value, then confirm or give back,
//! driven by a task of its own so that a dropped request cannot interrupt it.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Inner;
use crate::dedup::Claim;

/// The first byte of a pending value (`p` + this claim's 8-byte token).
const PENDING: u8 = b'p';
/// The value of a confirmed key.
const CONFIRMED: &[u8] = b"c";

/// Each of `KEYS` becomes confirmed (`ARGV[1]`, with a TTL of `ARGV[2]` ms) only if it still
/// holds its claim's pending value (`ARGV[2 + i]` for `KEYS[i]`). Returns how many did.
const CONFIRM: &str = "local n = 0 \
    for i, key in ipairs(KEYS) do \
      if redis.call('GET', key) == ARGV[2 + i] then \
        redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) n = n + 1 \
      end \
    end \
    return n";

/// The most claims confirmed by one script call.
const CONFIRM_BATCH: usize = 256;

/// Deletes `KEYS[1]` only if it still holds `ARGV[1]` (this claim's pending value).
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('DEL', KEYS[1]) else return 0 end";

/// Pause between two attempts to confirm while Redis fails.
const CONFIRM_RETRY: Duration = Duration::from_millis(100);

/// The give-back script, hashed once.
pub(super) struct Scripts {
    release: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            release: Script::new(RELEASE),
        }
    }
}

/// A claim observed `New` and queued: to be confirmed.
pub(super) struct Confirm {
    redis_key: Vec<u8>,
    pending: [u8; 9],
    /// When its pending value expires: no use confirming after that.
    deadline: Instant,
}

/// The confirmer: one task per store that confirms, in one script call, every claim waiting
/// (so that under load a confirmation costs a fraction of a round trip). A batch that fails is
/// retried while its claims' pending values have not expired.
pub(super) async fn confirmer(
    mut conn: redis::aio::ConnectionManager,
    ttl: Duration,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Confirm>,
) {
    let script = Script::new(CONFIRM);
    let mut batch: Vec<Confirm> = Vec::with_capacity(CONFIRM_BATCH);
    while rx.recv_many(&mut batch, CONFIRM_BATCH).await > 0 {
        loop {
            let mut invocation = script.prepare_invoke();
            invocation.arg(CONFIRMED).arg(millis(ttl));
            for claim in &batch {
                invocation.key(&claim.redis_key[..]).arg(&claim.pending[..]);
            }
            let done: redis::RedisResult<usize> = invocation.invoke_async(&mut conn).await;
            match done {
                Ok(n) if n == batch.len() => break,
                Ok(n) => {
                    tracing::error!(
                        expired = batch.len() - n,
                        "dedup claims expired before their confirmation (pending TTL too short?): a redelivery of their events may run again"
                    );
                    break;
                }
                Err(error) => {
                    let now = Instant::now();
                    batch.retain(|claim| claim.deadline > now + CONFIRM_RETRY);
                    if batch.is_empty() {
                        tracing::error!(%error, "could not confirm dedup claims: their keys expire at their pending TTL, and a redelivery after that may run again");
                        break;
                    }
                    tracing::warn!(%error, claims = batch.len(), "could not confirm dedup claims: retrying");
                    tokio::time::sleep(CONFIRM_RETRY).await;
                }
            }
        }
        batch.clear();
    }
}

/// Why a claim failed (wrapped in a [`StoreError`](crate::StoreError)).
#[derive(Debug, thiserror::Error)]
pub(super) enum ClaimFailed {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("no answer from Redis within {0:?}")]
    Timeout(Duration),
    #[error("the Redis claim task ended without an answer")]
    TaskGone,
    #[error(
        "the key holds a value that is not a claim of this store (another program writes under its prefix?)"
    )]
    UnknownValue,
}

/// Claims `redis_key`; see [`RedisStore`](super::RedisStore)'s docs for the protocol.
pub(super) async fn claim(inner: &Arc<Inner>, redis_key: Vec<u8>) -> Result<Claim, ClaimFailed> {
    let (answer_tx, answer_rx) = oneshot::channel();
    let (confirm_tx, confirm_rx) = oneshot::channel();
    tokio::spawn(drive(Arc::clone(inner), redis_key, answer_tx, confirm_rx));
    match tokio::time::timeout(inner.claim_timeout, answer_rx).await {
        Ok(Ok(Ok(claim))) => {
            if claim == Claim::New {
                // In the same poll as the answer, with no await before the receiver queues the
                // event: the confirmation is sent exactly when the event will be queued.
                let _ = confirm_tx.send(());
            }
            Ok(claim)
        }
        Ok(Ok(Err(error))) => Err(error),
        Ok(Err(_)) => Err(ClaimFailed::TaskGone),
        // The answer (and the confirmation channel) are dropped: a late `New` is given back.
        Err(_) => Err(ClaimFailed::Timeout(inner.claim_timeout)),
    }
}

/// The claim's own task: claims, answers, then confirms or gives back.
async fn drive(
    inner: Arc<Inner>,
    redis_key: Vec<u8>,
    answer: oneshot::Sender<Result<Claim, ClaimFailed>>,
    confirmed: oneshot::Receiver<()>,
) {
    let mut pending = [PENDING; 9];
    pending[1..].copy_from_slice(&fastrand::u64(..).to_le_bytes());
    let started = Instant::now();
    let mut conn = inner.conn.clone();
    let set: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("SET")
        .arg(&redis_key)
        .arg(&pending[..])
        .arg("NX")
        .arg("PX")
        .arg(millis(inner.pending_ttl))
        .arg("GET")
        .query_async(&mut conn)
        .await;
    let claim = match set {
        Ok(None) => Claim::New,
        Ok(Some(old)) if old.first() == Some(&PENDING) => Claim::InFlight,
        Ok(Some(old)) if old == CONFIRMED => Claim::Duplicate,
        Ok(Some(_)) => {
            let _ = answer.send(Err(ClaimFailed::UnknownValue));
            return;
        }
        Err(error) => {
            let _ = answer.send(Err(error.into()));
            // The error may have come after the server applied the SET (a response timeout, a
            // connection lost mid-reply): give the key back if it is ours.
            release(&inner, &mut conn, &redis_key, &pending).await;
            return;
        }
    };
    if answer.send(Ok(claim)).is_err() {
        // Nobody observed the answer (the request is gone, or timed out).
        if claim == Claim::New {
            release(&inner, &mut conn, &redis_key, &pending).await;
        }
        return;
    }
    if claim != Claim::New {
        return;
    }
    match confirmed.await {
        Ok(()) => {
            let confirm = Confirm {
                redis_key,
                pending,
                deadline: started + inner.pending_ttl,
            };
            if inner.confirms.send(confirm).is_err() {
                tracing::error!("the dedup confirmer is gone: a claim stays pending until its TTL");
            }
        }
        // Observed but dropped before the confirmation: the event was not queued.
        Err(_) => release(&inner, &mut conn, &redis_key, &pending).await,
    }
}

/// Deletes the key if it still holds this claim's pending value.
async fn release(
    inner: &Inner,
    conn: &mut redis::aio::ConnectionManager,
    redis_key: &[u8],
    pending: &[u8],
) {
    let released: redis::RedisResult<i64> = inner
        .scripts
        .release
        .key(redis_key)
        .arg(pending)
        .invoke_async(conn)
        .await;
    if let Err(error) = released {
        tracing::warn!(%error, "a dedup claim whose event was not queued could not be given back: redeliveries are answered 503 until its pending TTL");
    }
}

/// A TTL in whole milliseconds, at least 1 (`PX 0` is an error).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}
