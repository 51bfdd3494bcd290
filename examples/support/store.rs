//! The examples' store: in process (the library's default, `MokaStore`); dedup shared by
//! replicas on Redis when `REDIS_URL` is set (`RedisStore`, built with `--features redis`);
//! the durable inbox with `INBOX_PATH` (`DurableInbox`, `--features durable`); the Redis inbox
//! with `INBOX=redis` (`RedisInbox`); the Postgres inbox with `INBOX=postgres` and `DATABASE_URL`
//! (`PostgresInbox`, `--features postgres`). One enum over the library's stores, itself a store: each
//! example's `Webhooks` has one type whichever is chosen.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use webhook_receiver::BoxError;
use webhook_receiver::store::{Accepted, Incoming, MokaStore, Pending, Store, StoreError};

/// The store the environment chose.
#[derive(Debug, Clone)]
pub enum AnyStore {
    Memory(MokaStore),
    #[cfg(feature = "redis")]
    Redis(webhook_receiver::store::RedisStore),
    #[cfg(feature = "durable")]
    Durable(webhook_receiver::store::DurableInbox),
    #[cfg(feature = "redis")]
    RedisInbox(webhook_receiver::store::RedisInbox),
    #[cfg(feature = "postgres")]
    Postgres(webhook_receiver::store::PostgresInbox),
}

impl Store for AnyStore {
    async fn accept(&self, event: Incoming<'_>) -> Result<Accepted, StoreError> {
        match self {
            // Its accept completes synchronously, at the first poll.
            Self::Memory(store) => store.accept(event).await,
            #[cfg(feature = "redis")]
            Self::Redis(store) => store.accept(event).await,
            #[cfg(feature = "durable")]
            Self::Durable(store) => store.accept(event).await,
            #[cfg(feature = "redis")]
            Self::RedisInbox(store) => store.accept(event).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => store.accept(event).await,
        }
    }

    fn is_shared(&self) -> bool {
        match self {
            Self::Memory(store) => store.is_shared(),
            #[cfg(feature = "redis")]
            Self::Redis(store) => store.is_shared(),
            #[cfg(feature = "durable")]
            Self::Durable(store) => store.is_shared(),
            #[cfg(feature = "redis")]
            Self::RedisInbox(store) => store.is_shared(),
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => store.is_shared(),
        }
    }

    fn feed(&self) -> Option<mpsc::Receiver<Pending>> {
        match self {
            Self::Memory(store) => store.feed(),
            #[cfg(feature = "redis")]
            Self::Redis(store) => store.feed(),
            #[cfg(feature = "durable")]
            Self::Durable(store) => store.feed(),
            #[cfg(feature = "redis")]
            Self::RedisInbox(store) => store.feed(),
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => store.feed(),
        }
    }

    fn flush(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        let store = self.clone();
        async move {
            match &store {
                Self::Memory(store) => store.flush().await,
                #[cfg(feature = "redis")]
                Self::Redis(store) => store.flush().await,
                #[cfg(feature = "durable")]
                Self::Durable(store) => store.flush().await,
                #[cfg(feature = "redis")]
                Self::RedisInbox(store) => store.flush().await,
                #[cfg(feature = "postgres")]
                Self::Postgres(store) => store.flush().await,
            }
        }
    }

    fn location(&self) -> String {
        match self {
            Self::Memory(store) => store.location(),
            #[cfg(feature = "redis")]
            Self::Redis(store) => store.location(),
            #[cfg(feature = "durable")]
            Self::Durable(store) => store.location(),
            #[cfg(feature = "redis")]
            Self::RedisInbox(store) => store.location(),
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => store.location(),
        }
    }
}

