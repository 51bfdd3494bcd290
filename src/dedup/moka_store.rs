use std::future::{Future, ready};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ::moka::policy::EvictionPolicy;
use ::moka::sync::Cache;

use super::DedupKey;
use super::{Claim, DEFAULT_CAPACITY, DEFAULT_TTL, KeyHasher};
use crate::error::StoreError;
use crate::store::{Accepted, Incoming, Store};

/// The most keys the table is sized for up front.
const INITIAL_CAPACITY: u64 = 65_536;

/// The default dedup store: in process, on a [`moka`](https://docs.rs/moka) cache with a TTL
/// and a bounded capacity.
///
/// Set both on the store and give it to the receiver with
/// [`WebhooksBuilder::store`](crate::WebhooksBuilder::store) (a receiver built without one gets
/// `MokaStore::new()`); [`Webhooks::store`](crate::Webhooks::store) gives it back, typed.
/// [`Store`] is the trait to write your own; `RedisStore` (feature `redis`) is the one shared by
/// replicas.
///
/// - A key is remembered for the TTL from its first claim ([`DEFAULT_TTL`]: 24 hours). Senders
///   retry over hours: the generic format's published retry schedule spans about 2 h 36 min
///   (immediate, 30 s, 5 min, 30 min, 2 h) and Chirp retries 5 times with exponential backoff;
///   a day covers those spans several times over, plus a same-day manual resend.
/// - At most [`DEFAULT_CAPACITY`] keys (1,000,000: about 12 events per second for a day). Lower
///   it to bound the memory, or raise it for more than a day of ~12 events per second. Eviction
///   is LRU, so a brand-new key is always admitted (a frequency-based policy such as moka's
///   default TinyLFU may refuse one-time keys, which would let their redeliveries through). A
///   duplicate is answered by a read, which does not count as a use: the key that goes first
///   is the one claimed longest ago.
/// - [`accept`](Store::accept) reads first: a remembered key is a duplicate, answered without
///   a lock and without a write to moka. A key the read did not find is read again and
///   inserted under one of 64 locks chosen by the key, so that of concurrent claims of one key
///   exactly one is new. It completes synchronously: there is no await point to cancel. The
///   receiver claims only after a queue slot is reserved, and sends the event on that slot
///   with no await point in between: a request that fails authentication, parsing or
///   enqueueing, or is dropped mid-way, leaves nothing remembered.
/// - If the capacity forces out keys before their TTL, the dedup window shrinks: this is counted
///   ([`evicted_before_ttl`](Self::evicted_before_ttl)) and logged at `warn`.
/// - Memory: keys are 16-byte [`DedupKey`]s whatever the sender's id, taken as keys are
///   remembered and given back as they expire. Measured with `cargo bench --bench
///   dedup_memory` (RSS growth over the number of ids, on x86-64 Linux with glibc): about
///   **340 B per remembered id** when filled to 1M, ~370 B once full with every new key
///   pushing the oldest out; a store at the default capacity of 1,000,000 ids peaked at
///   **~350 MiB** of resident memory. moka's own entry (its node, the key in an `Arc`, the
///   access and write-order deques for LRU and the TTL) is most of it; the 16-byte keys alone
///   in a `HashSet` take ~36 bytes. Per key, moka makes 8 heap blocks of 253 bytes in all,
///   which glibc's `malloc` rounds up to ~340 (`benches/README.md`, "The fast path"); no
///   setting of moka's changes that much (TTL only: 337 B; capacity only: 305 B; TinyLFU:
///   337 B; `cargo bench --bench moka_claim`). The allocator is your binary's choice: with
///   `mimalloc` as the global allocator the same store took ~296 B per id, and claimed a new
///   key in a full store in about a quarter less time.
/// - A store living on its TTL below its capacity stays flat (`benches/soak.sh`): the table is
///   sized up front for at most 65,536 keys and grows with what it holds, so that moka sweeps
///   the tombstones of forgotten keys in proportion. A key that expires or is evicted leaves a
///   tombstone in moka's hash table that still holds the key's `Arc` (~80 bytes in all), and
///   each of the table's 64 segments sweeps them only once they are 10% of its size. A table
///   sized for 1M keys (as it was) kept up to ~210,000 of them, ~17 MB, which a store living on
///   its TTL far below its capacity piled up at the rate of new keys (the steady RSS growth of
///   `benches/soak.sh`, ~83 bytes per new key); one sized for 65,536 keys sweeps at ~26,000
///   (~2 MB), and one that grew sweeps at 10% of its size, in proportion to the keys it holds.
/// - Cost, measured on a 2-vCPU test machine (`cargo bench --bench dedup_memory`): a claim of
///   a new key takes about 1.3 µs while the store fills to 1M ids and about 2.7 µs once it is
///   full (each one then evicts the least recently used key: moka's housekeeping, its hash
///   table's removal and rehash); see `benches/README.md`.
///
/// Clones share the same cache.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::store::{Claim, MokaStore};
/// use webhook_receiver::DedupKey;
///
/// let store = MokaStore::builder()
///     .ttl(Duration::from_secs(6 * 3600))
///     .capacity(100_000)
///     .build();
/// assert_eq!(store.ttl(), Duration::from_secs(6 * 3600));
///
/// let key = DedupKey::from_parts(&[b"messages.sms.delivered", b"msg_1"]);
/// assert_eq!(store.claim_now(key), Claim::New);
/// assert_eq!(store.claim_now(key), Claim::Duplicate);
/// ```
#[derive(Clone)]
pub struct MokaStore {
    cache: Cache<DedupKey, (), BuildHasherDefault<KeyHasher>>,
    ttl: Duration,
    capacity: u64,
    evicted: Arc<AtomicU64>,
    /// `webhook_dedup_keys`, registered when the store was built.
    keys_gauge: metrics::Gauge,
    /// Claims of one key take the same lock (by the key's first byte), so that the read and the
    /// insert of a new key are one step; claims of different keys rarely meet.
    stripes: Arc<[Mutex<()>; STRIPES]>,
}

