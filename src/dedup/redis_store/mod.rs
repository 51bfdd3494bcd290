//! [`RedisStore`]: dedup shared by every replica, on a Redis server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{Claim, DedupKey, MokaStore};
use crate::error::StoreError;
use crate::store::{Accepted, Incoming, Store};

mod builder;
mod claim;
mod connect;

pub use builder::RedisStoreBuilder;

/// Default key prefix: `webhook:dedup:`.
///
/// ```
/// use webhook_receiver::store::{DEFAULT_PREFIX, RedisStore};
/// assert_eq!(DEFAULT_PREFIX, "webhook:dedup:");
/// // Give each receiver sharing a Redis server its own.
/// let builder = RedisStore::builder("redis://127.0.0.1:6379").prefix("chirp:dedup:");
/// # let _ = builder;
/// ```
pub const DEFAULT_PREFIX: &str = "webhook:dedup:";

/// Default time limit of one claim, as the request sees it: 1 s.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::store::DEFAULT_CLAIM_TIMEOUT;
/// assert_eq!(DEFAULT_CLAIM_TIMEOUT, Duration::from_secs(1));
/// ```
pub const DEFAULT_CLAIM_TIMEOUT: Duration = Duration::from_secs(1);

/// Default time a claim stays pending (made, its event not yet confirmed queued) before Redis
/// forgets it: 30 s.
///
/// A live replica confirms within a round trip of its `New`, or gives the claim back at once;
/// this bound only matters for a replica that died in between (or lost Redis then). Until it
/// passes, redeliveries of that event are answered 503 ([`Claim::InFlight`]); after it, the next
/// one is [`Claim::New`]. It is well above the connection's response timeout (10× the claim
/// timeout, at least 5 s), so that a command answered late is still given back or confirmed
/// before its claim could expire.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::store::DEFAULT_PENDING_TTL;
/// assert_eq!(DEFAULT_PENDING_TTL, Duration::from_secs(30));
/// ```
pub const DEFAULT_PENDING_TTL: Duration = Duration::from_secs(30);

/// Counter: claims made in process memory because Redis failed
/// ([`fallback_to_memory`](RedisStoreBuilder::fallback_to_memory)).
///
/// ```
/// assert_eq!(webhook_receiver::store::FALLBACKS, "webhook_dedup_fallbacks_total");
/// ```
pub const FALLBACKS: &str = "webhook_dedup_fallbacks_total";

