//! Inboxes: every accepted event and its dedup claim stored together, in one atomic step,
//! before the sender is answered 200, and handed back to run after a restart or a takeover.
//! `DurableInbox` (feature `durable`) keeps them for one process in a redb file on its disk;
//! `RedisInbox` (feature `redis`) shares them between replicas on a Redis Stream read by one
//! consumer group; `PostgresInbox` (feature `postgres`) shares them in PostgreSQL tables, with
//! handlers whose database writes commit with their completion. All are public under `store::`, and their
//! type docs say what they store and what they guarantee (the redb one also why redb); this
//! module is private.

#[cfg(feature = "durable")]
mod committer;
#[cfg(feature = "durable")]
mod durable;
#[cfg(feature = "durable")]
mod durable_admin;
mod error;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg_attr(not(any(feature = "durable", feature = "redis")), allow(dead_code))]
mod record;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_admin;
#[cfg(feature = "durable")]
mod schema;

#[cfg(all(test, feature = "durable"))]
mod tests;

#[cfg(feature = "durable")]
pub use durable::{DEFAULT_MAX_BATCH, DurableInbox, DurableInboxBuilder};
pub use error::InboxError;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresInbox, PostgresInboxBuilder, TxFuture};
#[cfg(feature = "redis")]
pub use redis::{RedisInbox, RedisInboxBuilder};