/// Lock stripes for [`MokaStore::claim_now`]: a power of two.
const STRIPES: usize = 64;

/// The stripe of `key`: its first byte (a digest's bytes are uniform).
fn stripe_of(key: &DedupKey) -> usize {
    usize::from(key.as_bytes()[0]) % STRIPES
}

impl MokaStore {
    /// A store with [`DEFAULT_TTL`] and [`DEFAULT_CAPACITY`].
    ///
    /// ```
    /// use webhook_receiver::store::{DEFAULT_CAPACITY, DEFAULT_TTL, MokaStore};
    /// let store = MokaStore::new();
    /// assert_eq!((store.ttl(), store.capacity()), (DEFAULT_TTL, DEFAULT_CAPACITY));
    /// assert!(store.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a store; what is not set keeps its default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::store::{DEFAULT_CAPACITY, MokaStore};
    /// let store = MokaStore::builder().ttl(Duration::from_secs(3600)).build();
    /// assert_eq!(store.ttl(), Duration::from_secs(3600));
    /// assert_eq!(store.capacity(), DEFAULT_CAPACITY);
    /// ```
    pub fn builder() -> MokaStoreBuilder {
        MokaStoreBuilder {
            ttl: DEFAULT_TTL,
            capacity: DEFAULT_CAPACITY,
        }
    }

