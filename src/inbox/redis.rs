//! [`RedisInbox`]: an inbox shared by every replica, on a Redis Stream read by one consumer
//! group.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use redis::{FromRedisValue, RedisResult, Script, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::error::InboxError;
use super::record::{self, NewEvent};
use crate::dedup::{DEFAULT_TTL, RedisStore};
use crate::store::{
    Accepted, DeadLetterRecord, Entry, Incoming, Pending, RouteState, Store, StoreError, StoredId,
};

/// Default key prefix of a [`RedisInbox`].
const DEFAULT_PREFIX: &str = "webhook:inbox:";

/// Claims the key and appends the event, in one atomic step. `KEYS[1]` the dedup key,
/// `KEYS[2]` the stream; `ARGV[1]` the TTL (ms), `ARGV[2]` the backlog limit (0: none),
/// `ARGV[3]` the record. Returns the entry id, 0 for a duplicate, -1 when the backlog is full.
const ACCEPT: &str = r"
if tonumber(ARGV[2]) > 0 and redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[2]) then
  return -1
end
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return 0
end
return redis.call('XADD', KEYS[2], '*', 'r', ARGV[3])
";

/// Copies entry `ARGV[1]` of stream `KEYS[1]` to the dead-letter stream `KEYS[2]` (capped at
/// about `ARGV[2]` entries) with the handler, reason, attempts, error and route (`ARGV[9]`), if
/// consumer `ARGV[8]` of group `ARGV[7]` still holds it (a late run's dead letter is not
/// written: the entry was completed, or another replica took it over and decides). Also keeps
/// it for operators, uncapped until replayed, deleted or pruned: the hash `KEYS[3]`
/// (`<prefix>deadev:<entry>`: the record `r`, its `replay` field if it was replayed, its index
/// entry `idx`, and per dead handler `l:<route>` the letter `ARGV[10]`), listed by the index
/// stream `KEYS[4]` (`<prefix>deadidx`: one entry per dead event, at its first dead letter).
const DEAD_LETTER: &str = r"
if #redis.call('XPENDING', KEYS[1], ARGV[7], ARGV[1], ARGV[1], 1, ARGV[8]) == 0 then return 0 end
local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #e == 0 then return 0 end
local f = e[1][2]
local r, replay = nil, nil
for i = 1, #f, 2 do
  if f[i] == 'r' then r = f[i + 1] elseif f[i] == 'replay' then replay = f[i + 1] end
end
if not r then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'r', r, 'entry', ARGV[1],
  'handler', ARGV[3], 'reason', ARGV[4], 'attempts', ARGV[5], 'error', ARGV[6], 'route', ARGV[9])
if redis.call('EXISTS', KEYS[3]) == 0 then
  local idx = redis.call('XADD', KEYS[4], '*', 'entry', ARGV[1])
  redis.call('HSET', KEYS[3], 'r', r, 'idx', idx)
  if replay then redis.call('HSET', KEYS[3], 'replay', replay) end
end
redis.call('HSET', KEYS[3], 'l:' .. ARGV[9], ARGV[10])
return 1
";

/// Records a handler's progress (`HSET KEYS[2] ARGV[4] ARGV[5]`, then a TTL of `ARGV[6]` ms) if
/// consumer `ARGV[2]` of group `ARGV[1]` still holds entry `ARGV[3]` of stream `KEYS[1]`. A late
/// run (its replica stalled past the visibility timeout) writes nothing: not over the new
/// owner's progress, and not a new hash for an entry already completed (and its hash deleted).
const PROGRESS: &str = r"
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
";

/// Keeps fresh the entries `ARGV[3..]` of stream `KEYS[1]` that consumer `ARGV[2]` of group
/// `ARGV[1]` still holds (`XCLAIM … 0 … JUSTID`: their idle time starts again), and returns the
/// others: completed, or taken over by another replica after this one stalled. (A plain
/// `XCLAIM` would take those back from their new owner.)
const REFRESH: &str = r"
local lost = {}
for i = 3, #ARGV do
  if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2]) > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
";