/// A dedup store on Redis, shared by every replica of a receiver: a redelivery that reaches
/// another replica is recognised there too. Needs **Redis 7.0 or later** (`SET` with both `NX`
/// and `GET`).
///
/// # Table of contents
///
/// - [Keys and values](#keys-and-values)
/// - [Claim, confirm, give back](#claim-confirm-give-back)
/// - [Outage policy](#outage-policy)
/// - [Cancellation](#cancellation)
/// - [Example](#example)
///
/// # Keys and values
///
/// Each Redis key is the [prefix](RedisStoreBuilder::prefix) followed by the 16 raw bytes of the
/// [`DedupKey`] (no hex). Its value is a state:
///
/// | value | state | a claim of the key answers |
/// |---|---|---|
/// | (none) | not remembered | [`Claim::New`], and the key becomes pending |
/// | `p` + 8-byte token | **pending**: claimed, its event not yet confirmed queued | [`Claim::InFlight`]: the receiver answers 503 with a short `Retry-After` |
/// | `c` | **confirmed**: its event was queued | [`Claim::Duplicate`] |
///
/// A pending key expires after the [pending TTL](RedisStoreBuilder::pending_ttl) (default 30 s),
/// a confirmed one after the [TTL](RedisStoreBuilder::ttl) (default 24 h). Commands go over one
/// multiplexed connection ([`ConnectionManager`], from redis-rs), which reconnects on its own;
/// there is no connection per request.
///
/// # Claim, confirm, give back
///
/// 1. **Claim**: one `SET key p<token> NX PX <pending TTL> GET`, atomic on the server: of any
///    number of replicas claiming one key at once exactly one gets `New`; the others get the old
///    value, `p...` (in flight) or `c` (duplicate). The token is random, this claim's own.
/// 2. **Confirm**: the request that received `New` sends a confirmation back in the same poll
///    (the receiver then queues the event synchronously, on a slot it reserved before claiming),
///    and the claim's task hands it to the store's confirmer, which runs a compare-and-set
///    script for every claim waiting at once: if the value is still `p<token>`, it becomes `c`
///    with the full TTL. The 200 does not wait for it; a redelivery arriving in
///    between is answered 503 (in flight), and the next one `Duplicate`.
/// 3. **Give back**: if nobody observed the `New` (the request was dropped, or gave up at the
///    claim timeout), or the `SET` failed after the server may have applied it, the task deletes
///    the key if it still holds `p<token>` (compare-and-delete).
///
/// So a `Duplicate` is only ever answered for a claim whose event was queued: an abandoned claim
/// is pending, never confirmed, and is given back or expires. This matters when the connection
/// stalls: commands queued while it reconnects run after their requests gave up, in order, and
/// the first of them claims the key nobody will queue; the retries queued behind it see it
/// pending and answer 503, not "duplicate".
///
/// Both scripts are a few lines of Lua run with `EVALSHA` (redis-rs's [`redis::Script`], which
/// loads them on a `NOSCRIPT`): Redis 7.0 has no compare-and-set command of its own.
///
/// If a replica dies between its `New` and its confirmation, or Redis fails right then, the
/// key stays pending until the pending TTL; redeliveries are answered 503 meanwhile, and the
/// first after it is `New`. That event may then run twice (its first queueing may have been
/// handled): at-least-once, as with any crash after a 200.
///
/// # Outage policy
///
/// By default a claim that fails (Redis unreachable, or no answer within the
/// [claim timeout](RedisStoreBuilder::claim_timeout), default 1 s) is an error: the receiver
/// answers 503 with `Retry-After`, remembers nothing, and the sender retries later. Nothing is
/// lost and nothing runs twice; senders retry for hours (Chirp: 5 tries with exponential
/// backoff). This is the default because the alternative can run an event twice across
/// replicas.
///
/// With [`fallback_to_memory`](RedisStoreBuilder::fallback_to_memory), a failed claim is made in
/// an in-process [`MokaStore`] instead, logged at `warn` and counted ([`FALLBACKS`],
/// `webhook_dedup_fallbacks_total`): the receiver stays available, but a redelivery reaching
/// another replica during the outage runs again. An [`InFlight`](Claim::InFlight) answer is
/// never a failure: it is never claimed in memory.
///
/// # Cancellation
///
/// The receiver claims inside the request, and a request can be dropped at any await (the client
/// went away, a timeout layer fired). The commands are therefore driven by a task of its own,
/// which sees whether its `New` was observed and confirmed (a oneshot channel each way): an
/// unobserved or unconfirmed `New` is given back. Dropping a claim at any point leaves the key
/// either confirmed with its event queued, or not confirmed (pending, then given back or
/// expired); never confirmed without its event.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use webhook_receiver::chirp;
/// use webhook_receiver::store::RedisStore;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
/// let store = RedisStore::builder("redis://127.0.0.1:6379")
///     .prefix("chirp:dedup:")
///     .ttl(Duration::from_secs(24 * 3600))
///     .connect()
///     .await?;
/// let webhooks = chirp::webhooks(["secret"])?
///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async {})
///     .store(store)
///     .spawn();
/// # drop(webhooks);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    /// The server's URL, its password redacted.
    url: String,
    prefix: Box<[u8]>,
    ttl: Duration,
    pending_ttl: Duration,
    claim_timeout: Duration,
    fallback: Option<MokaStore>,
    scripts: claim::Scripts,
    /// To the confirmer task (it ends when the store is dropped).
    confirms: tokio::sync::mpsc::UnboundedSender<claim::Confirm>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &String::from_utf8_lossy(&self.inner.prefix))
            .field("ttl", &self.inner.ttl)
            .field("pending_ttl", &self.inner.pending_ttl)
            .field("claim_timeout", &self.inner.claim_timeout)
            .field("fallback_to_memory", &self.inner.fallback.is_some())
            .finish_non_exhaustive()
    }
}

