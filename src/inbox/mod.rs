//! Inboxes: every accepted event and its dedup claim stored together, in one atomic step,
//! before the sender is answered 200.
//!
//! Two implement one seam (the receiver accepts through it, the dispatcher records each
//! handler's progress through it, and the events it hands back run as replays):
//!
//! - [`DurableInbox`] (feature `durable`): one process, a redb file on its disk; survives
//!   crashes and restarts of that process. Described below.
//! - [`RedisInbox`] (feature `redis`): any number of replicas sharing a Redis Stream read by
//!   one consumer group; a dead replica's events are taken over by the others. See its docs.
//!
//! `DEPLOYMENT.md` in the repository compares them with the in-memory default.
//!
//! # The durable inbox
//!
//! With the in-memory store, an event acknowledged and then lost to a crash or a deploy is gone:
//! the sender saw 200 and will not retry. A [`DurableInbox`] closes that gap. Before answering,
//! the receiver commits the claim and the raw event to a file and waits for the `fsync`; the
//! dispatcher records each handler's attempts and deletes the event when every handler is done;
//! and when the process starts again, the events still stored are read back and dispatched again.
//!
//! ## What is stored
//!
//! In one file, `<dir>/inbox.redb`:
//! - per event: the raw body exactly as received (decoded again when it is re-dispatched), the
//!   request's non-credential headers (the caller chooses them; values marked
//!   [sensitive](http::HeaderValue::is_sensitive) are never written), the dedup key, and the
//!   receive time (to the millisecond), under an [`StoredId`](crate::store::StoredId) that grows with every event;
//! - per handler of an event: its attempts so far, when it is to be retried, and whether it is
//!   done;
//! - the dedup keys with their expiry ([`dedup_ttl`](DurableInboxBuilder::dedup_ttl), 24 h by
//!   default), so that redeliveries are recognised across restarts as well. They are written in
//!   expiry order (each commit appends) and read back into a hash map when the inbox opens; the
//!   committer thread checks claims against that map (~30–55 bytes per remembered key). A
//!   table keyed by the random key itself made every accept rewrite a leaf page of its own: 0.28
//!   of the in-memory receiver's throughput instead of 0.43 (benches/README.md).
//!
//! A completed event is deleted with its handler states; its key stays until it expires.
//! Expired keys are purged when the inbox opens and, a bounded number at a time, with every
//! durable commit.
//!
//! ## Why redb
//!
//! [redb](https://docs.rs/redb) is an embedded key-value store in pure Rust (no C library, no
//! server): ACID transactions over copy-on-write B-trees in a single file, crash-safe by
//! design (a commit either happened entirely or not at all, and an interrupted process reopens
//! at its last durable commit), with concurrent readers beside one writer.
//!
//! ## Guarantees
//!
//! - **Claim and event together.** An accept is one write transaction that checks the key,
//!   claims it and stores the event. There is never a key without its event, so a crash cannot
//!   make an event look like a duplicate of one that was never stored.
//! - **Durable before 200.** An accept resolves `New` only after its transaction was committed
//!   with `fsync`. If the commit fails, every accept of that batch fails and nothing of it was
//!   applied: the receiver answers 503 and the sender retries.
//! - **Group commit.** One thread (`webhook-inbox-commit`) owns the write side. It takes every
//!   request waiting, up to [`max_batch`](DurableInboxBuilder::max_batch), applies them in one
//!   transaction and commits once, so concurrent accepts share one `fsync`
//!   ([`commits`](DurableInbox::commits) counts them).
//! - **Bookkeeping is cheap, and safe to lose.** Handler attempts and completions are committed
//!   without `fsync` and become durable with the next durable commit (the next accept, a flush,
//!   or the close). A crash before that makes completed events run again.
//! - **At-least-once.** An event can be dispatched more than once (after a crash, or when the
//!   request was dropped after its accept was sent), never zero times once acknowledged.
//!   Handlers should be idempotent.
//!
//! # Example
//!
//! ```
//! use webhook_receiver::store::DurableInbox;
//!
//! # fn main() -> Result<(), webhook_receiver::store::InboxError> {
//! let dir = std::env::temp_dir().join(format!("inbox-mod-doc-{}", std::process::id()));
//! let inbox = DurableInbox::open(&dir)?;
//! assert_eq!((inbox.pending_count()?, inbox.key_count()?), (0, 0));
//! drop(inbox);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "durable")]
mod committer;
#[cfg(feature = "durable")]
mod durable;
mod error;
#[cfg_attr(not(any(feature = "durable", feature = "redis")), allow(dead_code))]
mod record;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "durable")]
mod schema;

#[cfg(all(test, feature = "durable"))]
mod tests;

#[cfg(feature = "durable")]
pub use durable::{DEFAULT_MAX_BATCH, DurableInbox, DurableInboxBuilder};
pub use error::InboxError;
#[cfg(feature = "redis")]
pub use redis::{RedisInbox, RedisInboxBuilder};
