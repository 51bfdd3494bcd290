//! [`RedisStore`]: dedup shared by every replica, on a Redis server.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::oneshot;

use super::{Claim, DEFAULT_TTL, DedupKey, DedupStore, MokaStore};
use crate::error::StoreError;

/// Default key prefix: `webhook:dedup:`.
pub const DEFAULT_PREFIX: &str = "webhook:dedup:";
/// Default time limit of one claim: 1 s.
pub const DEFAULT_CLAIM_TIMEOUT: Duration = Duration::from_secs(1);

/// A dedup store on Redis, shared by every replica of a receiver: a redelivery that reaches
/// another replica is recognised there too.
///
/// A claim is one `SET <prefix><16-byte key> <token> NX PX <ttl>`: atomic on the server, so of
/// any number of replicas claiming one key at once exactly one gets [`Claim::New`]. Each Redis
/// key is the prefix followed by the 16 raw bytes of the [`DedupKey`] (no hex); its value is the
/// claim's random 8-byte token, so that a claim given back (below) can only delete its own key.
/// Commands go over one multiplexed connection ([`ConnectionManager`], from redis-rs), which
/// reconnects on its own; there is no connection per request.
///
/// # Outage policy
///
/// By default a claim that fails (Redis unreachable, or no answer within the
/// [claim timeout](RedisStoreBuilder::claim_timeout)) is an error: the receiver answers 503 with
/// `Retry-After`, remembers nothing, and the sender retries later. Nothing is lost and nothing
/// runs twice; senders retry for hours (Chirp: 5 tries with exponential backoff). This is the
/// default because the alternative can double events across replicas.
///
/// With [`fallback_to_memory`](RedisStoreBuilder::fallback_to_memory), a failed claim is made in
/// an in-process [`MokaStore`] instead, logged at `warn` and counted
/// (`webhook_dedup_fallbacks_total`): the receiver stays available, but a redelivery reaching
/// another replica during the outage runs again.
///
/// # Cancellation
///
/// The receiver claims inside the request, and a request can be dropped at any await (the client
/// went away, a timeout layer fired). The command is therefore driven by a task of its own; if
/// nobody observes its answer (the request was dropped, or the claim timed out) and the answer is
/// `New`, or the command failed after the server may have applied it, the task deletes the key
/// again if it still holds its token (a compare-and-delete script): a key is never left claimed
/// without its event queued, while Redis answers.
///
/// ```no_run
/// use std::time::Duration;
/// use webhook_receiver::chirp;
/// use webhook_receiver::dedup::RedisStore;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
/// let store = RedisStore::builder("redis://127.0.0.1:6379")
///     .prefix("chirp:dedup:")
///     .ttl(Duration::from_secs(24 * 3600))
///     .connect()
///     .await?;
/// let webhooks = chirp::webhooks(["secret"])?
///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async {})
///     .dedup_store(store)
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
    prefix: Box<[u8]>,
    ttl: Duration,
    claim_timeout: Duration,
    fallback: Option<MokaStore>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &String::from_utf8_lossy(&self.inner.prefix))
            .field("ttl", &self.inner.ttl)
            .field("claim_timeout", &self.inner.claim_timeout)
            .field("fallback_to_memory", &self.inner.fallback.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Configures a store on the Redis server at `url` (`redis://host:port/db`, or `rediss://`
    /// when redis-rs is built with TLS).
    ///
    /// ```
    /// use webhook_receiver::dedup::RedisStore;
    /// let builder = RedisStore::builder("redis://127.0.0.1:6379").prefix("myapp:");
    /// # let _ = builder;
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.into(),
            ttl: DEFAULT_TTL,
            claim_timeout: DEFAULT_CLAIM_TIMEOUT,
            fallback: false,
        }
    }

    /// How long a key is remembered.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use webhook_receiver::dedup::RedisStore;
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").ttl(Duration::from_secs(60)).connect().await.unwrap();
    /// assert_eq!(store.ttl(), Duration::from_secs(60));
    /// # }
    /// ```
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// The Redis key of `key`: the prefix, then the key's 16 bytes.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::dedup::RedisStore;
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

    /// The claim on Redis, driven to completion by a task of its own; see the type's docs.
    async fn claim_remote(&self, key: DedupKey) -> Result<Claim, StoreError> {
        let (tx, rx) = oneshot::channel();
        let inner = Arc::clone(&self.inner);
        let redis_key = self.redis_key(key);
        // The value is this claim's own token, so that giving the key back can never delete a
        // key another claim made.
        let token = fastrand::u64(..).to_le_bytes();
        tokio::spawn(async move {
            let mut conn = inner.conn.clone();
            let ttl_ms = u64::try_from(inner.ttl.as_millis())
                .unwrap_or(u64::MAX)
                .max(1);
            let set: redis::RedisResult<Option<String>> = redis::cmd("SET")
                .arg(&redis_key)
                .arg(&token[..])
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut conn)
                .await;
            let failed = set.is_err();
            eprintln!("DEBUG {:?} SET {:?} -> {:?}", std::time::Instant::now(), &redis_key[redis_key.len()-2..], set);
            let claim = set.map(|reply| {
                if reply.is_some() {
                    Claim::New
                } else {
                    Claim::Duplicate
                }
            });
            let unobserved_new = matches!(tx.send(claim), Err(Ok(Claim::New)));
            // Nobody will queue the event (its request is gone, or timed out), or the outcome
            // is unknown (the error may have come after the server applied the SET): give the
            // key back if it is ours.
            if unobserved_new || failed {
                let released: redis::RedisResult<i64> = redis::cmd("EVAL")
                    .arg(RELEASE)
                    .arg(1)
                    .arg(&redis_key)
                    .arg(&token[..])
                    .query_async(&mut conn)
                    .await;
                eprintln!("DEBUG set_failed={failed} unobserved_new={unobserved_new} released={released:?}");
                if let Err(error) = released {
                    tracing::error!(%error, "a dedup claim nobody observed could not be released: its key stays until its TTL");
                }
            }
        });
        match tokio::time::timeout(self.inner.claim_timeout, rx).await {
            Ok(Ok(Ok(claim))) => Ok(claim),
            Ok(Ok(Err(error))) => Err(StoreError::new(error)),
            Ok(Err(_)) => Err(StoreError::new(
                "the Redis claim task ended without an answer",
            )),
            Err(_) => Err(StoreError::new(format!(
                "no answer from Redis within {:?}",
                self.inner.claim_timeout
            ))),
        }
    }
}