// ===== impl RedisStore =====

impl RedisStore {
    /// Configures a store on the Redis server at `url` (`redis://host:port/db`).
    ///
    /// ```
    /// use webhook_receiver::store::RedisStore;
    /// let builder = RedisStore::builder("redis://127.0.0.1:6379").prefix("myapp:");
    /// # let _ = builder;
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url.into())
    }

    /// How long a confirmed key is remembered.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use webhook_receiver::store::RedisStore;
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").ttl(Duration::from_secs(60)).connect().await.unwrap();
    /// assert_eq!(store.ttl(), Duration::from_secs(60));
    /// # }
    /// ```
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// How long a claim stays pending at most if it is neither confirmed nor given back.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use webhook_receiver::store::{DEFAULT_PENDING_TTL, RedisStore};
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").connect().await.unwrap();
    /// assert_eq!(store.pending_ttl(), DEFAULT_PENDING_TTL);
    /// # }
    /// ```
    pub fn pending_ttl(&self) -> Duration {
        self.inner.pending_ttl
    }

    /// The Redis key of `key`: the prefix, then the key's 16 bytes.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::store::RedisStore;
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").prefix("p:").connect().await.unwrap();
    /// let key = DedupKey::from_bytes([7; 16]);
    /// assert_eq!(store.redis_key(key), [&b"p:"[..], &[7; 16]].concat());
    /// # }
    /// ```
    pub fn redis_key(&self, key: DedupKey) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.inner.prefix.len() + 16);
        k.extend_from_slice(&self.inner.prefix);
        k.extend_from_slice(key.as_bytes());
        k
    }
}

impl Store for RedisStore {
    /// [`claim`](Self::claim): the key alone, on Redis.
    async fn accept(&self, event: Incoming<'_>) -> Result<Accepted, StoreError> {
        self.claim(event.key()).await.map(Accepted::from)
    }

    /// The Redis URL (without its password) and the prefix.
    fn location(&self) -> String {
        format!(
            "Redis dedup store {} prefix {}",
            self.inner.url,
            String::from_utf8_lossy(&self.inner.prefix)
        )
    }
}

// ===== shared with the Redis inbox =====

/// What the Redis inbox (`crate::inbox`) shares with this store: connecting within a deadline,
/// checking the eviction policy, and redacting the URL. (Reached through this public type
/// because the module is private to `dedup`.)
impl RedisStore {
    /// See [`connect::redact`].
    pub(crate) fn redact(url: &str) -> String {
        connect::redact(url)
    }

    /// See [`Connector::open`](connect::Connector::open).
    pub(crate) async fn connector(
        url: &str,
        timeout: Duration,
        require_noeviction: bool,
        keeps: &'static str,
    ) -> Result<connect::Connector, connect::ConnectError> {
        connect::Connector::open(url, timeout, require_noeviction, keeps).await
    }

    /// The default bound of a whole connect (5 s).
    pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = connect::DEFAULT_CONNECT_TIMEOUT;
}

impl RedisStore {
    /// Claims `key` on Redis (see the [type docs](Self) for the two steps and their
    /// cancellation), or in process memory if Redis fails and a fallback is set.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if Redis fails (or does not answer within the claim timeout) and no
    /// fallback is set.
    ///
    /// ```no_run
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::store::{Claim, RedisStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").connect().await?;
    /// let key = DedupKey::from_parts(&[b"evt_1"]);
    /// assert_eq!(store.claim(key).await?, Claim::New);
    /// # Ok(()) }
    /// ```
    pub async fn claim(&self, key: DedupKey) -> Result<Claim, StoreError> {
        match claim::claim(&self.inner, self.redis_key(key)).await {
            Ok(claim) => Ok(claim),
            Err(error) => match &self.inner.fallback {
                Some(memory) => {
                    tracing::warn!(%error, "Redis dedup unavailable: claiming in process memory (a redelivery to another replica may run again)");
                    metrics::counter!(FALLBACKS).increment(1);
                    Ok(memory.claim_now(key))
                }
                None => Err(StoreError::new(error)),
            },
        }
    }
}