/// Deletes the consumers of group `ARGV[1]` of stream `KEYS[1]` that hold no entry and have been
/// idle for more than `ARGV[3]` ms, except `ARGV[2]` (this replica); returns their names. One
/// script, so that no entry is delivered to a consumer between its check and its deletion
/// (deleting a consumer drops the entries it holds from the group for good).
const FORGET_CONSUMERS: &str = r"
local gone = {}
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[2] and f['pending'] == 0 and f['idle'] > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    gone[#gone + 1] = f['name']
  end
end
return gone
";

/// An inbox shared by every replica of a receiver, on a Redis Stream (feature `redis`; Redis
/// 7.0 or newer).
///
/// - **Accept:** before the 200, one Lua script checks the backlog, claims the dedup key
///   (`SET <prefix>dedup:<16-byte key> 1 NX PX <ttl>`) and appends the raw event (its body,
///   non-credential headers, key and receive time) to the stream `<prefix>stream` with `XADD`:
///   atomic on the server, so there is never a key without its event. A redelivery to any
///   replica finds the key and is answered 200 `"duplicate": true`.
/// - **Consume:** every replica reads the stream as one consumer of the group
///   ([`group`](RedisInboxBuilder::group)), one entry at a time and only when its dispatcher
///   has room, so a busy replica leaves the backlog to the others. The replica that accepted an
///   event is not necessarily the one that runs it.
/// - **Progress:** each handler's attempts and next retry are kept in a hash
///   (`<prefix>state:<entry id>`); when every handler is done (or dead-lettered) the entry is
///   acknowledged (`XACK`), deleted from the stream and its hash removed. Dead letters are
///   also appended to `<prefix>dead` (capped at [`dead_letter_max`](RedisInboxBuilder::dead_letter_max)),
///   and a dead event is kept for operators, uncapped, in `<prefix>deadev:<entry>` (listed by
///   `<prefix>deadidx`) until replayed, deleted or pruned
///   ([`InboxAdmin`](crate::store::InboxAdmin)).
/// - **Take-over:** an entry its consumer has not touched for the
///   [visibility timeout](RedisInboxBuilder::visibility_timeout) is taken over by another
///   replica (`XAUTOCLAIM`), which runs the handlers not done yet, from their recorded attempt.
///   A live replica keeps the entries it holds (running, or waiting for a retry) fresh by
///   re-claiming them every third of the timeout, so only a dead or stalled replica loses them.
///
/// # Guarantees
///
/// At least once: an event that got a 200 is run by some replica, even if the one holding it
/// dies (`kill -9`), once the visibility timeout passes. It can run twice: when a replica dies
/// after a handler succeeded but before that was recorded, or when a replica stalls longer
/// than the visibility timeout. Handlers should be idempotent. What survives a crash of the
/// *Redis server* is Redis's own persistence: run it with `appendonly yes` (and
/// `appendfsync always` to lose nothing acknowledged; `everysec`, the default, may lose the
/// last second). Ordering is not kept.
///
/// While Redis is unreachable, accepts fail and the receiver answers 503 with `Retry-After`:
/// nothing is lost, the sender retries. Each accept waits at most the
/// [accept timeout](RedisInboxBuilder::accept_timeout); an accept given up on may still be
/// applied by the server, in which case the event runs and its redelivery is a duplicate.
///
/// ```no_run
/// use webhook_receiver::chirp;
/// use webhook_receiver::store::RedisInbox;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
/// let inbox = RedisInbox::builder("redis://127.0.0.1:6379").prefix("chirp:").connect().await?;
/// let webhooks = chirp::webhooks(["a-long-enough-secret"])?
///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async {})
///     .store(inbox)
///     .spawn();
/// # drop(webhooks);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisInbox {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    /// The server's URL, its password redacted.
    url: String,
    /// Accepts, bookkeeping, heartbeats (multiplexed; reconnects on its own).
    pub(super) conn: ConnectionManager,
    /// The consumer's blocking reads, on a connection of their own.
    reader: ConnectionManager,
    pub(super) keys: Keys,
    pub(super) group: String,
    consumer: String,
    dedup_ttl: Duration,
    visibility: Duration,
    max_backlog: u64,
    accept_timeout: Duration,
    dead_letter_max: u64,
    forget_consumers_after: Duration,
    accept: Script,
    /// Entries this consumer holds (handed to the dispatcher, not completed): re-claimed
    /// every third of the visibility timeout.
    held: Mutex<HashSet<String>>,
    book: mpsc::UnboundedSender<Book>,
}

#[derive(Clone)]
pub(super) struct Keys {
    prefix: Vec<u8>,
    pub(super) stream: Vec<u8>,
    dead: Vec<u8>,
    /// The index of dead events kept for operators (one entry per dead event).
    pub(super) dead_index: Vec<u8>,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        let prefix = prefix.as_bytes().to_vec();
        let with = |s: &str| [prefix.as_slice(), s.as_bytes()].concat();
        Self {
            stream: with("stream"),
            dead: with("dead"),
            dead_index: with("deadidx"),
            prefix,
        }
    }

    fn dedup(&self, key: crate::DedupKey) -> Vec<u8> {
        [self.prefix.as_slice(), b"dedup:", key.as_bytes()].concat()
    }

    pub(super) fn state(&self, entry: &str) -> Vec<u8> {
        [self.prefix.as_slice(), b"state:", entry.as_bytes()].concat()
    }

    /// The hash that keeps dead event `entry` for operators.
    pub(super) fn dead_event(&self, entry: &str) -> Vec<u8> {
        [self.prefix.as_slice(), b"deadev:", entry.as_bytes()].concat()
    }
}

/// Bookkeeping, applied in order by one task.
enum Book {
    Attempt {
        entry: String,
        route: u32,
        value: String,
    },
    Complete {
        entry: String,
    },
    DeadLetter {
        entry: String,
        handler: String,
        reason: &'static str,
        attempts: u32,
        error: String,
        /// The route, or `none`.
        route: String,
        /// The letter as operators read it (JSON).
        letter: String,
    },
    Flush {
        reply: oneshot::Sender<()>,
    },
}

/// Builds a [`RedisInbox`]: [`RedisInbox::builder`].
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::store::RedisInbox;
///
/// let builder = RedisInbox::builder("redis://127.0.0.1:6379")
///     .prefix("chirp:")
///     .group("chirp-receivers")
///     .visibility_timeout(Duration::from_secs(60))
///     .max_backlog(50_000);
/// # let _ = builder;
/// ```
///
/// Its `Debug` leaves the URL's password out:
///
/// ```
/// let builder = webhook_receiver::store::RedisInbox::builder("redis://:hunter2@redis.internal:6379");
/// assert!(!format!("{builder:?}").contains("hunter2"));
/// ```
#[derive(Clone)]
#[must_use = "call `connect()` to connect the inbox"]
pub struct RedisInboxBuilder {
    url: String,
    prefix: String,
    group: String,
    consumer: Option<String>,
    dedup_ttl: Duration,
    visibility: Duration,
    max_backlog: u64,
    accept_timeout: Duration,
    dead_letter_max: u64,
    connect_timeout: Duration,
    require_noeviction: bool,
    forget_consumers_after: Duration,
}

