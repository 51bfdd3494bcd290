//! [`PostgresInbox`]: an inbox shared by every replica, in PostgreSQL, on the application's own
//! connection pool; and [`PostgresInbox::transactional`], handlers whose database writes commit
//! together with the mark that they ran.

mod accept;
mod admin;
mod backlog;
mod entry;
mod feed;
mod schema;
mod transactional;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;

use super::error::InboxError;
use crate::dedup::DEFAULT_TTL;
use crate::store::{Accepted, Incoming, Pending, Store, StoreError};

pub use transactional::TxFuture;

/// The default schema of a [`PostgresInbox`].
const DEFAULT_SCHEMA: &str = "webhook_inbox";

/// The default bound on events accepted and not done ([`PostgresInboxBuilder::max_backlog`]).
const DEFAULT_MAX_BACKLOG: u64 = 100_000;

/// An inbox shared by every replica of a receiver, in PostgreSQL (feature `postgres`;
/// PostgreSQL 12 or newer), on the sqlx [`PgPool`] the application already has.
///
/// - **Accept:** before the 200, one statement claims the dedup key (`INSERT INTO keys ..
///   ON CONFLICT (key) DO NOTHING`) and, for a key that was not there, stores the raw event (its
///   body, its non-credential headers, its key and receive time) in `events`; it commits before
///   the receiver answers. Accepts that arrive together share one statement and one commit
///   (group commit, [`max_batch`](PostgresInboxBuilder::max_batch) events at most), so the cost
///   per event falls under load. A redelivery to any replica finds the key and is answered 200
///   `"duplicate": true`. Past [`max_backlog`](PostgresInboxBuilder::max_backlog) events not
///   done, accepts are refused (503, nothing remembered) until the replicas catch up.
/// - **Run:** an event accepted by a replica whose dispatcher has room
///   ([`Incoming::local_slot`](crate::store::Incoming::local_slot)) is stored leased to it and
///   runs there at once, decoded once: no claim, no notification. The others wait for a claim:
///   every replica claims events with a lease (`UPDATE events SET lease_owner = ..,
///   lease_until = now() + lease WHERE id IN (SELECT id .. FOR UPDATE SKIP LOCKED LIMIT n)
///   RETURNING ..`), only as many as its dispatcher has room for; it is woken by `LISTEN/NOTIFY`
///   (a trigger notifies on every accept that stored an event without a lease) and polls every
///   [`poll_interval`](PostgresInboxBuilder::poll_interval) as a fallback. A live replica
///   extends the leases of the events it holds every third of the lease; an event whose lease
///   expired (its replica died or stalled) is claimed by another replica, which runs the
///   handlers not done yet, each from its recorded attempt.
/// - **Progress:** each handler's attempts, next retry and completion are rows of `routes`;
///   a dead letter is a row of `dead_letters` with the body, the headers and the last error;
///   when every handler is done the event's row is deleted (its routes with it). A replica
///   writes progress only for events it still holds: a late run's bookkeeping is dropped.
/// - **Pruning:** every replica deletes, every
///   [`prune_interval`](PostgresInboxBuilder::prune_interval), dedup keys older than the
///   [dedup TTL](PostgresInboxBuilder::dedup_ttl) whose event is done, with their effect marks.
///
/// # Tables
///
/// All in the schema [`schema`](PostgresInboxBuilder::schema) (default `webhook_inbox`),
/// created and migrated by [`connect`](PostgresInboxBuilder::connect):
///
/// | table | one row per | columns | size |
/// |---|---|---|---|
/// | `schema_version` | (one row) | `version` | - |
/// | `keys` | dedup key remembered | `key` (16 bytes), `expires_at` | events per dedup TTL |
/// | `events` | event accepted and not done | `id`, `key`, `body`, `headers` (`name: value` lines), `received_at`, `accepted_at`, `lease_owner`, `lease_until`, `leases` (times claimed), `replays`, `last_replayed_at`, `listed_only` (an operator's replay of dead letters) | the backlog: small, at most about [`max_backlog`](PostgresInboxBuilder::max_backlog) |
/// | `routes` | handler of a not-done event that recorded progress | `event_id`, `route`, `attempts`, `next_at`, `done`, `updated_at` | the backlog's handlers |
/// | `dead_letters` | handler that gave up | `event_id`, `key`, `body`, `headers`, `received_at`, `handler`, `route`, `reason`, `attempts`, `error`, `dead_at`, `replays`, `last_replayed_at` | kept until an operator replays, deletes or prunes them ([`InboxAdmin`](crate::store::InboxAdmin)) |
/// | `effects` | transactional handler run on an event | `key`, `handler`, `done_at` | like `keys` |
///
/// # Guarantees
///
/// At least once, like every inbox: an event that got a 200 is run by some replica, even if the
/// one holding it dies (`kill -9`), once its lease expires. A plain handler can run twice:
/// when a replica dies after it succeeded but before that was recorded, or when a replica
/// stalls longer than the lease. A [transactional](Self::transactional) handler's database
/// writes happen exactly once per event: see there for what that covers.
///
/// Accepts commit with the session's `synchronous_commit` (keep it `on`: see `DEPLOYMENT.md`);
/// claims and bookkeeping commit with it `off`, since what a server crash loses of them only
/// makes events or handlers run again.
///
/// While PostgreSQL is unreachable or slower than the
/// [accept timeout](PostgresInboxBuilder::accept_timeout), accepts fail and the receiver answers
/// 503 with `Retry-After`: the sender retries. An accept given up on while its statement was
/// already running may still commit; the event then runs and the retry is a duplicate.
///
/// ```no_run
/// use webhook_receiver::chirp;
/// use webhook_receiver::store::PostgresInbox;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
/// let pool = sqlx::PgPool::connect("postgres://app@127.0.0.1/app").await?;
/// let inbox = PostgresInbox::builder(pool).schema("chirp_inbox").connect().await?;
/// let webhooks = chirp::webhooks(["a-long-enough-secret"])?
///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async {})
///     .store(inbox)
///     .spawn();
/// # drop(webhooks);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresInbox {
    inner: Arc<Inner>,
}

