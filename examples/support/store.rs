//! The examples' dedup store: in process (the library's default, `MokaStore`), or shared by
//! replicas on Redis when `REDIS_URL` is set (`RedisStore`, built with `--features redis`).

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

/// `REDIS_URL`, `REDIS_PREFIX` and `REDIS_FALLBACK`, as read.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    url: String,
    prefix: Option<String>,
    fallback_to_memory: bool,
}

impl RedisConfig {
    /// `None` when `REDIS_URL` is unset; `REDIS_FALLBACK` is `memory` or unset.
    pub fn from_env() -> Result<Option<Self>, BoxError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let Some(url) = var("REDIS_URL") else {
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
        Ok(Some(Self {
            url: url.trim().to_owned(),
            prefix: var("REDIS_PREFIX"),
            fallback_to_memory,
        }))
    }
}

/// The store: on Redis if configured, else in process; both with the TTL `ttl`.
pub async fn connect(
    redis: Option<&RedisConfig>,
    ttl: Option<Duration>,
) -> Result<Store, BoxError> {
    match redis {
        None => {
            let mut memory = MokaStore::builder();
            if let Some(ttl) = ttl {
                memory = memory.ttl(ttl);
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