impl fmt::Debug for RedisInboxBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInboxBuilder")
            .field("url", &RedisStore::redact(&self.url))
            .field("prefix", &self.prefix)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("dedup_ttl", &self.dedup_ttl)
            .field("visibility_timeout", &self.visibility)
            .field("max_backlog", &self.max_backlog)
            .field("accept_timeout", &self.accept_timeout)
            .field("dead_letter_max", &self.dead_letter_max)
            .field("connect_timeout", &self.connect_timeout)
            .field("require_noeviction", &self.require_noeviction)
            .field("forget_consumers_after", &self.forget_consumers_after)
            .finish()
    }
}

impl RedisInbox {
    /// The default key prefix: `webhook:inbox:`.
    ///
    /// ```
    /// use webhook_receiver::store::RedisInbox;
    /// assert_eq!(RedisInbox::DEFAULT_PREFIX, "webhook:inbox:");
    /// ```
    pub const DEFAULT_PREFIX: &'static str = DEFAULT_PREFIX;

    /// Configures an inbox on the Redis server at `url` (`redis://host:port/db`).
    ///
    /// ```
    /// let builder = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1:6379");
    /// # let _ = builder;
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisInboxBuilder {
        RedisInboxBuilder {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            group: "webhook-receiver".to_owned(),
            consumer: None,
            dedup_ttl: DEFAULT_TTL,
            visibility: Duration::from_secs(30),
            max_backlog: 100_000,
            accept_timeout: Duration::from_secs(1),
            dead_letter_max: 10_000,
            connect_timeout: RedisStore::DEFAULT_CONNECT_TIMEOUT,
            require_noeviction: false,
            forget_consumers_after: Duration::from_secs(3600),
        }
    }

    /// This replica's consumer name in the group.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use webhook_receiver::store::RedisInbox;
    /// let inbox = RedisInbox::builder("redis://127.0.0.1:6379").consumer("replica-a").connect().await.unwrap();
    /// assert_eq!(inbox.consumer(), "replica-a");
    /// # }
    /// ```
    #[must_use]
    pub fn consumer(&self) -> &str {
        &self.inner.consumer
    }

    /// The stream's key (`<prefix>stream`).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use webhook_receiver::store::RedisInbox;
    /// let inbox = RedisInbox::builder("redis://127.0.0.1:6379").prefix("chirp:").connect().await.unwrap();
    /// assert_eq!(inbox.stream_key(), b"chirp:stream");
    /// # }
    /// ```
    #[must_use]
    pub fn stream_key(&self) -> &[u8] {
        &self.inner.keys.stream
    }

    /// Events accepted and not done yet (the stream's length: completed entries are deleted).
    ///
    /// # Errors
    ///
    /// [`InboxError::Storage`] if Redis does not answer.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use webhook_receiver::store::RedisInbox;
    /// let inbox = RedisInbox::builder("redis://127.0.0.1:6379").connect().await.unwrap();
    /// println!("{} events not done", inbox.backlog().await.unwrap());
    /// # }
    /// ```
    pub async fn backlog(&self) -> Result<u64, InboxError> {
        let mut conn = self.inner.conn.clone();
        redis::cmd("XLEN")
            .arg(&self.inner.keys.stream)
            .query_async(&mut conn)
            .await
            .map_err(InboxError::storage)
    }

    /// Dead letters kept in `<prefix>dead`.
    ///
    /// # Errors
    ///
    /// [`InboxError::Storage`] if Redis does not answer.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use webhook_receiver::store::RedisInbox;
    /// let inbox = RedisInbox::builder("redis://127.0.0.1:6379").connect().await.unwrap();
    /// assert_eq!(inbox.dead_letters().await.unwrap(), 0);
    /// # }
    /// ```
    pub async fn dead_letters(&self) -> Result<u64, InboxError> {
        let mut conn = self.inner.conn.clone();
        redis::cmd("XLEN")
            .arg(&self.inner.keys.dead)
            .query_async(&mut conn)
            .await
            .map_err(InboxError::storage)
    }

    /// The visibility timeout: how long an entry may go untouched before another replica
    /// takes it over.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use webhook_receiver::store::RedisInbox;
    /// let inbox = RedisInbox::builder("redis://127.0.0.1:6379").connect().await.unwrap();
    /// assert_eq!(inbox.visibility_timeout(), Duration::from_secs(30));
    /// # }
    /// ```
    #[must_use]
    pub fn visibility_timeout(&self) -> Duration {
        self.inner.visibility
    }
}

impl fmt::Debug for RedisInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInbox")
            .field("stream", &String::from_utf8_lossy(&self.inner.keys.stream))
            .field("group", &self.inner.group)
            .field("consumer", &self.inner.consumer)
            .field("visibility_timeout", &self.inner.visibility)
            .field("max_backlog", &self.inner.max_backlog)
            .finish_non_exhaustive()
    }
}