/// What the inbox's tasks share: the pool, the statements, the settings.
pub(super) struct Shared {
    pub(super) pool: PgPool,
    pub(super) schema: String,
    pub(super) sql: Sql,
    /// This replica's name in `lease_owner`.
    pub(super) owner: String,
    pub(super) dedup_ttl: Duration,
    pub(super) lease: Duration,
    pub(super) poll_interval: Duration,
    pub(super) prune_interval: Duration,
    pub(super) claim_batch: usize,
    /// The accepts' bound on `events`.
    pub(in crate::inbox::postgres) backlog: backlog::BacklogBound,
}

struct Inner {
    shared: Arc<Shared>,
    accept_timeout: Duration,
    accepts: mpsc::Sender<accept::Accept>,
    /// Events this replica holds (handed to the dispatcher, not completed): their leases are
    /// extended every third of the lease.
    held: Mutex<HashSet<i64>>,
    book: mpsc::UnboundedSender<entry::Book>,
}

impl Inner {
    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn book(&self, book: entry::Book) {
        if self.book.send(book).is_err() {
            tracing::error!("Postgres inbox bookkeeping dropped: its task is gone");
        }
    }
}

/// The statements, with the schema written in.
pub(super) struct Sql {
    pub(super) accept: String,
    pub(super) claim: String,
    pub(super) routes: String,
    pub(super) extend: String,
    pub(super) progress: String,
    pub(super) dead_letter: String,
    pub(super) complete: String,
    pub(super) release: String,
    pub(super) prune: String,
    pub(super) effect: String,
    pub(super) backlog: String,
    pub(super) dead_letters: String,
}

