use std::future::{Future, ready};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;

use super::{Claim, DedupStore};
use crate::error::StoreError;
use crate::event::DedupKey;

/// Default time a key is remembered: 24 hours.
///
/// Senders retry over hours: the generic HMAC format's schedule is immediate, 30 s, 5 min,
/// 30 min, 2 h (about 2 h 36 min in all), and Chirp retries 5 times with exponential backoff.
/// A day covers those spans several times over, plus manual "resend" from a dashboard the same
/// day, while keeping memory bounded by the event rate of one day.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Default number of keys remembered at most: 1,000,000 (about 12 events per second for a day).
pub const DEFAULT_CAPACITY: u64 = 1_000_000;

/// In-process dedup store on a `moka` cache with a TTL and a bounded capacity.
///
/// - Keys are 16-byte [`DedupKey`]s: memory per remembered id is small and fixed (see the README
///   for the measured figure).
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
/// use webhook_receiver::dedup::MemoryStore;
///
/// let store = MemoryStore::builder()
///     .ttl(Duration::from_secs(6 * 3600))
///     .capacity(100_000)
///     .build();
/// assert_eq!(store.ttl(), Duration::from_secs(6 * 3600));
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    cache: Cache<DedupKey, (), BuildHasherDefault<KeyHasher>>,
    ttl: Duration,
    evicted: Arc<AtomicU64>,
}

impl MemoryStore {
    /// A store with [`DEFAULT_TTL`] and [`DEFAULT_CAPACITY`].
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a store.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
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

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("ttl", &self.ttl)
            .field("entries", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl DedupStore for MemoryStore {
    fn claim(&self, key: DedupKey) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        ready(Ok(self.claim_now(key)))
    }

    fn release(&self, key: DedupKey) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.cache.invalidate(&key);
        ready(Ok(()))
    }
}

/// Builder for [`MemoryStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryStoreBuilder {
    ttl: Duration,
    capacity: u64,
}

impl MemoryStoreBuilder {
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
    pub fn build(self) -> MemoryStore {
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
        MemoryStore {
            cache,
            ttl: self.ttl,
            evicted,
        }
    }
}

/// The hasher for the cache's table. Dedup keys are already SHA-256 output, uniformly
/// distributed and not chosen by senders, so a second keyed hash (moka's default SipHash, run
/// several times per claim) buys nothing: fold the key's bytes and mix them (murmur3's
/// finalizer) so that structured keys built with [`DedupKey::from_bytes`] still spread.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(29) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_usize(&mut self, _len: usize) {
        // The array length prefix of `[u8; 16]`: the same for every key.
    }
}
