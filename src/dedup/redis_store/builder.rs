//! [`RedisStoreBuilder`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManagerConfig;

use super::connect::{self, Connector};
use super::{DEFAULT_CLAIM_TIMEOUT, DEFAULT_PENDING_TTL, DEFAULT_PREFIX, Inner, RedisStore, claim};
use crate::dedup::{DEFAULT_CAPACITY, DEFAULT_TTL, MokaStore};
use crate::error::StoreError;

/// Builder for [`RedisStore`].
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::store::RedisStore;
/// let builder = RedisStore::builder("redis://127.0.0.1:6379")
///     .prefix("chirp:")
///     .ttl(Duration::from_secs(3600))
///     .pending_ttl(Duration::from_secs(60))
///     .claim_timeout(Duration::from_millis(250))
///     .fallback_to_memory(false)
///     .connect_timeout(Duration::from_secs(10))
///     .require_noeviction(true);
/// # let _ = builder;
/// ```
///
/// Its `Debug` leaves the URL's password out:
///
/// ```
/// let builder = webhook_receiver::store::RedisStore::builder("redis://:hunter2@redis.internal:6379");
/// assert!(!format!("{builder:?}").contains("hunter2"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    ttl: Duration,
    pending_ttl: Duration,
    claim_timeout: Duration,
    fallback: bool,
    connect_timeout: Duration,
    require_noeviction: bool,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &connect::redact(&self.url))
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("pending_ttl", &self.pending_ttl)
            .field("claim_timeout", &self.claim_timeout)
            .field("fallback_to_memory", &self.fallback)
            .field("connect_timeout", &self.connect_timeout)
            .field("require_noeviction", &self.require_noeviction)
            .finish()
    }
}

impl RedisStoreBuilder {
    pub(super) fn new(url: String) -> Self {
        Self {
            url,
            prefix: DEFAULT_PREFIX.into(),
            ttl: DEFAULT_TTL,
            pending_ttl: DEFAULT_PENDING_TTL,
            claim_timeout: DEFAULT_CLAIM_TIMEOUT,
            fallback: false,
            connect_timeout: connect::DEFAULT_CONNECT_TIMEOUT,
            require_noeviction: false,
        }
    }

    /// The prefix of every key (default `webhook:dedup:`): give each receiver its own when
    /// several share a Redis server.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisStore::builder("redis://127.0.0.1").prefix("a:");
    /// # let _ = b;
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a confirmed key is remembered (default 24 h): cover the sender's retry span.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisStore::builder("redis://127.0.0.1")
    ///     .ttl(std::time::Duration::from_secs(3600));
    /// # let _ = b;
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a claim may stay pending, neither confirmed nor given back (default 30 s,
    /// [`DEFAULT_PENDING_TTL`]): how long a replica that died mid-claim blocks redeliveries of
    /// that event (answered 503 meanwhile). Keep it well above the claim timeout and the
    /// connection's response timeout (10× the claim timeout, at least 5 s): a claim that
    /// expires before it is confirmed lets a redelivery run again.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisStore::builder("redis://127.0.0.1")
    ///     .pending_ttl(std::time::Duration::from_secs(60));
    /// # let _ = b;
    /// ```
    pub fn pending_ttl(mut self, ttl: Duration) -> Self {
        self.pending_ttl = ttl;
        self
    }

    /// How long the request waits for a claim's answer before it counts as failed (default
    /// 1 s). The connection's response timeout is ten times this, at least 5 s: the claim's
    /// own task waits longer than the request, so that a late `New` is seen and given back.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisStore::builder("redis://127.0.0.1")
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
    /// let b = webhook_receiver::store::RedisStore::builder("redis://127.0.0.1").fallback_to_memory(true);
    /// # let _ = b;
    /// ```
    pub fn fallback_to_memory(mut self, fallback: bool) -> Self {
        self.fallback = fallback;
        self
    }

    /// How long [`connect`](Self::connect) may take in all (default 5 s): while the server
    /// cannot be reached it tries again until then, and then fails, so that a replica started
    /// during an outage exits (and is restarted) rather than hangs.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisStore::builder("redis://127.0.0.1")
    ///     .connect_timeout(std::time::Duration::from_secs(10));
    /// # let _ = b;
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Refuse to connect to a server whose `maxmemory-policy` is not `noeviction` (default
    /// `false`: such a server is logged at `warn`). Under memory pressure a server with another
    /// policy may evict dedup keys (a redelivery then runs again). When the policy cannot be
    /// read (`INFO memory`), this refuses too.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisStore::builder("redis://127.0.0.1").require_noeviction(true);
    /// # let _ = b;
    /// ```
    pub fn require_noeviction(mut self, require: bool) -> Self {
        self.require_noeviction = require;
        self
    }

    /// Connects (once; the connection then reconnects on its own), and checks the server's
    /// `maxmemory-policy` (see [`require_noeviction`](Self::require_noeviction)).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the URL is invalid, the server cannot be reached within the
    /// [connect timeout](Self::connect_timeout), refuses the credentials, or (with
    /// [`require_noeviction`](Self::require_noeviction)) may evict keys. Its message names the
    /// URL without its password.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let store = webhook_receiver::store::RedisStore::builder("redis://127.0.0.1:6379").connect().await;
    /// assert!(store.is_ok());
    /// # }
    /// ```
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let connector = Connector::open(
            &self.url,
            self.connect_timeout,
            self.require_noeviction,
            "dedup keys",
        )
        .await
        .map_err(StoreError::new)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.claim_timeout)
            .set_response_timeout((self.claim_timeout * 10).max(Duration::from_secs(5)));
        let conn = connector.manager(config).await.map_err(StoreError::new)?;
        let fallback = self.fallback.then(|| {
            MokaStore::builder()
                .ttl(self.ttl)
                .capacity(DEFAULT_CAPACITY)
                .build()
        });
        let (confirms, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(claim::confirmer(conn.clone(), self.ttl, rx));
        Ok(RedisStore {
            inner: Arc::new(Inner {
                confirms,
                conn,
                url: connector.url().to_owned(),
                prefix: self.prefix.into_bytes().into_boxed_slice(),
                ttl: self.ttl,
                pending_ttl: self.pending_ttl,
                claim_timeout: self.claim_timeout,
                fallback,
                scripts: claim::Scripts::new(),
            }),
        })
    }
}