impl Sql {
    fn new(schema: &str) -> Self {
        let q = |sql: &str| sql.replace("{s}", &format!("\"{schema}\""));
        Self {
            // An event whose receiver has a place for it (`local`) is stored leased to this
            // replica (`leases` 1), which runs it at once: no claim, and no notification (the
            // trigger notifies only for rows stored without a lease).
            accept: q("WITH input AS (
                    SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::int8[],
                            $6::bool[])
                        AS t(key, body, headers, received_ms, local)
                ), claimed AS (
                    INSERT INTO {s}.keys (key, expires_at)
                    SELECT key, now() + $5 * interval '1 millisecond' FROM input
                    ON CONFLICT (key) DO NOTHING
                    RETURNING key
                )
                INSERT INTO {s}.events (key, body, headers, received_at, lease_owner, lease_until,
                    leases)
                SELECT i.key, i.body, i.headers, to_timestamp(i.received_ms / 1000.0),
                    CASE WHEN i.local THEN $7 END,
                    CASE WHEN i.local THEN now() + $8 * interval '1 millisecond' END,
                    CASE WHEN i.local THEN 1 ELSE 0 END
                FROM input i JOIN claimed c ON c.key = i.key
                RETURNING key, id, lease_owner IS NOT NULL"),
            // The claim's commit does not wait for its WAL flush (`set_config(..., true)`: for
            // this statement's transaction only): a claim a server crash loses leaves the event
            // claimable again (at least once).
            claim: q("WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
                UPDATE {s}.events e
                SET lease_owner = $1, lease_until = now() + $2 * interval '1 millisecond',
                    leases = e.leases + 1
                WHERE EXISTS (SELECT 1 FROM async) AND e.id IN (
                    SELECT id FROM {s}.events
                    WHERE lease_until IS NULL OR lease_until < now()
                    ORDER BY id
                    LIMIT $3
                    FOR UPDATE SKIP LOCKED
                )
                RETURNING e.id, e.key, e.body, e.headers,
                    (extract(epoch FROM e.received_at) * 1000)::int8, e.leases, e.listed_only"),
            routes: q("SELECT event_id, route, attempts,
                    coalesce((extract(epoch FROM next_at) * 1000)::int8, 0), done
                FROM {s}.routes WHERE event_id = ANY($1)"),
            extend: q("UPDATE {s}.events SET lease_until = now() + $3 * interval '1 millisecond'
                WHERE id = ANY($1) AND lease_owner = $2 RETURNING id"),
            progress: q("INSERT INTO {s}.routes (event_id, route, attempts, next_at, done)
                SELECT t.id, t.route, t.attempts,
                    CASE WHEN t.next_ms > 0 THEN to_timestamp(t.next_ms / 1000.0) END, t.done
                FROM unnest($1::int8[], $2::int4[], $3::int4[], $4::int8[], $5::bool[])
                    AS t(id, route, attempts, next_ms, done)
                JOIN {s}.events e ON e.id = t.id AND e.lease_owner = $6
                ON CONFLICT (event_id, route) DO UPDATE SET
                    attempts = CASE WHEN EXCLUDED.done THEN {s}.routes.attempts ELSE EXCLUDED.attempts END,
                    next_at = EXCLUDED.next_at, done = EXCLUDED.done, updated_at = now()"),
            dead_letter: q("INSERT INTO {s}.dead_letters
                    (event_id, key, body, headers, received_at, handler, reason, attempts, error,
                     route, replays, last_replayed_at)
                SELECT e.id, e.key, e.body, e.headers, e.received_at, $3, $4, $5, $6,
                    $7, e.replays, e.last_replayed_at
                FROM {s}.events e WHERE e.id = $1 AND e.lease_owner = $2"),
            complete: q("WITH done AS (
                    DELETE FROM {s}.events WHERE id = ANY($1) AND lease_owner = $2 RETURNING id
                )
                DELETE FROM {s}.routes WHERE event_id IN (SELECT id FROM done)"),
            release: q("UPDATE {s}.events SET lease_until = NULL
                WHERE id = ANY($1) AND lease_owner = $2"),
            prune: q("WITH gone AS (
                    DELETE FROM {s}.keys WHERE key IN (
                        SELECT k.key FROM {s}.keys k
                        WHERE k.expires_at < now()
                          AND k.key NOT IN (SELECT e.key FROM {s}.events e)
                        LIMIT $1
                        FOR UPDATE SKIP LOCKED
                    )
                    RETURNING key
                ), effects AS (
                    DELETE FROM {s}.effects WHERE key IN (SELECT key FROM gone)
                )
                SELECT count(*) FROM gone"),
            effect: q("INSERT INTO {s}.effects (key, handler) VALUES ($1, $2)
                ON CONFLICT DO NOTHING"),
            backlog: q("SELECT count(*) FROM {s}.events"),
            dead_letters: q("SELECT count(*) FROM {s}.dead_letters"),
        }
    }
}

/// Builds a [`PostgresInbox`]: [`PostgresInbox::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use webhook_receiver::store::PostgresInbox;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
/// let pool = sqlx::PgPool::connect("postgres://app@127.0.0.1/app").await?;
/// let inbox = PostgresInbox::builder(pool)
///     .schema("chirp_inbox")
///     .lease(Duration::from_secs(60))
///     .dedup_ttl(Duration::from_secs(48 * 3600))
///     .connect()
///     .await?;
/// # drop(inbox); Ok(()) }
/// ```
#[derive(Clone)]
#[must_use = "call `connect()` to create the inbox"]
pub struct PostgresInboxBuilder {
    pool: PgPool,
    schema: String,
    owner: Option<String>,
    dedup_ttl: Duration,
    lease: Duration,
    poll_interval: Duration,
    prune_interval: Duration,
    accept_timeout: Duration,
    max_batch: usize,
    committers: usize,
    claim_batch: usize,
    max_backlog: u64,
}

impl fmt::Debug for PostgresInboxBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresInboxBuilder")
            .field("schema", &self.schema)
            .field("owner", &self.owner)
            .field("dedup_ttl", &self.dedup_ttl)
            .field("lease", &self.lease)
            .field("poll_interval", &self.poll_interval)
            .field("prune_interval", &self.prune_interval)
            .field("accept_timeout", &self.accept_timeout)
            .field("max_batch", &self.max_batch)
            .field("committers", &self.committers)
            .field("claim_batch", &self.claim_batch)
            .field("max_backlog", &self.max_backlog)
            .finish_non_exhaustive()
    }
}

impl PostgresInbox {
    /// The default schema: `webhook_inbox`.
    ///
    /// ```
    /// use webhook_receiver::store::PostgresInbox;
    /// assert_eq!(PostgresInbox::DEFAULT_SCHEMA, "webhook_inbox");
    /// ```
    pub const DEFAULT_SCHEMA: &'static str = DEFAULT_SCHEMA;

    /// Configures an inbox on `pool` (the application's own: the inbox takes connections from it
    /// for accepts, claims and bookkeeping, plus one of its own for `LISTEN`).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), webhook_receiver::BoxError> {
    /// let pool = sqlx::PgPool::connect("postgres://app@127.0.0.1/app").await?;
    /// let builder = webhook_receiver::store::PostgresInbox::builder(pool);
    /// # let _ = builder; Ok(()) }
    /// ```
    pub fn builder(pool: PgPool) -> PostgresInboxBuilder {
        PostgresInboxBuilder {
            pool,
            schema: DEFAULT_SCHEMA.to_owned(),
            owner: None,
            dedup_ttl: DEFAULT_TTL,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            prune_interval: Duration::from_secs(60),
            accept_timeout: Duration::from_secs(1),
            max_batch: 256,
            committers: 4,
            claim_batch: 32,
            max_backlog: DEFAULT_MAX_BACKLOG,
        }
    }

    /// The pool the inbox uses (the one it was built with).
    ///
    /// ```no_run
    /// # async fn f(inbox: webhook_receiver::store::PostgresInbox) -> Result<(), sqlx::Error> {
    /// let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(inbox.pool()).await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.inner.shared.pool
    }

    /// The schema its tables are in.
    ///
    /// ```no_run
    /// # fn f(inbox: webhook_receiver::store::PostgresInbox) {
    /// assert_eq!(inbox.schema(), "webhook_inbox");
    /// # }
    /// ```
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.inner.shared.schema
    }

    /// This replica's name, as written in `events.lease_owner` for the events it holds.
    ///
    /// ```no_run
    /// # fn f(inbox: webhook_receiver::store::PostgresInbox) {
    /// println!("this replica leases events as {}", inbox.owner());
    /// # }
    /// ```
    #[must_use]
    pub fn owner(&self) -> &str {
        &self.inner.shared.owner
    }

    /// Events accepted and not done yet (rows of `events`).
    ///
    /// # Errors
    ///
    /// [`InboxError::Storage`] if PostgreSQL does not answer.
    ///
    /// ```no_run
    /// # async fn f(inbox: webhook_receiver::store::PostgresInbox) {
    /// println!("{} events not done", inbox.backlog().await.unwrap());
    /// # }
    /// ```
    pub async fn backlog(&self) -> Result<u64, InboxError> {
        self.count(&self.inner.shared.sql.backlog).await
    }

    /// Dead letters kept (rows of `dead_letters`).
    ///
    /// # Errors
    ///
    /// [`InboxError::Storage`] if PostgreSQL does not answer.
    ///
    /// ```no_run
    /// # async fn f(inbox: webhook_receiver::store::PostgresInbox) {
    /// assert_eq!(inbox.dead_letters().await.unwrap(), 0);
    /// # }
    /// ```
    pub async fn dead_letters(&self) -> Result<u64, InboxError> {
        self.count(&self.inner.shared.sql.dead_letters).await
    }

    async fn count(&self, sql: &str) -> Result<u64, InboxError> {
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&self.inner.shared.pool)
            .await
            .map_err(InboxError::storage)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// Deletes now the dedup keys older than the dedup TTL whose events are done, with their
    /// effect marks, as every replica does every
    /// [`prune_interval`](PostgresInboxBuilder::prune_interval); returns how many keys.
    ///
    /// # Errors
    ///
    /// [`InboxError::Storage`] if PostgreSQL does not answer.
    ///
    /// ```no_run
    /// # async fn f(inbox: webhook_receiver::store::PostgresInbox) {
    /// let pruned = inbox.prune().await.unwrap();
    /// # }
    /// ```
    pub async fn prune(&self) -> Result<u64, InboxError> {
        feed::prune(&self.inner.shared).await
    }
}

impl fmt::Debug for PostgresInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.inner.shared;
        f.debug_struct("PostgresInbox")
            .field("schema", &s.schema)
            .field("owner", &s.owner)
            .field("lease", &s.lease)
            .field("dedup_ttl", &s.dedup_ttl)
            .finish_non_exhaustive()
    }
}

