use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, VecDeque};
use std::future::{Future, ready};
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{Claim, DEFAULT_CAPACITY, DEFAULT_TTL, DedupStore, KeyHasher};
use crate::error::StoreError;
use crate::event::DedupKey;

/// Keys per shard below which fewer shards are used, so that a small store keeps an exact order.
const MIN_KEYS_PER_SHARD: u64 = 4096;
/// The most shards a store is split into (a power of two).
const MAX_SHARDS: usize = 64;

/// In-process dedup store with a TTL and a bounded capacity: the default store.
///
/// - Keys are 16-byte [`DedupKey`]s, whatever the length of the sender's id, held inline in
///   sharded hash tables next to a queue of claims in order: about 80 bytes per remembered id
///   in all and no allocation per key (see the README for the measured figures); a claim costs
///   about 0.1–0.4 µs.
/// - A key is forgotten once its TTL has passed since it was first claimed.
/// - When the store is full, the **oldest claim** is forgotten first. Every key has the same
///   TTL, so this is also the order in which keys expire: a full store simply shortens the dedup
///   window, and a brand-new key is always admitted (unlike a frequency-based admission policy,
///   which may refuse one-time keys and let their redeliveries through). A duplicate claim does
///   not extend a key's life.
/// - [`claim`](DedupStore::claim) is one insert-if-absent under the lock of the key's shard,
///   atomic under concurrency, and completes synchronously (there is no await point to cancel).
/// - If the capacity forces out keys before their TTL, the dedup window shrinks: this is counted
///   ([`evicted_before_ttl`](Self::evicted_before_ttl)) and logged at `warn`.
///
/// Memory is taken as keys are remembered, not up front, and given back as they expire. Clones
/// share the same store.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::dedup::{Claim, MemoryStore};
/// use webhook_receiver::DedupKey;
///
/// let store = MemoryStore::builder()
///     .ttl(Duration::from_secs(6 * 3600))
///     .capacity(100_000)
///     .build();
/// assert_eq!(store.ttl(), Duration::from_secs(6 * 3600));
///
/// let key = DedupKey::from_parts(&[b"messages.sms.delivered", b"msg_1"]);
/// assert_eq!(store.claim_now(key), Claim::New);
/// assert_eq!(store.claim_now(key), Claim::Duplicate);
/// assert_eq!(store.len(), 1);
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// `shards.len()` is a power of two; see [`Inner::shard`].
    shards: Box<[Padded<Mutex<Shard>>]>,
    /// Random per store, so that which keys share a shard cannot be chosen from outside.
    seed: u64,
    /// Time zero of the claim times.
    epoch: Instant,
    ttl: Duration,
    /// The TTL in nanoseconds (saturated).
    ttl_nanos: u64,
    /// Keys remembered at most, over all shards.
    capacity: u64,
    /// Keys remembered now, over all shards (expired ones until they are swept).
    len: AtomicU64,
    evicted: AtomicU64,
}

/// One shard of the store.
#[derive(Default)]
struct Shard {
    /// The remembered keys and their claim times (nanoseconds since the store's epoch).
    claimed: HashMap<DedupKey, u64, BuildHasherDefault<KeyHasher>>,
    /// Every claim in order, oldest first. Claim times are read under the shard's lock, so they
    /// never decrease along the queue, and expired keys are always at its front. An entry whose
    /// key was released (or released and claimed again) no longer matches `claimed` and is
    /// skipped when it reaches the front.
    order: VecDeque<(DedupKey, u64)>,
}

impl Shard {
    /// Pops the oldest claim; returns whether it was still remembered (and is now forgotten).
    fn pop_oldest(&mut self) -> Option<bool> {
        let (key, claimed_at) = self.order.pop_front()?;
        let live = self.claimed.get(&key) == Some(&claimed_at);
        if live {
            self.claimed.remove(&key);
        }
        Some(live)
    }

    /// Forgets the oldest key still remembered; returns whether there was one.
    fn evict_oldest(&mut self) -> bool {
        while let Some(live) = self.pop_oldest() {
            if live {
                return true;
            }
        }
        false
    }

    fn release(&mut self, key: &DedupKey) -> bool {
        let released = self.claimed.remove(key).is_some();
        // Released keys leave stale entries in the queue; drop them before they outnumber the
        // live ones, so that memory stays bounded by the capacity.
        if released && self.order.len() > 2 * self.claimed.len() + 64 {
            let claimed = &self.claimed;
            self.order
                .retain(|(key, claimed_at)| claimed.get(key) == Some(claimed_at));
        }
        released
    }
}