impl RedisInboxBuilder {
    /// The prefix of every key (default `webhook:inbox:`): give each receiver its own when
    /// several share a Redis server.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1").prefix("chirp:");
    /// # let _ = b;
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The consumer group (default `webhook-receiver`): every replica of one receiver uses the
    /// same group.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1").group("chirp");
    /// # let _ = b;
    /// ```
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// This replica's consumer name (default: host name, process id and a random suffix, so
    /// that a restarted replica is a new consumer and the entries its predecessor held are
    /// taken over after the visibility timeout).
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1").consumer("pod-7");
    /// # let _ = b;
    /// ```
    pub fn consumer(mut self, consumer: impl Into<String>) -> Self {
        self.consumer = Some(consumer.into());
        self
    }

    /// How long a dedup key is remembered after its event was accepted (default 24 h).
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1")
    ///     .dedup_ttl(std::time::Duration::from_secs(6 * 3600));
    /// # let _ = b;
    /// ```
    pub fn dedup_ttl(mut self, ttl: Duration) -> Self {
        self.dedup_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// How long an entry may go untouched by its consumer before another replica takes it
    /// over (default 30 s; at least 1 s). Shorter: a dead replica's events run sooner; but a
    /// replica stalled longer than this (a long GC-like pause, a frozen VM) has its events run
    /// twice.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1")
    ///     .visibility_timeout(std::time::Duration::from_secs(10));
    /// # let _ = b;
    /// ```
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility = timeout.max(Duration::from_secs(1));
        self
    }

    /// The most events the stream may hold not done (default 100,000; 0: no limit). Past it,
    /// accepts are refused ([`InboxError::Backlog`]) and the receiver answers 503 with
    /// `Retry-After`, remembering nothing.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1").max_backlog(10_000);
    /// # let _ = b;
    /// ```
    pub fn max_backlog(mut self, max: u64) -> Self {
        self.max_backlog = max;
        self
    }

    /// How long a request waits for its accept (default 1 s), after which it is answered 503.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1")
    ///     .accept_timeout(std::time::Duration::from_millis(500));
    /// # let _ = b;
    /// ```
    pub fn accept_timeout(mut self, timeout: Duration) -> Self {
        self.accept_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How many dead letters `<prefix>dead` keeps, about (default 10,000; older ones are
    /// trimmed).
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1").dead_letter_max(1000);
    /// # let _ = b;
    /// ```
    pub fn dead_letter_max(mut self, max: u64) -> Self {
        self.dead_letter_max = max.max(1);
        self
    }

    /// How long [`connect`](Self::connect) may take in all (default 5 s): while the server
    /// cannot be reached it tries again until then, and then fails with
    /// [`InboxError::Connect`], so that a replica started during an outage exits (and is
    /// restarted) rather than hangs.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1")
    ///     .connect_timeout(std::time::Duration::from_secs(10));
    /// # let _ = b;
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Refuse to connect to a server whose `maxmemory-policy` is not `noeviction` (default
    /// `false`: such a server is logged at `warn`). Under memory pressure, a `volatile-*` policy
    /// may evict dedup keys and handlers' progress (events run again), an `allkeys-*` policy
    /// the stream itself (events lost). When the policy cannot be read (`INFO memory`), this
    /// refuses too.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1").require_noeviction(true);
    /// # let _ = b;
    /// ```
    pub fn require_noeviction(mut self, require: bool) -> Self {
        self.require_noeviction = require;
        self
    }

    /// How long a consumer of the group that holds no entry may stay idle before a replica
    /// deletes it (default 1 h; at least 1 s). Every start of a replica adds a consumer (the
    /// default name is new each time); this keeps the group from growing with every deploy.
    /// A consumer holding an entry is never deleted (its entries are taken over instead), nor
    /// this replica's own; a live one deleted while idle is made again by its next read.
    ///
    /// ```
    /// let b = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1")
    ///     .forget_consumers_after(std::time::Duration::from_secs(24 * 3600));
    /// # let _ = b;
    /// ```
    pub fn forget_consumers_after(mut self, idle: Duration) -> Self {
        self.forget_consumers_after = idle.max(Duration::from_secs(1));
        self
    }

    /// Connects, creates the stream and the consumer group if they do not exist, and deletes
    /// the group's idle consumers that hold nothing
    /// ([`forget_consumers_after`](Self::forget_consumers_after)); all within the
    /// [connect timeout](Self::connect_timeout). Checks the server's `maxmemory-policy` (see
    /// [`require_noeviction`](Self::require_noeviction)).
    ///
    /// # Errors
    ///
    /// [`InboxError::Connect`] if the URL is invalid, the server cannot be reached within the
    /// connect timeout, refuses the credentials, the group cannot be created, or (with
    /// [`require_noeviction`](Self::require_noeviction)) the server may evict keys. Its message
    /// names the URL without its password.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let inbox = webhook_receiver::store::RedisInbox::builder("redis://127.0.0.1:6379").connect().await;
    /// assert!(inbox.is_ok());
    /// # }
    /// ```
    pub async fn connect(self) -> Result<RedisInbox, InboxError> {
        let connect_error = |url: String, source: crate::BoxError| InboxError::Connect {
            url,
            source: Arc::from(source),
        };
        let connector = RedisStore::connector(
            &self.url,
            self.connect_timeout,
            self.require_noeviction,
            "the inbox's stream, dedup keys and handlers' progress",
        )
        .await
        .map_err(|e| connect_error(e.url, e.source))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.accept_timeout)
            .set_response_timeout((self.accept_timeout * 10).max(Duration::from_secs(5)));
        let mut conn = connector
            .manager(config.clone())
            .await
            .map_err(|e| connect_error(e.url, e.source))?;
        // Its reads block for up to a second.
        let reader = connector
            .manager(config.set_response_timeout(READ_BLOCK + Duration::from_secs(5)))
            .await
            .map_err(|e| connect_error(e.url, e.source))?;
        let keys = Keys::new(&self.prefix);
        connector
            .within(create_group(&mut conn, &keys, &self.group))
            .await
            .map_err(|e| connect_error(e.url, e.source))?;
        let consumer = self.consumer.unwrap_or_else(default_consumer);
        let (book, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            url: connector.url().to_owned(),
            conn,
            reader,
            keys,
            group: self.group,
            consumer,
            dedup_ttl: self.dedup_ttl,
            visibility: self.visibility,
            max_backlog: self.max_backlog,
            accept_timeout: self.accept_timeout,
            dead_letter_max: self.dead_letter_max,
            forget_consumers_after: self.forget_consumers_after,
            accept: Script::new(ACCEPT),
            held: Mutex::new(HashSet::new()),
            book,
        });
        // Within the connect timeout, but not a reason to refuse to start: a failure is logged,
        // and the heartbeat tries again later.
        let _ = connector
            .within(async { Ok(inner.forget_consumers().await) })
            .await;
        tokio::spawn(bookkeeper(Arc::downgrade(&inner), rx));
        tokio::spawn(heartbeat(Arc::downgrade(&inner)));
        Ok(RedisInbox { inner })
    }
}

/// Creates the stream and the group, reading from the start, unless the group exists.
async fn create_group(conn: &mut ConnectionManager, keys: &Keys, group: &str) -> RedisResult<()> {
    let created: RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&keys.stream)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() != Some("BUSYGROUP") => Err(e),
        _ => Ok(()),
    }
}

