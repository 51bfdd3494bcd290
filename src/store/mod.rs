//! The storage seam: one trait, [`Store`], that every store implements, and the stores of this
//! crate.
//!
//! A store does three things for the receiver and its dispatcher:
//!
//! 1. **Accept** ([`Store::accept`]), before the 200: claim the event's [`DedupKey`] and keep
//!    what the store keeps (nothing more for [`MokaStore`]; the raw event for the stores that
//!    keep events), in one atomic step. It answers [`Accepted`]: new (run it here, or stored for
//!    whichever replica takes it), a duplicate, or in flight elsewhere.
//! 2. **Record progress** through the [`Entry`] a new event came with: each handler's attempts
//!    and next try, a handler done, a dead letter, the event done.
//! 3. **Hand back** ([`Store::feed`]) the events this process is to run that it did not accept
//!    just now: what an earlier run left (replay at start), what a dead replica left (takeover).
//!
//! | store | feature | keeps | shared by replicas |
//! |---|---|---|---|
//! | [`MokaStore`] (default) | - | keys, in process | no |
//! | `RedisStore` | `redis` | keys, on a Redis server | yes (dedup only) |
//! | `DurableInbox` | `durable` | keys, events and progress, in a redb file | no |
//! | `RedisInbox` | `redis` | keys, events and progress, in a Redis Stream | yes |
//! | `PostgresInbox` | `postgres` | keys, events, progress and dead letters, in PostgreSQL tables | yes |
//!
//! The stores that keep events also implement [`InboxAdmin`], the operator API: list, inspect,
//! replay, delete and prune what they keep, dead letters included (served as JSON by
//! `admin::router`, feature `admin`, and run by the `webhook-receiver` tool, feature `cli`).
//!
//! `DEPLOYMENT.md` in the repository compares them. Choose one with
//! [`WebhooksBuilder::store`](crate::WebhooksBuilder::store);
//! [`Webhooks::store`](crate::Webhooks::store) gives it back.
//!
//! # The contract
//!
//! Write a store of your own (your database, your queue) by implementing [`Store`]; check it
//! with the conformance suite (`store::conformance`, feature `testing`), which every store of
//! this crate passes.
//!
//! - **Atomic accept.** Claiming the key and keeping the event are one step: of any number of
//!   concurrent accepts of one key, exactly one answers new; there is never a claimed key
//!   without its kept event (a crash between the two would make a real event look like a
//!   duplicate of one that was never kept).
//! - **Before the 200.** `accept` resolves only once what it keeps is as durable as the store
//!   promises (an `fsync`, a Redis reply). On an error the receiver answers 503 and the sender
//!   retries: an accept that failed must have kept nothing, or kept it in a way that a retry
//!   answers duplicate only once the event will run.
//! - **Never collapse distinct keys.** A store may forget a key (TTL, eviction), which can let a
//!   late redelivery through, but never answers duplicate for a key it was not given.
//! - **Cancellation.** The receiver awaits `accept` inside the request, which the client can
//!   drop at any await point. A store either completes its effect before its future first
//!   returns `Pending` (as [`MokaStore`] does), or makes sure that an event it kept but whose
//!   answer nobody observed still runs: it is handed back through [`Store::feed`]
//!   (`DurableInbox`), it is in a shared backlog that a feed reads anyway (`RedisInbox`), or
//!   its claim is given back (`RedisStore`).
//! - **Progress is bookkeeping.** An [`Entry`]'s methods must not block; what they record may be
//!   lost in a crash, and the event (or the handlers not recorded done) then runs again.
//!   **Done** means every handler succeeded or was dead-lettered: [`Entry::complete`] is called
//!   once, and the event is not handed back after it (its key stays remembered for the dedup
//!   window).
//! - **At least once.** An event answered new runs at least once, here or, after a crash or a
//!   takeover, wherever the store hands it back; it can run more than once. Handlers should be
//!   idempotent.
//! - **A store that keeps nothing costs nothing.** [`Accepted::New`] carries `None` for such a
//!   store: no allocation, no bookkeeping call, and [`Store::feed`] answers `None`.
//!
//! # Example
//!
//! ```
//! use webhook_receiver::store::{Accepted, Incoming, MokaStore, Store};
//! use webhook_receiver::DedupKey;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = MokaStore::new();
//! let key = DedupKey::from_parts(&[b"messages.sms.delivered", b"msg_1"]);
//! let (body, headers) = (bytes::Bytes::from_static(b"{}"), http::HeaderMap::new());
//! let event = Incoming::new(key, &body, &headers);
//! assert!(matches!(store.accept(event).await, Ok(Accepted::New(None))));
//! assert!(matches!(store.accept(event).await, Ok(Accepted::Duplicate)));
//! # }
//! ```

use std::future::{Future, ready};

use tokio::sync::mpsc;

