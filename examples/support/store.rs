//! The examples' dedup store: in process (the library's default, `MokaStore`), or shared by
//! replicas on Redis when `REDIS_URL` is set (`RedisStore`, built with `--features redis`); and
//! with `INBOX=redis`, the Redis inbox (`RedisInbox`), which then deduplicates itself.

use std::time::Duration;

use webhook_receiver::dedup::{Claim, DedupStore, MokaStore};
use webhook_receiver::{BoxError, DedupKey, StoreError};

/// One store type for both, so that each example's `Webhooks` has one type.
#[derive(Debug, Clone)]
pub enum Store {
    Memory(MokaStore),
    #[cfg(feature = "redis")]
    Redis(webhook_receiver::dedup::RedisStore),
}

impl DedupStore for Store {
    async fn claim(&self, key: DedupKey) -> Result<Claim, StoreError> {
        match self {
            // Its claim completes synchronously, at the first poll.
            Self::Memory(store) => store.claim(key).await,
            #[cfg(feature = "redis")]
            Self::Redis(store) => store.claim(key).await,
        }
    }
}

/// `REDIS_URL`, `REDIS_PREFIX`, `REDIS_FALLBACK`, `INBOX=redis`, `INBOX_VISIBILITY_SECS` and
/// `INBOX_MAX_BACKLOG`, as read.
#[derive(Debug, Clone)]
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

impl RedisConfig {
    /// `None` when `REDIS_URL` is unset; `REDIS_FALLBACK` is `memory` or unset.
    pub fn from_env() -> Result<Option<Self>, BoxError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let inbox = match var("INBOX").as_deref().map(str::trim) {
            None => false,
            Some("redis") => true,
            Some(other) => {
                return Err(format!(
                    "invalid INBOX={other:?}: the only value is `redis` (with REDIS_URL); for the durable inbox on disk set INBOX_PATH"
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
            None => None,
            Some(_) if !inbox => {
                return Err("INBOX_MAX_BACKLOG is set but INBOX=redis is not".into());
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

/// A store for a receiver whose inbox deduplicates: never claimed in, so as small as can be.
pub fn unused() -> Store {
    Store::Memory(MokaStore::builder().capacity(1).build())
}

/// `builder` with the Redis inbox of `config` (`INBOX=redis`), its dedup TTL `ttl`.
#[cfg(feature = "redis")]
pub async fn with_redis_inbox<F: webhook_receiver::event::DecodeEvent, V, S>(
    builder: webhook_receiver::WebhooksBuilder<F, V, S>,
    config: &RedisConfig,
    ttl: Option<Duration>,
) -> Result<webhook_receiver::WebhooksBuilder<F, V, S>, BoxError> {
    let mut inbox = webhook_receiver::inbox::RedisInbox::builder(config.url.as_str());
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
    let inbox = inbox
        .connect()
        .await
        .map_err(|e| format!("REDIS_URL={}: {e}", config.url))?;
    tracing::info!(url = %config.url, ?inbox, backlog = inbox.backlog().await?, "Redis inbox open");
    Ok(builder.redis_inbox(inbox))
}

#[cfg(not(feature = "redis"))]
pub async fn with_redis_inbox<F: webhook_receiver::event::DecodeEvent, V, S>(
    _: webhook_receiver::WebhooksBuilder<F, V, S>,
    _: &RedisConfig,
    _: Option<Duration>,
) -> Result<webhook_receiver::WebhooksBuilder<F, V, S>, BoxError> {
    Err(
        "INBOX=redis needs the `redis` feature: cargo run --release --features redis --example ..."
            .into(),
    )
}

/// The store: on Redis if configured, else in process (with at most `capacity` keys); both
/// with the TTL `ttl`.
pub async fn connect(
    redis: Option<&RedisConfig>,
    ttl: Option<Duration>,
    capacity: Option<u64>,
) -> Result<Store, BoxError> {
    match redis {
        None => {
            let mut memory = MokaStore::builder();
            if let Some(ttl) = ttl {
                memory = memory.ttl(ttl);
            }
            if let Some(capacity) = capacity {
                memory = memory.capacity(capacity);
            }
            Ok(Store::Memory(memory.build()))
        }
        Some(config) => connect_redis(config, ttl).await,
    }
}

#[cfg(feature = "redis")]
async fn connect_redis(config: &RedisConfig, ttl: Option<Duration>) -> Result<Store, BoxError> {
    let mut builder = webhook_receiver::dedup::RedisStore::builder(config.url.as_str())
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
        .map_err(|e| format!("REDIS_URL={}: {e}", config.url))?;
    tracing::info!(url = %config.url, ?store, "dedup on Redis");
    Ok(Store::Redis(store))
}

#[cfg(not(feature = "redis"))]
async fn connect_redis(_: &RedisConfig, _: Option<Duration>) -> Result<Store, BoxError> {
    Err(
        "REDIS_URL needs the `redis` feature: cargo run --release --features redis --example ..."
            .into(),
    )
}