/// How long one read of the stream blocks.
const READ_BLOCK: Duration = Duration::from_secs(1);

fn default_consumer() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}

impl Inner {
    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on, the heartbeat keeps `entry` fresh (called as soon as it is read).
    fn hold(&self, entry: &str) {
        self.held().insert(entry.to_owned());
    }

    /// Deletes the group's idle consumers that hold nothing (see [`FORGET_CONSUMERS`]).
    async fn forget_consumers(&self) -> RedisResult<()> {
        let idle_ms = u64::try_from(self.forget_consumers_after.as_millis()).unwrap_or(u64::MAX);
        let mut conn = self.conn.clone();
        let gone: RedisResult<Vec<String>> = redis::cmd("EVAL")
            .arg(FORGET_CONSUMERS)
            .arg(1)
            .arg(&self.keys.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(idle_ms)
            .query_async(&mut conn)
            .await;
        match gone {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!(consumers = ?gone, idle = ?self.forget_consumers_after, "Redis inbox: deleted idle consumers that held no entry");
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::warn!(%error, "Redis inbox: deleting idle consumers failed; trying again later");
                Err(error)
            }
        }
    }

    fn book(&self, book: Book) {
        if self.book.send(book).is_err() {
            tracing::error!("Redis inbox bookkeeping dropped: its task is gone");
        }
    }

    /// An entry read from the stream (and [held](Self::hold) already), as the dispatcher gets
    /// it.
    async fn pending(self: &Arc<Self>, entry: &StreamId, replayed: bool) -> Option<Pending> {
        let record = match entry.map.get("r") {
            Some(Value::BulkString(bytes)) => bytes.as_slice(),
            _ => {
                tracing::error!(entry = %entry.id, "a Redis inbox entry has no event record: dead-lettered");
                self.undecodable(&entry.id, "no event record");
                return None;
            }
        };
        let mut event = match record::decode(event_id(&entry.id), record) {
            Ok(event) => event,
            Err(error) => {
                tracing::error!(entry = %entry.id, %error, "a Redis inbox entry cannot be decoded: dead-lettered");
                self.undecodable(&entry.id, &error.to_string());
                return None;
            }
        };
        // An operator's replay (`replay` field): the handlers it runs, and runs as a replay.
        let replay = super::redis_admin::ReplayField::of(entry);
        if let Some(replay) = &replay {
            replay.apply(&mut event);
        }
        if replayed {
            match self.route_states(&entry.id).await {
                Ok(routes) => super::redis_admin::merge_routes(&mut event, routes),
                Err(error) => {
                    // Left in this consumer's pending list, not refreshed: taken over again
                    // once idle.
                    tracing::error!(entry = %entry.id, %error, "the handlers' progress of a taken-over Redis inbox entry could not be read");
                    self.held().remove(&entry.id);
                    return None;
                }
            }
        }
        Some(Pending {
            request: event,
            entry: Box::new(RedisEntry {
                inner: Arc::clone(self),
                id: entry.id.clone(),
            }),
            replayed: replayed || replay.is_some(),
        })
    }

    fn undecodable(&self, entry: &str, error: &str) {
        self.book(Book::DeadLetter {
            entry: entry.to_owned(),
            handler: String::new(),
            reason: "undecodable",
            attempts: 0,
            error: error.to_owned(),
            route: super::redis_admin::NO_ROUTE.to_owned(),
            letter: super::redis_admin::letter_json(None, "undecodable", 0, Some(error)),
        });
        self.book(Book::Complete {
            entry: entry.to_owned(),
        });
    }

    async fn route_states(&self, entry: &str) -> RedisResult<Vec<RouteState>> {
        let mut conn = self.conn.clone();
        let rows: Vec<(u32, String)> = redis::cmd("HGETALL")
            .arg(self.keys.state(entry))
            .query_async(&mut conn)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(route, value)| parse_route(route, &value))
            .collect())
    }
}