pub use crate::dedup::{
    Claim, DEFAULT_CAPACITY, DEFAULT_TTL, DedupKey, MokaStore, MokaStoreBuilder,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use crate::dedup::{
    DEFAULT_CLAIM_TIMEOUT, DEFAULT_PENDING_TTL, DEFAULT_PREFIX, FALLBACKS, RedisStore,
    RedisStoreBuilder,
};
pub use crate::error::StoreError;
#[cfg(feature = "inbox")]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "durable", feature = "redis", feature = "postgres")))
)]
pub use crate::inbox::InboxError;
#[cfg(feature = "durable")]
#[cfg_attr(docsrs, doc(cfg(feature = "durable")))]
pub use crate::inbox::{DEFAULT_MAX_BATCH, DurableInbox, DurableInboxBuilder};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use crate::inbox::{PostgresInbox, PostgresInboxBuilder, TxFuture};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use crate::inbox::{RedisInbox, RedisInboxBuilder};
pub use accept::{Accepted, Incoming};
pub use admin::{
    AdminError, Cursor, EventDetail, EventFilter, EventPage, EventState, EventSummary,
    HandlerState, InboxAdmin, ReplayOutcome, ReplayReport, ReplayScope, Retention, UnknownState,
    event_type_of,
};
pub use entry::{DeadLetterRecord, Entry};
pub use stored::{Pending, RouteState, StoredId, StoredRequest};

mod accept;
mod admin;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod conformance;
mod entry;
mod stored;

/// The default store: the one [`Webhooks`](crate::Webhooks) uses unless given another.
///
/// ```
/// use webhook_receiver::store::{DEFAULT_TTL, DefaultStore};
/// let store = DefaultStore::default();
/// assert!(store.is_empty());
/// assert_eq!(store.ttl(), DEFAULT_TTL);
/// ```
pub type DefaultStore = MokaStore;

#[diagnostic::on_unimplemented(
    note = "a store implements `webhook_receiver::store::Store`: see its module docs for the contract"
)]
/// Where accepted events are claimed, kept and handed back: the one storage seam.
///
/// See the [module docs](self) for the contract a store must keep, and
/// `store::conformance` (feature `testing`) for the suite that checks it.
///
/// # Example
///
/// A store of your own that remembers keys in a set (and keeps nothing else), given to the
/// receiver with [`WebhooksBuilder::store`](crate::WebhooksBuilder::store). A store that keeps
/// events returns an [`Entry`] with [`Accepted::New`] and hands back what is left through
/// [`feed`](Store::feed): `tests/user_store.rs` in the repository has one that survives a
/// restart.
///
/// ```
/// use std::collections::HashSet;
/// use std::future::{Future, ready};
/// use std::sync::Mutex;
/// use webhook_receiver::store::{Accepted, Incoming, Store, StoreError};
///
/// #[derive(Debug, Default)]
/// struct SetStore(Mutex<HashSet<webhook_receiver::DedupKey>>);
///
/// impl Store for SetStore {
///     fn accept(&self, event: Incoming<'_>) -> impl Future<Output = Result<Accepted, StoreError>> + Send {
///         // One insert-if-absent under the lock, done before the future is returned.
///         let new = self.0.lock().unwrap().insert(event.key());
///         ready(Ok(if new { Accepted::New(None) } else { Accepted::Duplicate }))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = SetStore::default();
/// let (body, headers) = (bytes::Bytes::from_static(b"{}"), http::HeaderMap::new());
/// let event = Incoming::new(webhook_receiver::DedupKey::from_parts(&[b"evt_1"]), &body, &headers);
/// assert!(matches!(store.accept(event).await, Ok(Accepted::New(None))));
/// assert!(matches!(store.accept(event).await, Ok(Accepted::Duplicate)));
/// # }
/// ```
pub trait Store: Send + Sync + 'static {
    /// Claims `event`'s key and keeps what this store keeps, in one atomic step, resolving once
    /// that is durable (see the [contract](self#the-contract)).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store cannot answer (unreachable, full: see
    /// [`StoreError::backlog_full`]); the receiver answers 503 and the sender retries.
    fn accept(
        &self,
        event: Incoming<'_>,
    ) -> impl Future<Output = Result<Accepted, StoreError>> + Send;

    /// Whether accepted events are run by whichever replica's [`feed`](Self::feed) takes them
    /// (the store answers [`Accepted::Stored`]) rather than by the process that accepted them:
    /// the receiver then reserves no local queue slot, and the store bounds its own backlog.
    /// Default: `false`.
    ///
    /// ```
    /// use webhook_receiver::store::{MokaStore, Store};
    /// assert!(!MokaStore::new().is_shared());
    /// ```
    fn is_shared(&self) -> bool {
        false
    }

    /// Starts handing over the events this process is to run that it did not accept just now:
    /// what an earlier run left, events whose accept nobody observed, and, for a shared store,
    /// what its consumer takes. Called once, when the receiver starts; the receiver queues
    /// what is ready at once before it serves (the replay), then takes one more whenever its
    /// dispatcher has room, until it closes and drops the receiver (a store's task stops then).
    ///
    /// Default: `None`, for a store that keeps no events.
    ///
    /// ```
    /// use webhook_receiver::store::{MokaStore, Store};
    /// assert!(MokaStore::new().feed().is_none());
    /// ```
    fn feed(&self) -> Option<mpsc::Receiver<Pending>> {
        None
    }

    /// Resolves once the bookkeeping recorded before it is durable. The facade awaits it at
    /// the end of [`drain`](crate::Webhooks::drain). Default: at once.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if it could not be made durable.
    fn flush(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(Ok(()))
    }

    /// Where the store is, for log lines (a directory, a Redis stream with the password
    /// redacted). Default: the type's name.
    ///
    /// ```
    /// use webhook_receiver::store::{MokaStore, Store};
    /// assert_eq!(MokaStore::new().location(), "in memory");
    /// ```
    fn location(&self) -> String {
        std::any::type_name::<Self>().to_owned()
    }
}