impl PostgresInboxBuilder {
    /// The schema of the inbox's tables (default `webhook_inbox`): a lowercase identifier
    /// (`[a-z_][a-z0-9_]*`, at most 40 bytes), checked by [`connect`](Self::connect). Give each
    /// receiver its own when several share a database.
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// let b = webhook_receiver::store::PostgresInbox::builder(pool).schema("chirp_inbox");
    /// # }
    /// ```
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// This replica's name in `events.lease_owner` (default: host name, process id and a random
    /// suffix, new at every start, so that a restarted replica never mistakes its predecessor's
    /// leases for its own).
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// let b = webhook_receiver::store::PostgresInbox::builder(pool).owner("pod-7");
    /// # }
    /// ```
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// How long a dedup key is remembered after its event was accepted (default 24 h): at least
    /// this long, and until its event is done and the next prune.
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// let b = webhook_receiver::store::PostgresInbox::builder(pool)
    ///     .dedup_ttl(std::time::Duration::from_secs(6 * 3600));
    /// # }
    /// ```
    pub fn dedup_ttl(mut self, ttl: Duration) -> Self {
        self.dedup_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// How long a claimed event stays this replica's without being extended (default 30 s; at
    /// least 1 s). A live replica extends it every third of this; an event whose lease expired
    /// is claimed by another replica. Shorter: a dead replica's events run sooner; but a replica
    /// stalled longer than this has its events run twice (a transactional handler's effects
    /// still once).
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// let b = webhook_receiver::store::PostgresInbox::builder(pool)
    ///     .lease(std::time::Duration::from_secs(10));
    /// # }
    /// ```
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_secs(1));
        self
    }

    /// How often a replica with room looks for events without being notified (default 1 s;
    /// at least 10 ms): events whose lease expired, and new ones if a notification was lost
    /// (the `LISTEN` connection is reconnecting).
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// let b = webhook_receiver::store::PostgresInbox::builder(pool)
    ///     .poll_interval(std::time::Duration::from_millis(250));
    /// # }
    /// ```
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How often each replica deletes expired dedup keys (default 60 s; at least 1 s), at most
    /// 10,000 per statement.
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// let b = webhook_receiver::store::PostgresInbox::builder(pool)
    ///     .prune_interval(std::time::Duration::from_secs(300));
    /// # }
    /// ```
    pub fn prune_interval(mut self, interval: Duration) -> Self {
        self.prune_interval = interval.max(Duration::from_secs(1));
        self
    }

    /// How long a request waits for its accept to commit (default 1 s), after which it is
    /// answered 503 with `Retry-After`.
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// let b = webhook_receiver::store::PostgresInbox::builder(pool)
    ///     .accept_timeout(std::time::Duration::from_millis(500));
    /// # }
    /// ```
    pub fn accept_timeout(mut self, timeout: Duration) -> Self {
        self.accept_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The most accepts that share one statement and commit (default 256; at least 1).
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// let b = webhook_receiver::store::PostgresInbox::builder(pool).max_batch(64);
    /// # }
    /// ```
    pub fn max_batch(mut self, max: usize) -> Self {
        self.max_batch = max.max(1);
        self
    }

    /// How many accept batches may commit at once (default 4; at least 1), each on a pool
    /// connection: while they commit, the next accepts gather into the next batches.
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// let b = webhook_receiver::store::PostgresInbox::builder(pool).committers(2);
    /// # }
    /// ```
    pub fn committers(mut self, n: usize) -> Self {
        self.committers = n.max(1);
        self
    }

    /// The most events one claim takes (default 32; at least 1); a replica never claims more
    /// than its dispatcher has room for, plus this many waiting in the feed.
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// let b = webhook_receiver::store::PostgresInbox::builder(pool).claim_batch(4);
    /// # }
    /// ```
    pub fn claim_batch(mut self, n: usize) -> Self {
        self.claim_batch = n.max(1);
        self
    }

    /// The most events accepted and not done (rows of `events`, every replica's) before accepts
    /// are refused: the receiver answers 503 with `Retry-After` and remembers nothing, and the
    /// sender retries once the replicas have caught up (default 100,000; 0: no bound). A
    /// redelivery is refused too while the backlog is full, as with the Redis inbox.
    ///
    /// The bound is approximate: each replica counts `events` and adds what it stored since,
    /// counting again every 250 ms once its estimate is within a tenth of the bound and every
    /// 5 s otherwise. So near the bound all replicas together may go past it by what they
    /// accept in 250 ms, and a replica may go on refusing for up to 250 ms after the backlog
    /// fell below it. Counting is a scan of `events`, dead rows included (2–3 ms at 10,000
    /// rows, about 10 ms at 100,000), only while accepts arrive.
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// let b = webhook_receiver::store::PostgresInbox::builder(pool).max_backlog(10_000);
    /// # }
    /// ```
    pub fn max_backlog(mut self, max: u64) -> Self {
        self.max_backlog = max;
        self
    }

    /// Creates or migrates the schema and its tables (idempotent; replicas starting together
    /// migrate once, under an advisory lock), and starts the inbox's tasks (group commit,
    /// bookkeeping, lease extension and pruning) on the current Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`InboxError::Connect`] if the schema name is not a plain identifier or PostgreSQL cannot
    /// be reached or refuses the statements; [`InboxError::UnsupportedFormat`] if the schema was
    /// migrated by a newer version of this crate.
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// let inbox = webhook_receiver::store::PostgresInbox::builder(pool).connect().await;
    /// assert!(inbox.is_ok());
    /// # }
    /// ```
    pub async fn connect(self) -> Result<PostgresInbox, InboxError> {
        let connect_error =
            |source: Arc<dyn std::error::Error + Send + Sync>| InboxError::Connect {
                url: postgres_location(&self.pool),
                source,
            };
        if !schema::valid_name(&self.schema) {
            return Err(connect_error(Arc::new(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "invalid schema name {:?}: a lowercase identifier [a-z_][a-z0-9_]*, at most 40 bytes",
                    self.schema
                ),
            ))));
        }
        match schema::migrate(&self.pool, &self.schema).await {
            Ok(()) => {}
            Err(InboxError::Storage(source)) => return Err(connect_error(source)),
            Err(other) => return Err(other),
        }
        let shared = Arc::new(Shared {
            pool: self.pool,
            sql: Sql::new(&self.schema),
            schema: self.schema,
            owner: self.owner.unwrap_or_else(default_owner),
            dedup_ttl: self.dedup_ttl,
            lease: self.lease,
            poll_interval: self.poll_interval,
            prune_interval: self.prune_interval,
            claim_batch: self.claim_batch,
            backlog: backlog::BacklogBound::new(self.max_backlog),
        });
        let accepts = accept::spawn(&shared, self.max_batch, self.committers);
        let (book, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            shared: Arc::clone(&shared),
            accept_timeout: self.accept_timeout,
            accepts,
            held: Mutex::new(HashSet::new()),
            book,
        });
        tokio::spawn(entry::bookkeeper(Arc::clone(&shared), rx));
        tokio::spawn(feed::heartbeat(Arc::downgrade(&inner)));
        Ok(PostgresInbox { inner })
    }
}