/// A stream id `ms-seq` as an [`StoredId`] (for log lines and errors): the milliseconds shifted
/// left by 20 bits, plus the sequence.
pub(super) fn event_id(id: &str) -> StoredId {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    let ms: u64 = ms.parse().unwrap_or(0);
    let seq: u64 = seq.parse().unwrap_or(0);
    StoredId::new((ms << 20) | (seq & 0xf_ffff))
}

/// A handler's state as stored in the hash: `attempts:next_at_ms:done`.
fn route_value(attempts: u32, next_at: Option<SystemTime>, done: bool) -> String {
    format!(
        "{attempts}:{}:{}",
        record::next_at_to_millis(next_at),
        u8::from(done)
    )
}

pub(super) fn parse_route(route: u32, value: &str) -> Option<RouteState> {
    let mut parts = value.split(':');
    let attempts = parts.next()?.parse().ok()?;
    let next_at_ms: u64 = parts.next()?.parse().ok()?;
    let done = parts.next()? == "1";
    Some(RouteState {
        route,
        attempts,
        next_at: (next_at_ms > 0)
            .then(|| record::from_millis(next_at_ms))
            .flatten(),
        done,
    })
}

/// One entry held by this replica.
struct RedisEntry {
    inner: Arc<Inner>,
    id: String,
}

impl fmt::Debug for RedisEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisEntry").field("id", &self.id).finish()
    }
}

impl Drop for RedisEntry {
    /// Its jobs are over: completed, or left for another replica at a drain deadline. Either
    /// way this replica stops refreshing it, so that a left entry is taken over.
    fn drop(&mut self) {
        self.inner.held().remove(&self.id);
    }
}

impl Entry for RedisEntry {
    fn record_attempt(&self, route: u32, attempts: u32, next_at: Option<SystemTime>) {
        self.inner.book(Book::Attempt {
            entry: self.id.clone(),
            route,
            value: route_value(attempts, next_at, false),
        });
    }

    fn complete_route(&self, route: u32) {
        self.inner.book(Book::Attempt {
            entry: self.id.clone(),
            route,
            value: route_value(0, None, true),
        });
    }

    fn complete(&self) {
        self.inner.book(Book::Complete {
            entry: self.id.clone(),
        });
    }

    fn dead_letter(&self, letter: &DeadLetterRecord<'_>) {
        self.inner.book(Book::DeadLetter {
            entry: self.id.clone(),
            handler: letter.handler.unwrap_or_default().to_owned(),
            reason: letter.reason,
            attempts: letter.attempts,
            error: letter.error.unwrap_or_default().to_owned(),
            route: letter.route.map_or_else(
                || super::redis_admin::NO_ROUTE.to_owned(),
                |r| r.to_string(),
            ),
            letter: super::redis_admin::letter_json(
                letter.handler,
                letter.reason,
                letter.attempts,
                letter.error,
            ),
        });
    }

    fn undecodable(&self, error: &str) {
        self.inner.undecodable(&self.id, error);
    }
}

impl Store for RedisInbox {
    /// One script call that claims the key and appends the event (its body, its
    /// non-credential headers, its receive time) to the stream, or answers duplicate, or
    /// refuses with [`StoreError::backlog_full`] past [`max_backlog`](RedisInboxBuilder::max_backlog).
    /// A dropped request leaves nothing half done: the event is in the stream or not.
    async fn accept(&self, event: Incoming<'_>) -> Result<Accepted, StoreError> {
        let inner = &self.inner;
        let record = record::encode(&NewEvent::from_incoming(&event))?;
        let mut conn = inner.conn.clone();
        let ttl_ms = u64::try_from(inner.dedup_ttl.as_millis()).unwrap_or(u64::MAX);
        let mut invocation = inner.accept.key(inner.keys.dedup(event.key()));
        invocation
            .key(&inner.keys.stream)
            .arg(ttl_ms)
            .arg(inner.max_backlog)
            .arg(record);
        let reply: Value =
            tokio::time::timeout(inner.accept_timeout, invocation.invoke_async(&mut conn))
                .await
                .map_err(|_| {
                    InboxError::storage(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer from Redis within {:?}", inner.accept_timeout),
                    ))
                })?
                .map_err(InboxError::storage)?;
        match reply {
            Value::Int(0) => Ok(Accepted::Duplicate),
            Value::Int(-1) => Err(StoreError::backlog_full(inner.max_backlog)),
            other => match String::from_redis_value(&other) {
                Ok(_) => Ok(Accepted::Stored),
                Err(e) => Err(StoreError::new(e)),
            },
        }
    }

    fn is_shared(&self) -> bool {
        true
    }

    /// The consumer: what this replica reads from the group, and what it takes over from a
    /// replica that stopped, one at a time (the receiver takes one only when it has room).
    fn feed(&self) -> Option<mpsc::Receiver<Pending>> {
        let (tx, rx) = mpsc::channel(1);
        let stop = CancellationToken::new();
        let closed = tx.clone();
        let cancel = stop.clone();
        tokio::spawn(async move {
            closed.closed().await;
            cancel.cancel();
        });
        tokio::spawn(consume(Arc::clone(&self.inner), tx, stop));
        Some(rx)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.inner.book(Book::Flush { reply });
        rx.await.map_err(|_| StoreError::from(InboxError::Closed))
    }

    fn location(&self) -> String {
        format!(
            "{} stream {}",
            self.inner.url,
            String::from_utf8_lossy(&self.inner.keys.stream)
        )
    }
}