/// Deletes `KEYS[1]` only if it still holds `ARGV[1]` (this claim's token).
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

impl DedupStore for RedisStore {
    async fn claim(&self, key: DedupKey) -> Result<Claim, StoreError> {
        match self.claim_remote(key).await {
            Ok(claim) => Ok(claim),
            Err(error) => match &self.inner.fallback {
                Some(memory) => {
                    tracing::warn!(%error, "Redis dedup unavailable: claiming in process memory (a redelivery to another replica may run again)");
                    metrics::counter!(FALLBACKS).increment(1);
                    Ok(memory.claim_now(key))
                }
                None => Err(error),
            },
        }
    }
}

/// Counter: claims made in process memory because Redis failed.
pub const FALLBACKS: &str = "webhook_dedup_fallbacks_total";

/// Builder for [`RedisStore`].
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::dedup::RedisStore;
/// let builder = RedisStore::builder("redis://127.0.0.1:6379")
///     .prefix("chirp:")
///     .ttl(Duration::from_secs(3600))
///     .claim_timeout(Duration::from_millis(250))
///     .fallback_to_memory(false);
/// # let _ = builder;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    ttl: Duration,
    claim_timeout: Duration,
    fallback: bool,
}

impl RedisStoreBuilder {
    /// The prefix of every key (default `webhook:dedup:`): give each receiver its own when
    /// several share a Redis server.
    ///
    /// ```
    /// let b = webhook_receiver::dedup::RedisStore::builder("redis://127.0.0.1").prefix("a:");
    /// # let _ = b;
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a key is remembered (default 24 h): cover the sender's retry span.
    ///
    /// ```
    /// let b = webhook_receiver::dedup::RedisStore::builder("redis://127.0.0.1")
    ///     .ttl(std::time::Duration::from_secs(3600));
    /// # let _ = b;
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a claim may take before it counts as failed (default 1 s). Also the
    /// connection's response timeout.
    ///
    /// ```
    /// let b = webhook_receiver::dedup::RedisStore::builder("redis://127.0.0.1")
    ///     .claim_timeout(std::time::Duration::from_millis(200));
    /// # let _ = b;
    /// ```
    pub fn claim_timeout(mut self, timeout: Duration) -> Self {
        self.claim_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// While Redis fails, claim in an in-process store instead of failing the request (default
    /// `false`: the receiver answers 503). See [`RedisStore`]'s outage policy.
    ///
    /// ```
    /// let b = webhook_receiver::dedup::RedisStore::builder("redis://127.0.0.1").fallback_to_memory(true);
    /// # let _ = b;
    /// ```
    pub fn fallback_to_memory(mut self, fallback: bool) -> Self {
        self.fallback = fallback;
        self
    }

    /// Connects (once; the connection then reconnects on its own).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the URL is invalid or the server cannot be reached now.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let store = webhook_receiver::dedup::RedisStore::builder("redis://127.0.0.1:6379").connect().await;
    /// assert!(store.is_ok());
    /// # }
    /// ```
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(self.url.as_str()).map_err(StoreError::new)?;
        // The request gives up after the claim timeout; the command's own task waits longer
        // for the answer, so that a late `New` is seen and given back.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.claim_timeout)
            .set_response_timeout((self.claim_timeout * 10).max(Duration::from_secs(5)));
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(StoreError::new)?;
        let fallback = self.fallback.then(|| {
            MokaStore::builder()
                .ttl(self.ttl)
                .capacity(super::DEFAULT_CAPACITY)
                .build()
        });
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn,
                prefix: self.prefix.into_bytes().into_boxed_slice(),
                ttl: self.ttl,
                claim_timeout: self.claim_timeout,
                fallback,
            }),
        })
    }
}