/// A route id (a 32-bit hash) as the `integer` columns keep it: the same bits, so ids above
/// `i32::MAX` stay distinct (they were clamped to `i32::MAX` before the operator API).
pub(super) const fn route_to_db(route: u32) -> i32 {
    i32::from_ne_bytes(route.to_ne_bytes())
}

/// The route id an `integer` column keeps ([`route_to_db`]'s inverse).
pub(super) const fn route_from_db(route: i32) -> u32 {
    u32::from_ne_bytes(route.to_ne_bytes())
}

/// `postgres://host:port/database` of the pool, without user or password.
fn postgres_location(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    )
}

fn default_owner() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}

impl Store for PostgresInbox {
    /// Hands the event to the group commit and waits for its batch's statement to commit (at
    /// most the [accept timeout](PostgresInboxBuilder::accept_timeout)). A request dropped
    /// before its batch runs keeps nothing; one dropped while it runs is committed and run
    /// (a shared backlog every feed reads).
    async fn accept(&self, event: Incoming<'_>) -> Result<Accepted, StoreError> {
        let outcome =
            accept::accept(&self.inner.accepts, &event, self.inner.accept_timeout).await?;
        Ok(match outcome {
            accept::Outcome::Duplicate => Accepted::Duplicate,
            accept::Outcome::Stored => Accepted::Stored,
            accept::Outcome::Leased(id) => {
                // Held from now: its lease is extended while it runs here.
                self.inner.held().insert(id);
                Accepted::New(Some(Box::new(entry::PgEntry::new(
                    Arc::clone(&self.inner),
                    id,
                ))))
            }
        })
    }

    fn is_shared(&self) -> bool {
        true
    }

    /// Claims events for this replica, as many as its dispatcher takes, woken by `NOTIFY` and
    /// polling as a fallback; ends when the receiver drops the feed.
    fn feed(&self) -> Option<mpsc::Receiver<Pending>> {
        Some(feed::spawn(&self.inner))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.inner.book(entry::Book::Flush { reply });
        rx.await.map_err(|_| StoreError::from(InboxError::Closed))
    }

    fn location(&self) -> String {
        format!(
            "{} schema {}",
            postgres_location(&self.inner.shared.pool),
            self.inner.shared.schema
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_ids_keep_their_bits() {
        for route in [0, 1, 0x7fff_ffff, 0x8000_0000, 0xdead_beef, u32::MAX] {
            assert_eq!(route_from_db(route_to_db(route)), route);
        }
        assert_ne!(route_to_db(0x8000_0000), route_to_db(u32::MAX));
    }
}