/// The consumer: takes over entries idle past the visibility timeout (at the start, and every
/// half timeout), and reads new ones; one at a time, and only once the receiver has room for
/// it (a slot of the feed reserved first), so that this replica holds nothing it does not keep
/// fresh and leaves what it has no room for to the other replicas.
async fn consume(inner: Arc<Inner>, tx: mpsc::Sender<Pending>, stop: CancellationToken) {
    let min_idle = u64::try_from(inner.visibility.as_millis()).unwrap_or(u64::MAX);
    let mut cursor = "0-0".to_owned();
    let mut next_sweep = Instant::now();
    let mut reader = inner.reader.clone();
    let mut conn = inner.conn.clone();
    loop {
        // A slot the entry read next goes into at once.
        let permit = tokio::select! {
            permit = tx.reserve() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            () = stop.cancelled() => return,
        };
        let mut entry: Option<(StreamId, bool)> = None;
        if Instant::now() >= next_sweep {
            let claimed: RedisResult<StreamAutoClaimReply> = redis::cmd("XAUTOCLAIM")
                .arg(&inner.keys.stream)
                .arg(&inner.group)
                .arg(&inner.consumer)
                .arg(min_idle)
                .arg(&cursor)
                .arg("COUNT")
                .arg(1)
                .query_async(&mut conn)
                .await;
            match claimed {
                Ok(reply) => {
                    for gone in &reply.deleted_ids {
                        tracing::debug!(entry = %gone, "a taken-over Redis inbox entry was deleted already");
                    }
                    if reply.next_stream_id == "0-0" {
                        next_sweep = Instant::now() + inner.visibility / 2;
                    }
                    cursor = reply.next_stream_id;
                    if let Some(claimed) = reply.claimed.into_iter().next() {
                        inner.hold(&claimed.id);
                        tracing::warn!(entry = %claimed.id, consumer = %inner.consumer, "taking over a Redis inbox entry idle past the visibility timeout (its replica stopped or stalled)");
                        entry = Some((claimed, true));
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "Redis inbox: taking over idle entries failed; trying again in 1 s");
                    next_sweep = Instant::now() + Duration::from_secs(1);
                }
            }
        }
        if entry.is_none() {
            let block = READ_BLOCK.min(next_sweep.saturating_duration_since(Instant::now()));
            let mut read_cmd = redis::cmd("XREADGROUP");
            read_cmd
                .arg("GROUP")
                .arg(&inner.group)
                .arg(&inner.consumer)
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(u64::try_from(block.as_millis()).unwrap_or(1000).max(1))
                .arg("STREAMS")
                .arg(&inner.keys.stream)
                .arg(">");
            let read: RedisResult<Option<StreamReadReply>> = tokio::select! {
                read = read_cmd.query_async(&mut reader) => read,
                () = stop.cancelled() => return,
            };
            match read {
                Ok(Some(reply)) => {
                    entry = reply
                        .keys
                        .into_iter()
                        .flat_map(|k| k.ids)
                        .next()
                        .map(|read| {
                            inner.hold(&read.id);
                            (read, false)
                        });
                }
                Ok(None) => {}
                Err(error) if error.code() == Some("NOGROUP") => {
                    // The server lost the group (restarted without persistence, or the key was
                    // deleted): make it again, from the start of what the stream holds now.
                    tracing::warn!(%error, group = %inner.group, "Redis inbox: the consumer group is gone; creating it again");
                    if let Err(error) = create_group(&mut conn, &inner.keys, &inner.group).await {
                        tracing::warn!(%error, "Redis inbox: creating the consumer group failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "Redis inbox: reading the stream failed; trying again in 1 s");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = stop.cancelled() => return,
                    }
                }
            }
        }
        let Some((entry, replayed)) = entry else {
            continue;
        };
        if let Some(pending) = inner.pending(&entry, replayed).await {
            // Held until the receiver is done with it (or drops it unrun: then another replica
            // takes it over after the visibility timeout).
            permit.send(pending);
        }
    }
}

/// Keeps the entries this replica holds from going idle: re-claims those it still owns every
/// third of the visibility timeout ([`REFRESH`]), and stops refreshing those it lost (completed,
/// or taken over by another replica after this one stalled). Deletes the group's idle consumers
/// every [`forget_consumers_after`](RedisInboxBuilder::forget_consumers_after). Ends when the
/// inbox is dropped.
async fn heartbeat(inner: Weak<Inner>) {
    let Some((period, forget_every)) = inner
        .upgrade()
        .map(|i| (i.visibility / 3, i.forget_consumers_after))
    else {
        return;
    };
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut next_forget = Instant::now() + forget_every;
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let ids: Vec<String> = inner.held().iter().cloned().collect();
        let mut conn = inner.conn.clone();
        for chunk in ids.chunks(256) {
            let lost: RedisResult<Vec<String>> = redis::cmd("EVAL")
                .arg(REFRESH)
                .arg(1)
                .arg(&inner.keys.stream)
                .arg(&inner.group)
                .arg(&inner.consumer)
                .arg(chunk)
                .query_async(&mut conn)
                .await;
            match lost {
                Ok(lost) => {
                    for entry in lost {
                        // Completed meanwhile (its bookkeeping not applied yet), or taken over.
                        if inner.held().remove(&entry) {
                            tracing::debug!(%entry, consumer = %inner.consumer, "Redis inbox: a held entry is no longer this replica's (completed, or taken over after a stall)");
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, entries = chunk.len(), "Redis inbox: refreshing held entries failed: another replica may take them over after the visibility timeout");
                }
            }
        }
        if Instant::now() >= next_forget {
            next_forget = Instant::now() + forget_every;
            let _ = inner.forget_consumers().await;
        }
    }
}

/// The most bookkeeping commands sent in one pipeline.
const BOOK_BATCH: usize = 256;

/// Applies the bookkeeping in batches of what is waiting (one pipeline, one round trip each):
/// first the attempts and dead letters in order, then the completions (`XDEL` before `XACK`, so
/// that an interrupted completion leaves an entry the next take-over drops, never an
/// acknowledged entry counted in the backlog for ever). A batch is tried three times; one that
/// still fails is logged: its events (or handlers) may then run again (at least once).
async fn bookkeeper(inner: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<Book>) {
    let mut batch = Vec::with_capacity(BOOK_BATCH);
    while rx.recv_many(&mut batch, BOOK_BATCH).await > 0 {
        let Some(inner) = inner.upgrade() else {
            // The inbox is gone: answer flushes, drop the rest.
            for book in batch.drain(..) {
                if let Book::Flush { reply } = book {
                    let _ = reply.send(());
                }
            }
            continue;
        };
        let pipe = book_pipeline(&inner, &batch);
        let mut conn = inner.conn.clone();
        let commands = pipe.cmd_iter().count();
        for tries in (1..=3u64).take_while(|_| commands > 0) {
            match pipe.query_async::<()>(&mut conn).await {
                Ok(()) => break,
                Err(error) if tries < 3 => {
                    tracing::warn!(%error, "Redis inbox bookkeeping failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                }
                Err(error) => {
                    tracing::error!(%error, commands = batch.len(), "Redis inbox bookkeeping failed: its events may run again");
                }
            }
        }
        for book in batch.drain(..) {
            match book {
                Book::Complete { entry } => {
                    inner.held().remove(&entry);
                }
                Book::Flush { reply } => {
                    let _ = reply.send(());
                }
                Book::Attempt { .. } | Book::DeadLetter { .. } => {}
            }
        }
    }
}

/// One pipeline for a batch of bookkeeping.
fn book_pipeline(inner: &Inner, batch: &[Book]) -> redis::Pipeline {
    let keys = &inner.keys;
    let ttl_ms = u64::try_from(inner.dedup_ttl.as_millis()).unwrap_or(u64::MAX);
    let mut pipe = redis::pipe();
    let mut done: Vec<&str> = Vec::new();
    for book in batch {
        match book {
            Book::Attempt {
                entry,
                route,
                value,
            } => {
                pipe.cmd("EVAL")
                    .arg(PROGRESS)
                    .arg(2)
                    .arg(&keys.stream)
                    .arg(keys.state(entry))
                    .arg(&inner.group)
                    .arg(&inner.consumer)
                    .arg(entry)
                    .arg(route)
                    .arg(value)
                    .arg(ttl_ms)
                    .ignore();
            }
            Book::DeadLetter {
                entry,
                handler,
                reason,
                attempts,
                error,
                route,
                letter,
            } => {
                pipe.cmd("EVAL")
                    .arg(DEAD_LETTER)
                    .arg(4)
                    .arg(&keys.stream)
                    .arg(&keys.dead)
                    .arg(keys.dead_event(entry))
                    .arg(&keys.dead_index)
                    .arg(entry)
                    .arg(inner.dead_letter_max)
                    .arg(handler)
                    .arg(*reason)
                    .arg(attempts)
                    .arg(error)
                    .arg(&inner.group)
                    .arg(&inner.consumer)
                    .arg(route)
                    .arg(letter)
                    .ignore();
            }
            Book::Complete { entry } => done.push(entry),
            Book::Flush { .. } => {}
        }
    }
    if !done.is_empty() {
        pipe.cmd("XDEL").arg(&keys.stream).arg(&done).ignore();
        pipe.cmd("XACK")
            .arg(&keys.stream)
            .arg(&inner.group)
            .arg(&done)
            .ignore();
        pipe.cmd("DEL")
            .arg(done.iter().map(|e| keys.state(e)).collect::<Vec<_>>())
            .ignore();
    }
    pipe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_values_round_trip() {
        let at = record::from_millis(1_700_000_000_123).unwrap();
        let state = parse_route(7, &route_value(3, Some(at), false)).unwrap();
        assert_eq!(
            state,
            RouteState {
                route: 7,
                attempts: 3,
                next_at: Some(at),
                done: false
            }
        );
        assert!(parse_route(7, &route_value(0, None, true)).unwrap().done);
        assert_eq!(parse_route(1, "garbage"), None);
    }

    #[test]
    fn stream_ids_map_to_distinct_event_ids() {
        assert_ne!(event_id("1700000000000-0"), event_id("1700000000000-1"));
        assert_ne!(event_id("1700000000000-0"), event_id("1700000000001-0"));
    }

    #[test]
    fn a_builders_debug_has_no_password() {
        let builder = RedisInbox::builder("redis://user:s3cr3t-pw@host:6379/0");
        let debug = format!("{builder:?}");
        assert!(!debug.contains("s3cr3t-pw"), "{debug}");
        assert!(debug.contains("redis://…@host:6379/0"), "{debug}");
    }
}