/// `REDIS_URL`, `REDIS_PREFIX`, `REDIS_FALLBACK`, `INBOX=redis`, `INBOX_VISIBILITY_SECS` and
/// `INBOX_MAX_BACKLOG`, as read. Its `Debug` leaves the URL out (it may hold a password).
#[derive(Clone)]
pub struct RedisConfig {
    url: String,
    prefix: Option<String>,
    fallback_to_memory: bool,
    /// `INBOX=redis`: the Redis inbox, not only the dedup store.
    pub inbox: bool,
    visibility: Option<Duration>,
    /// `INBOX_MAX_BACKLOG`: events the stream may hold not done (503 past it).
    max_backlog: Option<u64>,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &"(REDIS_URL, not shown)")
            .field("prefix", &self.prefix)
            .field("fallback_to_memory", &self.fallback_to_memory)
            .field("inbox", &self.inbox)
            .field("visibility", &self.visibility)
            .field("max_backlog", &self.max_backlog)
            .finish()
    }
}

impl RedisConfig {
    /// `None` when `REDIS_URL` is unset; `REDIS_FALLBACK` is `memory` or unset.
    pub fn from_env() -> Result<Option<Self>, BoxError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let postgres = var("INBOX").is_some_and(|v| v.trim() == "postgres");
        let inbox = match var("INBOX").as_deref().map(str::trim) {
            None | Some("postgres") => false,
            Some("redis") => true,
            Some(other) => {
                return Err(format!(
                    "invalid INBOX={other:?}: `redis` (with REDIS_URL) or `postgres` (with DATABASE_URL); for the durable inbox on disk set INBOX_PATH"
                )
                .into());
            }
        };
        let visibility = match var("INBOX_VISIBILITY_SECS") {
            None => None,
            Some(_) if !inbox => {
                return Err("INBOX_VISIBILITY_SECS is set but INBOX=redis is not".into());
            }
            Some(v) => Some(
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .map(Duration::from_secs)
                    .ok_or_else(|| {
                        format!("invalid INBOX_VISIBILITY_SECS={v:?}: whole seconds, at least 1")
                    })?,
            ),
        };
        let max_backlog = match var("INBOX_MAX_BACKLOG") {
            // The Postgres inbox reads it (`PostgresConfig`).
            Some(_) if postgres => None,
            None => None,
            Some(_) if !inbox => {
                return Err(
                    "INBOX_MAX_BACKLOG is set but neither INBOX=redis nor INBOX=postgres is".into(),
                );
            }
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                format!("invalid INBOX_MAX_BACKLOG={v:?}: a number of events (0: no limit)")
            })?),
        };
        let Some(url) = var("REDIS_URL") else {
            if inbox {
                return Err("INBOX=redis needs REDIS_URL (e.g. redis://127.0.0.1:6379; scripts/redis.sh starts one)".into());
            }
            for name in ["REDIS_PREFIX", "REDIS_FALLBACK"] {
                if var(name).is_some() {
                    return Err(format!("{name} is set but REDIS_URL is not").into());
                }
            }
            return Ok(None);
        };
        let fallback_to_memory = match var("REDIS_FALLBACK").as_deref().map(str::trim) {
            None => false,
            Some("memory") => true,
            Some(other) => {
                return Err(format!(
                    "invalid REDIS_FALLBACK={other:?}: the only fallback is `memory` (unset: answer 503 while Redis is down)"
                )
                .into());
            }
        };
        if inbox && fallback_to_memory {
            return Err("REDIS_FALLBACK=memory is for the dedup store: with INBOX=redis an outage answers 503 (the event must reach the shared inbox)".into());
        }
        Ok(Some(Self {
            url: url.trim().to_owned(),
            prefix: var("REDIS_PREFIX"),
            fallback_to_memory,
            inbox,
            visibility,
            max_backlog,
        }))
    }
}

