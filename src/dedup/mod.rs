//! Deduplication: remember which events were accepted so that redeliveries are acknowledged and
//! not dispatched again.
//!
//! The receiver asks the store to [`accept`](crate::store::Store::accept) an event's
//! [`DedupKey`] once the request is authenticated, parsed, and a queue slot is reserved; the
//! event is dispatched only when it is new. Nothing is claimed for a request that fails authentication, parsing or
//! enqueueing, so a forged or broken request can never make a real event look like a duplicate.
//!
//! [`MokaStore`], the default, remembers keys in process on a [`moka`](https://docs.rs/moka)
//! cache: a TTL, a bounded capacity, LRU eviction, and one atomic insert-if-absent per claim.
//! [`RedisStore`] (feature `redis`) shares the keys between replicas on a Redis server.
//!
//! # Example
//!
//! ```
//! use webhook_receiver::store::{Claim, MokaStore};
//! use webhook_receiver::DedupKey;
//!
//! let store = MokaStore::new();
//! let key = DedupKey::from_parts(&[b"messages.sms.delivered", b"msg_1"]);
//! assert_eq!(store.claim_now(key), Claim::New);
//! assert_eq!(store.claim_now(key), Claim::Duplicate);
//! ```

use std::hash::Hasher;
use std::time::Duration;

mod key;
mod moka_store;
#[cfg(feature = "redis")]
mod redis_store;

pub use key::DedupKey;
pub use moka_store::{MokaStore, MokaStoreBuilder};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis_store::{
    DEFAULT_CLAIM_TIMEOUT, DEFAULT_PENDING_TTL, DEFAULT_PREFIX, FALLBACKS, RedisStore,
    RedisStoreBuilder,
};

/// Default time a key is remembered: 24 hours.
///
/// Senders retry over hours: the generic HMAC format's schedule is immediate, 30 s, 5 min,
/// 30 min, 2 h (about 2 h 36 min in all), and Chirp retries 5 times with exponential backoff.
/// A day covers those spans several times over, plus manual "resend" from a dashboard the same
/// day, while keeping memory bounded by the event rate of one day.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::store::{DEFAULT_TTL, MokaStore};
/// assert_eq!(DEFAULT_TTL, Duration::from_secs(86_400));
/// assert_eq!(MokaStore::new().ttl(), DEFAULT_TTL);
/// ```
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Default number of keys remembered at most: 1,000,000 (about 12 events per second for a day).
///
/// ```
/// use webhook_receiver::store::{DEFAULT_CAPACITY, MokaStore};
/// assert_eq!(MokaStore::new().capacity(), DEFAULT_CAPACITY);
/// // Raise it if you receive more than ~12 events per second, to keep a full day.
/// let store = MokaStore::builder().capacity(4 * DEFAULT_CAPACITY).build();
/// assert_eq!(store.capacity(), 4_000_000);
/// ```
pub const DEFAULT_CAPACITY: u64 = 1_000_000;

/// The outcome of a claim.
///
/// How the receiver answers each:
///
/// | claim | answer | dispatched |
/// |---|---|---|
/// | `New` | 200 `{"received":true}` | yes |
/// | `Duplicate` | 200 `{"received":true,"duplicate":true}` | no (already was) |
/// | `InFlight` | 503 `claim_in_flight`, `Retry-After: 1`, nothing remembered | no |
///
/// ```
/// use webhook_receiver::store::{Claim, MokaStore};
/// use webhook_receiver::DedupKey;
///
/// let store = MokaStore::new();
/// let key = DedupKey::from_parts(&[b"evt_1"]);
/// let answer = |claim| match claim {
///     Claim::New => "dispatch",
///     Claim::Duplicate => "acknowledge only",
///     Claim::InFlight => "503: retry shortly",
/// };
/// assert_eq!(answer(store.claim_now(key)), "dispatch");
/// assert_eq!(answer(store.claim_now(key)), "acknowledge only"); // the redelivery
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The key was not remembered; it is now. Dispatch the event.
    New,
    /// The key was already remembered: a redelivery. Acknowledge, do not dispatch.
    ///
    /// Only for a claim whose event was queued: a store never answers `Duplicate` because of
    /// a claim that was abandoned (its request dropped or timed out before the event was
    /// queued).
    Duplicate,
    /// Another claim of the key is in flight and not yet confirmed: another request (on this
    /// replica or another) is accepting the same event right now, or gave up or died doing so
    /// and its claim is not yet given back. Neither dispatch nor acknowledge: the receiver
    /// answers 503 with a short `Retry-After` and remembers nothing; the sender's retry gets
    /// `Duplicate` once that claim is confirmed, or `New` once it is given back or expires.
    ///
    /// Only stores whose claim takes more than one step answer it ([`RedisStore`]);
    /// [`MokaStore`] never does.
    InFlight,
}

/// The hasher for the stores' tables. Dedup keys are already SHA-256 output, uniformly
/// distributed and not chosen by senders, so a second keyed hash (SipHash) buys nothing: fold
/// the key's bytes and mix them (murmur3's finalizer) so that structured keys built with
/// [`DedupKey::from_bytes`] still spread.
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
