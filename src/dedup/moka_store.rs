use std::future::{Future, ready};
use std::hash::BuildHasherDefault;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ::moka::notification::RemovalCause;
use ::moka::policy::EvictionPolicy;
use ::moka::sync::Cache;

use super::{Claim, DEFAULT_CAPACITY, DEFAULT_TTL, DedupStore, KeyHasher};
use crate::error::StoreError;
use crate::event::DedupKey;

/// In-process dedup store on a [`moka`](https://docs.rs/moka) cache with a TTL and a bounded
/// capacity (feature `moka`).
///
/// An alternative to [`MemoryStore`](super::MemoryStore), the default, for those who want
/// moka's true LRU (a duplicate claim counts as a use and keeps a key longer under capacity
/// pressure). It costs more: about 1.3–2.8 µs per new key and ~340 bytes per remembered id,
/// against ~0.1–0.4 µs and ~83 bytes (see the README's performance section).
///
/// - Eviction is LRU, so a brand-new key is always admitted (moka's default TinyLFU may refuse
///   one-time keys, which would let their redeliveries through).
/// - [`claim`](DedupStore::claim) is one `entry().or_insert_with()` call, atomic under
///   concurrency, and completes synchronously (there is no await point to cancel).
/// - If the capacity forces out keys before their TTL, the dedup window shrinks: this is counted
///   ([`evicted_before_ttl`](Self::evicted_before_ttl)) and logged at `warn`.
///
/// Clones share the same cache.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::dedup::MokaStore;
///
/// let store = MokaStore::builder()
///     .ttl(Duration::from_secs(6 * 3600))
///     .capacity(100_000)
///     .build();
/// assert_eq!(store.ttl(), Duration::from_secs(6 * 3600));
/// ```
#[derive(Clone)]
pub struct MokaStore {
    cache: Cache<DedupKey, (), BuildHasherDefault<KeyHasher>>,
    ttl: Duration,
    evicted: Arc<AtomicU64>,
}

impl MokaStore {
    /// A store with [`DEFAULT_TTL`] and [`DEFAULT_CAPACITY`].
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a store.
    pub fn builder() -> MokaStoreBuilder {
        MokaStoreBuilder {
            ttl: DEFAULT_TTL,
            capacity: DEFAULT_CAPACITY,
        }
    }

    /// How long a key is remembered.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How many keys are remembered now (approximate: moka applies writes in batches).
    pub fn len(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is remembered (does not claim it).
    pub fn contains(&self, key: &DedupKey) -> bool {
        self.cache.contains_key(key)
    }

    /// How many keys were forced out by the capacity before their TTL ran out.
    pub fn evicted_before_ttl(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// The synchronous claim behind [`DedupStore::claim`].
    pub fn claim_now(&self, key: DedupKey) -> Claim {
        if self.cache.entry(key).or_insert_with(|| ()).is_fresh() {
            Claim::New
        } else {
            Claim::Duplicate
        }
    }
}

impl Default for MokaStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MokaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MokaStore")
            .field("ttl", &self.ttl)
            .field("entries", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl DedupStore for MokaStore {
    fn claim(&self, key: DedupKey) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        ready(Ok(self.claim_now(key)))
    }

    fn release(&self, key: DedupKey) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.cache.invalidate(&key);
        ready(Ok(()))
    }
}

/// Builder for [`MokaStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MokaStoreBuilder {
    ttl: Duration,
    capacity: u64,
}

impl MokaStoreBuilder {
    /// How long a key is remembered (default [`DEFAULT_TTL`]). Cover the sender's whole retry
    /// span.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many keys are remembered at most (default [`DEFAULT_CAPACITY`]).
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// Builds the store.
    pub fn build(self) -> MokaStore {
        let evicted = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&evicted);
        let cache = Cache::builder()
            .max_capacity(self.capacity)
            .time_to_live(self.ttl)
            .eviction_policy(EvictionPolicy::lru())
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_power_of_two() {
                        tracing::warn!(
                            evicted_before_ttl = n,
                            "dedup capacity reached: keys are forgotten before their TTL; raise the capacity"
                        );
                    }
                }
            })
            .build_with_hasher(BuildHasherDefault::default());
        MokaStore {
            cache,
            ttl: self.ttl,
            evicted,
        }
    }
}