/// The Redis inbox of `config` (`INBOX=redis`), its dedup TTL `ttl`.
#[cfg(feature = "redis")]
async fn redis_inbox(config: &RedisConfig, ttl: Option<Duration>) -> Result<AnyStore, BoxError> {
    let mut inbox = webhook_receiver::store::RedisInbox::builder(config.url.as_str());
    if let Some(prefix) = &config.prefix {
        inbox = inbox.prefix(prefix.as_str());
    }
    if let Some(ttl) = ttl {
        inbox = inbox.dedup_ttl(ttl);
    }
    if let Some(visibility) = config.visibility {
        inbox = inbox.visibility_timeout(visibility);
    }
    if let Some(max) = config.max_backlog {
        inbox = inbox.max_backlog(max);
    }
    // The error and the location name the URL without its password.
    let inbox = inbox
        .connect()
        .await
        .map_err(|e| format!("REDIS_URL: {e}"))?;
    tracing::info!(store = %inbox.location(), ?inbox, backlog = inbox.backlog().await?, "Redis inbox open");
    Ok(AnyStore::RedisInbox(inbox))
}

#[cfg(not(feature = "redis"))]
async fn redis_inbox(_: &RedisConfig, _: Option<Duration>) -> Result<AnyStore, BoxError> {
    Err(
        "INBOX=redis needs the `redis` feature: cargo run --release --features redis --example ..."
            .into(),
    )
}

/// The durable inbox in `path`, its dedup TTL `ttl`.
#[cfg(feature = "durable")]
fn durable_inbox(path: &std::path::Path, ttl: Option<Duration>) -> Result<AnyStore, BoxError> {
    let mut inbox = webhook_receiver::store::DurableInbox::builder(path);
    if let Some(ttl) = ttl {
        inbox = inbox.dedup_ttl(ttl);
    }
    let inbox = inbox.open()?;
    tracing::info!(path = %path.display(), pending = inbox.pending_count()?, "durable inbox open");
    Ok(AnyStore::Durable(inbox))
}

#[cfg(not(feature = "durable"))]
fn durable_inbox(_: &std::path::Path, _: Option<Duration>) -> Result<AnyStore, BoxError> {
    Err("INBOX_PATH needs the `durable` feature: cargo run --release --features durable --example ...".into())
}

/// The store: the durable inbox in `inbox_path` if set, the Postgres inbox with
/// `INBOX=postgres`, the Redis inbox with `INBOX=redis`, dedup on Redis if `REDIS_URL` is set,
/// else in process (with at most `capacity` keys); all with the dedup TTL `ttl`.
pub async fn connect(
    inbox_path: Option<&std::path::Path>,
    redis: Option<&RedisConfig>,
    postgres: Option<&PostgresConfig>,
    ttl: Option<Duration>,
    capacity: Option<u64>,
) -> Result<AnyStore, BoxError> {
    if let Some(postgres) = postgres {
        if inbox_path.is_some() || redis.is_some() {
            return Err("INBOX=postgres: unset INBOX_PATH and REDIS_URL (the Postgres inbox deduplicates on its own)".into());
        }
        return postgres_inbox(postgres, ttl).await;
    }
    match (inbox_path, redis) {
        (Some(_), Some(_)) => Err("INBOX_PATH and REDIS_URL are both set: the durable inbox deduplicates on its own; set one".into()),
        (Some(path), None) => durable_inbox(path, ttl),
        (None, Some(config)) if config.inbox => redis_inbox(config, ttl).await,
        (None, None) => {
            let mut memory = MokaStore::builder();
            if let Some(ttl) = ttl {
                memory = memory.ttl(ttl);
            }
            if let Some(capacity) = capacity {
                memory = memory.capacity(capacity);
            }
            Ok(AnyStore::Memory(memory.build()))
        }
        (None, Some(config)) => connect_redis(config, ttl).await,
    }
}