/// Keeps each shard's lock on its own cache lines, so that claims on different shards do not
/// contend.
#[repr(align(128))]
struct Padded<T>(T);

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
        self.inner.ttl
    }

    /// How many keys are remembered now (expired keys are forgotten first).
    pub fn len(&self) -> u64 {
        self.inner
            .shards
            .iter()
            .map(|Padded(shard)| {
                let mut shard = lock(shard);
                self.inner.expire(&mut shard, self.inner.now());
                shard.claimed.len() as u64
            })
            .sum()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is remembered (does not claim it).
    pub fn contains(&self, key: &DedupKey) -> bool {
        let shard = lock(self.inner.shard(key));
        let now = self.inner.now();
        shard
            .claimed
            .get(key)
            .is_some_and(|&claimed_at| !self.inner.expired(claimed_at, now))
    }

    /// How many keys were forced out by the capacity before their TTL ran out.
    pub fn evicted_before_ttl(&self) -> u64 {
        self.inner.evicted.load(Ordering::Relaxed)
    }

    /// The synchronous claim behind [`DedupStore::claim`].
    pub fn claim_now(&self, key: DedupKey) -> Claim {
        let inner = &*self.inner;
        let mut shard = lock(inner.shard(&key));
        // Read the clock under the lock, so that claim times grow along the shard's order.
        let now = inner.now();
        inner.expire(&mut shard, now);
        // One probe of the table for both the check and the insert.
        match shard.claimed.entry(key) {
            Entry::Occupied(_) => return Claim::Duplicate,
            Entry::Vacant(vacant) => {
                vacant.insert(now);
            }
        }
        // Count the key first, so that concurrent claims in other shards cannot overshoot. The
        // new key is not in `order` yet, so the eviction cannot pick it.
        let total = inner.len.fetch_add(1, Ordering::Relaxed) + 1;
        if total > inner.capacity && shard.evict_oldest() {
            // Everything expired is gone already: this key is forced out before its TTL. Keys
            // spread evenly over the shards, so this shard's oldest is close to the store's.
            inner.len.fetch_sub(1, Ordering::Relaxed);
            inner.record_eviction();
        }
        shard.order.push_back((key, now));
        Claim::New
    }

    /// Forgets `key`.
    fn forget(&self, key: &DedupKey) {
        if lock(self.inner.shard(key)).release(key) {
            self.inner.len.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Inner {
    /// The shard of `key`: the top bits of a seeded multiplicative hash of all 16 bytes, so that
    /// keys spread evenly even when they are not digests (`DedupKey::from_bytes`).
    fn shard(&self, key: &DedupKey) -> &Mutex<Shard> {
        let (lo, hi) = key.as_bytes().split_at(8);
        let lo = u64::from_le_bytes(lo.try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(hi.try_into().expect("8 bytes"));
        let mixed = ((lo ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ hi)
            .wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        // The top six bits; `shards.len()` is a power of two, at most 64.
        let index = (mixed >> 58) as usize;
        &self.shards[index & (self.shards.len() - 1)].0
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Expired once `claimed_at + ttl <= now` (as moka's `time_to_live`).
    fn expired(&self, claimed_at: u64, now: u64) -> bool {
        claimed_at.saturating_add(self.ttl_nanos) <= now
    }

    /// Forgets the keys of `shard` whose TTL has passed: they are the oldest.
    fn expire(&self, shard: &mut Shard, now: u64) {
        let mut expired = 0;
        while shard
            .order
            .front()
            .is_some_and(|&(_, claimed_at)| self.expired(claimed_at, now))
        {
            if shard.pop_oldest() == Some(true) {
                expired += 1;
            }
        }
        if expired > 0 {
            self.len.fetch_sub(expired, Ordering::Relaxed);
        }
    }

    fn record_eviction(&self) {
        let n = self.evicted.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(
                evicted_before_ttl = n,
                "dedup capacity reached: keys are forgotten before their TTL; raise the capacity"
            );
        }
    }
}

/// A shard's lock. Nothing that can panic runs while a shard is half-updated, so a poisoned
/// lock is taken as is.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("ttl", &self.inner.ttl)
            .field("capacity", &self.inner.capacity)
            .field("entries", &self.inner.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl DedupStore for MemoryStore {
    fn claim(&self, key: DedupKey) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        ready(Ok(self.claim_now(key)))
    }

    fn release(&self, key: DedupKey) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.forget(&key);
        ready(Ok(()))
    }
}

/// Builder for [`MemoryStore`].
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::dedup::MemoryStore;
///
/// let store = MemoryStore::builder()
///     .ttl(Duration::from_secs(3600))
///     .capacity(10_000)
///     .build();
/// assert!(store.is_empty());
/// ```
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

    /// How many keys are remembered at most (default [`DEFAULT_CAPACITY`]; at least 1).
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }

    /// Builds the store.
    pub fn build(self) -> MemoryStore {
        let capacity = self.capacity.max(1);
        // Up to 64 shards with room for at least 4096 keys each: concurrent claims rarely meet on
        // a lock, and a small store is one shard with an exact order.
        let wanted = usize::try_from(capacity / MIN_KEYS_PER_SHARD).unwrap_or(usize::MAX);
        let shards = 1usize << wanted.clamp(1, MAX_SHARDS).ilog2();
        MemoryStore {
            inner: Arc::new(Inner {
                shards: (0..shards)
                    .map(|_| Padded(Mutex::new(Shard::default())))
                    .collect(),
                seed: RandomState::new().hash_one(0x5eed_u64),
                epoch: Instant::now(),
                ttl: self.ttl,
                ttl_nanos: u64::try_from(self.ttl.as_nanos()).unwrap_or(u64::MAX),
                capacity,
                len: AtomicU64::new(0),
                evicted: AtomicU64::new(0),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> DedupKey {
        DedupKey::from_parts(&[&i.to_le_bytes()])
    }

    #[test]
    fn a_full_store_forgets_the_oldest_claim() {
        let store = MemoryStore::builder().capacity(3).build();
        for i in 0..3 {
            assert_eq!(store.claim_now(key(i)), Claim::New);
        }
        // A duplicate claim does not extend a key's life: key 0 is still the oldest.
        assert_eq!(store.claim_now(key(0)), Claim::Duplicate);
        assert_eq!(store.claim_now(key(3)), Claim::New);
        assert!(!store.contains(&key(0)));
        assert!((1..4).all(|i| store.contains(&key(i))));
        assert_eq!(store.len(), 3);
        assert_eq!(store.evicted_before_ttl(), 1);
    }

    #[test]
    fn a_zero_ttl_remembers_nothing() {
        let store = MemoryStore::builder().ttl(Duration::ZERO).build();
        assert_eq!(store.claim_now(key(1)), Claim::New);
        assert_eq!(store.claim_now(key(1)), Claim::New);
        assert_eq!(store.len(), 0);
        assert_eq!(store.evicted_before_ttl(), 0);
    }

    #[test]
    fn released_keys_are_forgotten() {
        let store = MemoryStore::builder().capacity(2).build();
        for round in 0..100 {
            assert_eq!(store.claim_now(key(round)), Claim::New);
            assert_eq!(store.claim_now(key(round)), Claim::Duplicate);
            store.forget(&key(round));
            assert!(!store.contains(&key(round)));
        }
        assert!(store.is_empty());
        assert_eq!(
            store.evicted_before_ttl(),
            0,
            "released keys free their place"
        );
    }

    #[test]
    fn a_released_and_reclaimed_key_lives_from_its_new_claim() {
        let store = MemoryStore::builder().capacity(2).build();
        assert_eq!(store.claim_now(key(0)), Claim::New);
        assert_eq!(store.claim_now(key(1)), Claim::New);
        store.forget(&key(0));
        assert_eq!(store.claim_now(key(0)), Claim::New);
        // Full: the oldest live claim is key 1 (key 0's first claim was released).
        assert_eq!(store.claim_now(key(2)), Claim::New);
        assert!(store.contains(&key(0)) && store.contains(&key(2)));
        assert!(!store.contains(&key(1)));
        assert_eq!(store.evicted_before_ttl(), 1);
    }

    #[test]
    fn released_keys_do_not_pile_up_in_the_claim_queue() {
        let store = MemoryStore::builder().capacity(1_000).build();
        for i in 0..100_000 {
            assert_eq!(store.claim_now(key(i)), Claim::New);
            store.forget(&key(i));
        }
        let shard = lock(&store.inner.shards[0].0);
        assert!(
            shard.order.len() <= 65,
            "{} stale entries",
            shard.order.len()
        );
    }

    #[test]
    fn a_sharded_store_holds_exactly_its_capacity() {
        let store = MemoryStore::builder().capacity(300_000).build();
        assert_eq!(store.inner.shards.len(), MAX_SHARDS);
        for i in 0..300_000 {
            assert_eq!(store.claim_now(key(i)), Claim::New);
        }
        assert_eq!(store.evicted_before_ttl(), 0);
        assert_eq!(store.claim_now(key(300_000)), Claim::New);
        assert_eq!(store.evicted_before_ttl(), 1);
        assert_eq!(store.len(), 300_000);
        let shards = |capacity| {
            MemoryStore::builder()
                .capacity(capacity)
                .build()
                .inner
                .shards
                .len()
        };
        assert_eq!(shards(0), 1);
        assert_eq!(shards(8191), 1);
        assert_eq!(shards(50_000), 8);
    }

    #[test]
    fn structured_keys_spread_over_the_shards() {
        // Not digests: a counter in the first bytes, zeros after.
        let store = MemoryStore::builder().capacity(1_000_000).build();
        for i in 0..200_000u64 {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&i.to_le_bytes());
            assert_eq!(store.claim_now(DedupKey::from_bytes(bytes)), Claim::New);
        }
        assert_eq!(store.evicted_before_ttl(), 0);
        let sizes: Vec<usize> = store
            .inner
            .shards
            .iter()
            .map(|s| lock(&s.0).claimed.len())
            .collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(*min > 2_500 && *max < 3_800, "uneven shards: {sizes:?}");
    }
}