    /// How long a key is remembered.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::store::MokaStore;
    /// assert_eq!(MokaStore::new().ttl(), Duration::from_secs(24 * 3600));
    /// ```
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How many keys are remembered at most.
    ///
    /// ```
    /// use webhook_receiver::store::MokaStore;
    /// assert_eq!(MokaStore::builder().capacity(10_000).build().capacity(), 10_000);
    /// ```
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// How many keys are remembered now (approximate: moka applies writes in batches).
    ///
    /// ```
    /// use webhook_receiver::store::{Claim, MokaStore};
    /// use webhook_receiver::DedupKey;
    /// let store = MokaStore::new();
    /// for id in [b"evt_1", b"evt_2", b"evt_1"] {
    ///     store.claim_now(DedupKey::from_parts(&[id]));
    /// }
    /// assert_eq!(store.len(), 2); // the redelivery of evt_1 adds no key
    /// ```
    pub fn len(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// Whether no key is remembered.
    ///
    /// ```
    /// use webhook_receiver::store::{Claim, MokaStore};
    /// use webhook_receiver::DedupKey;
    /// let store = MokaStore::new();
    /// assert!(store.is_empty());
    /// store.claim_now(DedupKey::from_parts(&[b"evt_1"]));
    /// assert!(!store.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is remembered (does not claim it).
    ///
    /// ```
    /// use webhook_receiver::store::{Claim, MokaStore};
    /// use webhook_receiver::DedupKey;
    /// let store = MokaStore::new();
    /// let key = DedupKey::from_parts(&[b"evt_1"]);
    /// assert!(!store.contains(&key));
    /// assert_eq!(store.claim_now(key), Claim::New); // `contains` did not claim it
    /// assert!(store.contains(&key));
    /// ```
    pub fn contains(&self, key: &DedupKey) -> bool {
        self.cache.contains_key(key)
    }

    /// How many keys were forced out by the capacity before their TTL ran out: the new keys
    /// claimed while the store was full (approximate, as [`len`](Self::len) is).
    ///
    /// A count above zero means the dedup window is shorter than the TTL: raise the capacity.
    ///
    /// ```
    /// use webhook_receiver::store::{Claim, MokaStore};
    /// use webhook_receiver::DedupKey;
    /// let store = MokaStore::builder().capacity(2).build();
    /// for id in [b"evt_1", b"evt_2", b"evt_3"] {
    ///     store.len(); // let moka apply the writes, so that the count is exact here
    ///     store.claim_now(DedupKey::from_parts(&[id]));
    /// }
    /// assert_eq!(store.evicted_before_ttl(), 1); // evt_3 forced a key out
    /// ```
    pub fn evicted_before_ttl(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// The synchronous claim behind [`Store::accept`]: remembers `key` unless it is
    /// remembered already. It needs no runtime; clones share the same keys.
    ///
    /// ```
    /// use webhook_receiver::store::{Claim, MokaStore};
    /// use webhook_receiver::DedupKey;
    /// let store = MokaStore::new();
    /// let key = DedupKey::from_parts(&[b"evt_1"]);
    /// assert_eq!(store.claim_now(key), Claim::New);
    /// assert_eq!(store.clone().claim_now(key), Claim::Duplicate);
    /// ```
    pub fn claim_now(&self, key: DedupKey) -> Claim {
        // A redelivery is answered by a read, which moka serves without a lock, without
        // allocating the key's `Arc` and without a write for its housekeeping to apply. A key
        // the read did not find is read again and inserted under its stripe's lock, so that of
        // two concurrent claims of one key exactly one inserts (moka's insert is visible to
        // reads at once). moka's own insert-if-absent, `entry(key).or_insert_with`, goes
        // through its value initializer, which registers a waiter per key to coalesce
        // concurrent loads: twice the instructions and 3 more allocations (~2.4 KB) per new
        // key (`benches/README.md`, "The fast path").
        if self.cache.contains_key(&key) {
            return Claim::Duplicate;
        }
        {
            let _stripe = self.stripes[stripe_of(&key)]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if self.cache.contains_key(&key) {
                return Claim::Duplicate;
            }
            self.cache.insert(key, ());
        }
        // A new key in a full store forces the least recently used one out, before its TTL
        // (expired keys leave on their own). Counted here rather than in an eviction listener:
        // a listener makes moka take a per-key lock on every write, measured at about a fifth
        // of the claim's cost at 1M keys.
        let count = self.cache.entry_count();
        #[allow(clippy::cast_precision_loss)]
        self.keys_gauge.set(count as f64);
        if count >= self.capacity {
            let n = self.evicted.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    evicted_before_ttl = n,
                    capacity = self.capacity,
                    "dedup capacity reached: keys are forgotten before their TTL; raise the capacity"
                );
            }
        }
        Claim::New
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

impl Store for MokaStore {
    /// [`claim_now`](Self::claim_now): done before the future is returned, so a dropped
    /// request cannot leave half of it; nothing but the key is kept.
    fn accept(
        &self,
        event: Incoming<'_>,
    ) -> impl Future<Output = Result<Accepted, StoreError>> + Send {
        ready(Ok(Accepted::from(self.claim_now(event.key()))))
    }

    fn location(&self) -> String {
        "in memory".to_owned()
    }
}

/// Builder for [`MokaStore`]: [`MokaStore::builder`].
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::store::{MokaStore, MokaStoreBuilder};
/// let builder: MokaStoreBuilder = MokaStore::builder().capacity(50_000);
/// let store = builder.ttl(Duration::from_secs(3 * 3600)).build();
/// assert_eq!((store.capacity(), store.ttl()), (50_000, Duration::from_secs(10_800)));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MokaStoreBuilder {
    ttl: Duration,
    capacity: u64,
}

impl MokaStoreBuilder {
    /// How long a key is remembered (default [`DEFAULT_TTL`]). Cover the sender's whole retry
    /// span.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::store::{Claim, MokaStore};
    /// use webhook_receiver::DedupKey;
    /// let store = MokaStore::builder().ttl(Duration::from_millis(50)).build();
    /// let key = DedupKey::from_parts(&[b"evt_1"]);
    /// assert_eq!(store.claim_now(key), Claim::New);
    /// std::thread::sleep(Duration::from_millis(100));
    /// assert_eq!(store.claim_now(key), Claim::New); // forgotten after the TTL
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many keys are remembered at most (default [`DEFAULT_CAPACITY`]). Past it, the least
    /// recently used key is forgotten to admit a new one.
    ///
    /// ```
    /// use webhook_receiver::store::{Claim, MokaStore};
    /// use webhook_receiver::DedupKey;
    /// let store = MokaStore::builder().capacity(1).build();
    /// let (a, b) = (DedupKey::from_parts(&[b"evt_a"]), DedupKey::from_parts(&[b"evt_b"]));
    /// assert_eq!((store.claim_now(a), store.claim_now(b)), (Claim::New, Claim::New));
    /// assert_eq!(store.len(), 1);
    /// assert!(store.contains(&b)); // the new key was admitted, the older one forgotten
    /// ```
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// Builds the store.
    ///
    /// ```
    /// use webhook_receiver::store::MokaStore;
    /// let store = MokaStore::builder().capacity(1_000).build();
    /// assert!(store.is_empty());
    /// ```
    pub fn build(self) -> MokaStore {
        // Sized up front for at most INITIAL_CAPACITY keys, not for the whole capacity: moka's
        // table sweeps its tombstones (expired and evicted keys, each still holding its key's
        // `Arc`) only once they reach 10% of its size, so a table sized for 1M keys under a
        // store that lives on its TTL far below that piles up ~17 MB of them (see the type's
        // docs). Beyond that the table doubles as it fills, which costs claims while it grows.
        let initial = usize::try_from(self.capacity.min(INITIAL_CAPACITY)).unwrap_or(usize::MAX);
        let cache = Cache::builder()
            .max_capacity(self.capacity)
            .initial_capacity(initial)
            .time_to_live(self.ttl)
            .eviction_policy(EvictionPolicy::lru())
            .build_with_hasher(BuildHasherDefault::default());
        MokaStore {
            cache,
            ttl: self.ttl,
            capacity: self.capacity,
            evicted: Arc::new(AtomicU64::new(0)),
            keys_gauge: crate::telemetry::dedup_keys_gauge(),
            stripes: Arc::new(std::array::from_fn(|_| Mutex::new(()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    /// Threads (not tasks: the claim never awaits) racing on the same new keys: each key is
    /// new to exactly one of them.
    #[test]
    fn of_racing_claims_of_one_key_exactly_one_is_new() {
        const KEYS: usize = 20_000;
        const THREADS: usize = 4;
        let store = MokaStore::new();
        let new: Vec<AtomicU32> = (0..KEYS).map(|_| AtomicU32::new(0)).collect();
        let key = |i: usize| DedupKey::from_parts(&[b"race", &i.to_le_bytes()]);
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let (store, new) = (&store, &new);
                scope.spawn(move || {
                    // Different orders, so that threads meet on keys at different times.
                    for n in 0..KEYS {
                        let i = if t % 2 == 0 { n } else { KEYS - 1 - n };
                        if store.claim_now(key(i)) == Claim::New {
                            new[i].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let counts: Vec<u32> = new.iter().map(|n| n.load(Ordering::Relaxed)).collect();
        assert!(
            counts.iter().all(|&n| n == 1),
            "keys new more or less than once"
        );
        assert_eq!(store.len(), KEYS as u64);
    }
}