#[cfg(feature = "redis")]
async fn connect_redis(config: &RedisConfig, ttl: Option<Duration>) -> Result<AnyStore, BoxError> {
    let mut builder = webhook_receiver::store::RedisStore::builder(config.url.as_str())
        .fallback_to_memory(config.fallback_to_memory);
    if let Some(prefix) = &config.prefix {
        builder = builder.prefix(prefix.as_str());
    }
    if let Some(ttl) = ttl {
        builder = builder.ttl(ttl);
    }
    let store = builder
        .connect()
        .await
        .map_err(|e| format!("REDIS_URL: {e}"))?;
    tracing::info!(store = %store.location(), ?store, "dedup on Redis");
    Ok(AnyStore::Redis(store))
}

#[cfg(not(feature = "redis"))]
async fn connect_redis(_: &RedisConfig, _: Option<Duration>) -> Result<AnyStore, BoxError> {
    Err(
        "REDIS_URL needs the `redis` feature: cargo run --release --features redis --example ..."
            .into(),
    )
}

/// `INBOX=postgres` with `DATABASE_URL`, `INBOX_SCHEMA`, `INBOX_LEASE_SECS` and
/// `DATABASE_MAX_CONNECTIONS`, as read. Its `Debug` leaves the URL out (it may hold a password).
#[derive(Clone)]
pub struct PostgresConfig {
    url: String,
    schema: Option<String>,
    lease: Option<Duration>,
    max_connections: Option<u32>,
    /// `INBOX_MAX_BACKLOG`: events accepted and not done (503 past it).
    max_backlog: Option<u64>,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &"(DATABASE_URL, not shown)")
            .field("schema", &self.schema)
            .field("lease", &self.lease)
            .field("max_connections", &self.max_connections)
            .field("max_backlog", &self.max_backlog)
            .finish()
    }
}

impl PostgresConfig {
    /// `None` unless `INBOX=postgres`; then `DATABASE_URL` is required.
    pub fn from_env() -> Result<Option<Self>, BoxError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let on = var("INBOX").is_some_and(|v| v.trim() == "postgres");
        if !on {
            for name in [
                "INBOX_SCHEMA",
                "INBOX_LEASE_SECS",
                "DATABASE_MAX_CONNECTIONS",
            ] {
                if var(name).is_some() {
                    return Err(format!("{name} is set but INBOX=postgres is not").into());
                }
            }
            return Ok(None);
        }
        let Some(url) = var("DATABASE_URL") else {
            return Err(
                "INBOX=postgres needs DATABASE_URL (e.g. postgres://user@127.0.0.1/db)".into(),
            );
        };
        let lease = match var("INBOX_LEASE_SECS") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .map(Duration::from_secs)
                    .ok_or_else(|| {
                        format!("invalid INBOX_LEASE_SECS={v:?}: whole seconds, at least 1")
                    })?,
            ),
        };
        let max_connections = match var("DATABASE_MAX_CONNECTIONS") {
            None => None,
            Some(v) => Some(v.trim().parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("invalid DATABASE_MAX_CONNECTIONS={v:?}: a number of connections, at least 1")
            })?),
        };
        let max_backlog = match var("INBOX_MAX_BACKLOG") {
            None => None,
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                format!("invalid INBOX_MAX_BACKLOG={v:?}: a number of events (0: no limit)")
            })?),
        };
        Ok(Some(Self {
            url: url.trim().to_owned(),
            schema: var("INBOX_SCHEMA"),
            lease,
            max_connections,
            max_backlog,
        }))
    }
}

