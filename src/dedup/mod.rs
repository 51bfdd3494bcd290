//! Deduplication: remember which events were accepted so that redeliveries are acknowledged and
//! not dispatched again.
//!
//! The receiver asks the store to [`claim`](DedupStore::claim) an event's [`DedupKey`] once the
//! request is authenticated, parsed, and a queue slot is reserved; the event is dispatched only
//! for [`Claim::New`]. Nothing is claimed for a request that fails authentication, parsing or
//! enqueueing, so a forged or broken request can never make a real event look like a duplicate.
//!
//! [`MemoryStore`] (moka, in-process) is the default; the trait leaves room for shared stores
//! (Redis) and durable inboxes.
//!
//! # Example
//!
//! ```
//! use webhook_receiver::dedup::{Claim, DedupStore, MemoryStore};
//! use webhook_receiver::DedupKey;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = MemoryStore::new();
//! let key = DedupKey::from_parts(&[b"messages.sms.delivered", b"msg_1"]);
//! assert_eq!(store.claim(key).await.unwrap(), Claim::New);
//! assert_eq!(store.claim(key).await.unwrap(), Claim::Duplicate);
//! store.release(key).await.unwrap();
//! assert_eq!(store.claim(key).await.unwrap(), Claim::New);
//! # }
//! ```

use std::future::Future;

use crate::error::StoreError;
use crate::event::DedupKey;

mod memory;

pub use memory::{DEFAULT_CAPACITY, DEFAULT_TTL, MemoryStore, MemoryStoreBuilder};

/// The default store.
pub type DefaultStore = MemoryStore;

/// The outcome of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The key was not remembered; it is now. Dispatch the event.
    New,
    /// The key was already remembered: a redelivery. Acknowledge, do not dispatch.
    Duplicate,
}

/// Where accepted dedup keys are remembered.
///
/// # Contract
///
/// - **Atomic:** [`claim`](Self::claim) is one insert-if-absent. Of any number of concurrent
///   claims of one key, exactly one returns [`Claim::New`].
/// - **Never collapse distinct keys:** a store may forget a key (TTL, eviction), which can let a
///   late redelivery through, but must never report `Duplicate` for a key it was not given.
/// - **Cancellation:** the receiver drives `claim` inside the request. If the request is dropped
///   while a claim is pending, the key must not stay claimed without its event being queued: a
///   store should complete its effect synchronously (as [`MemoryStore`] does) or drive remote
///   commands so that an unobserved `New` is released.
/// - [`release`](Self::release) forgets a key (used when a claimed event could not be queued).
pub trait DedupStore: Send + Sync + 'static {
    /// Remembers `key` if it is not remembered yet.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store is unreachable; the receiver answers 503 and the sender
    /// retries.
    fn claim(&self, key: DedupKey) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Forgets `key`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store is unreachable.
    fn release(&self, key: DedupKey) -> impl Future<Output = Result<(), StoreError>> + Send;
}