/// The Postgres inbox of `config` (`INBOX=postgres`), its dedup TTL `ttl`, on a pool of
/// `DATABASE_MAX_CONNECTIONS` (default 32) connections.
#[cfg(feature = "postgres")]
async fn postgres_inbox(
    config: &PostgresConfig,
    ttl: Option<Duration>,
) -> Result<AnyStore, BoxError> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(config.max_connections.unwrap_or(32))
        .acquire_timeout(Duration::from_secs(5))
        .connect(&config.url)
        .await
        .map_err(|e| format!("DATABASE_URL: cannot connect: {e}"))?;
    let mut inbox = webhook_receiver::store::PostgresInbox::builder(pool);
    if let Some(schema) = &config.schema {
        inbox = inbox.schema(schema.as_str());
    }
    if let Some(ttl) = ttl {
        inbox = inbox.dedup_ttl(ttl);
    }
    if let Some(lease) = config.lease {
        inbox = inbox.lease(lease);
    }
    if let Some(max) = config.max_backlog {
        inbox = inbox.max_backlog(max);
    }
    let inbox = inbox
        .connect()
        .await
        .map_err(|e| format!("DATABASE_URL: {e}"))?;
    tracing::info!(store = %inbox.location(), ?inbox, backlog = inbox.backlog().await?, "Postgres inbox open");
    Ok(AnyStore::Postgres(inbox))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_inbox(_: &PostgresConfig, _: Option<Duration>) -> Result<AnyStore, BoxError> {
    Err("INBOX=postgres needs the `postgres` feature: cargo run --release --features postgres --example ...".into())
}

/// The inbox `HANDLER_SINK=postgres` writes through, set once by [`create_sink`].
#[cfg(feature = "postgres")]
static SINK: std::sync::OnceLock<webhook_receiver::store::PostgresInbox> =
    std::sync::OnceLock::new();

/// `HANDLER_SINK=postgres`: creates the table `handled (key, handler)` (no unique constraint,
/// so that a handler run twice shows as two rows) and remembers the inbox for [`sink`].
#[cfg(feature = "postgres")]
pub async fn create_sink(store: &AnyStore) -> Result<(), BoxError> {
    let AnyStore::Postgres(inbox) = store else {
        return Err("HANDLER_SINK=postgres needs INBOX=postgres".into());
    };
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS handled (
            key text NOT NULL,
            handler text NOT NULL,
            handled_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .execute(inbox.pool())
    .await?;
    let _ = SINK.set(inbox.clone());
    Ok(())
}

#[cfg(not(feature = "postgres"))]
pub async fn create_sink(_: &AnyStore) -> Result<(), BoxError> {
    Err("HANDLER_SINK=postgres needs the `postgres` feature".into())
}

/// Inserts `(key, handler)` into `handled` in the inbox's transaction, through
/// `PostgresInbox::transactional`: the row and the mark that `handler` ran for the event commit
/// together. `true` if this run committed; `false` if an earlier run had (nothing written).
#[cfg(feature = "postgres")]
pub async fn sink<S: Clone + Send + Sync + 'static>(
    ctx: &webhook_receiver::dispatch::EventContext<S>,
    handler: &str,
) -> Result<bool, BoxError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let inbox = SINK
        .get()
        .ok_or("HANDLER_SINK=postgres: the sink was not created")?;
    let ran = std::sync::Arc::new(AtomicBool::new(false));
    let (key, name, flag) = (
        ctx.key().to_string(),
        handler.to_owned(),
        std::sync::Arc::clone(&ran),
    );
    let run = inbox.transactional(
        handler,
        move |(), _ctx: webhook_receiver::dispatch::EventContext<S>, conn| {
            let (key, name, flag) = (key.clone(), name.clone(), std::sync::Arc::clone(&flag));
            Box::pin(async move {
                sqlx::query("INSERT INTO handled (key, handler) VALUES ($1, $2)")
                    .bind(key)
                    .bind(name)
                    .execute(conn)
                    .await?;
                flag.store(true, Ordering::SeqCst);
                Ok::<_, sqlx::Error>(())
            })
        },
    );
    run((), ctx.clone()).await?;
    Ok(ran.load(Ordering::SeqCst))
}

#[cfg(not(feature = "postgres"))]
pub async fn sink<S>(
    _: &webhook_receiver::dispatch::EventContext<S>,
    _: &str,
) -> Result<bool, BoxError> {
    Err("HANDLER_SINK=postgres needs the `postgres` feature".into())
}
