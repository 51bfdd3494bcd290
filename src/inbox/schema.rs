//! The inbox's redb tables, and the invariants that tie them together.
//!
//! | table | key | value |
//! |---|---|---|
//! | `events` | event id (`u64`) | the event record ([`record`](super::record) encoding) |
//! | `dedup_keys` | dedup key (`[u8; 16]`) | expires at (`u64`, ms since the Unix epoch) |
//! | `dedup_expiry` | `(expires at, dedup key)` | `()`: the purge order |
//! | `routes` | `(event id, route)` | `(attempts, next attempt at in ms or 0, done)` |
//! | `meta` | name (`&str`) | `u64`: `format`, `next_event_id` |
//! | `dead_letters` | `(event id, route or u32::MAX)` | a dead letter (JSON: handler, reason, attempts, error, time) |
//! | `event_admin` | event id | `(dead at in ms or 0, replays, last replay at in ms or 0, listed routes only)` |
//!
//! An event is *dead* when its `event_admin` row has a dead time: it is kept, and not run again
//! at a start, until an operator replays, deletes or prunes it (format 3; a format 2 file is
//! upgraded in place: it has no dead event).
//!
//! Invariants, kept by every write transaction:
//! - every event's key is in `dedup_keys` (claim and event are written together), and a key
//!   outlives its event while it runs: events are deleted by completion, keys only by expiry (a
//!   dead event, kept for an operator, may outlive its key);
//! - `dedup_keys` and `dedup_expiry` hold the same pairs;
//! - route, dead-letter and admin rows exist only for stored events (written only if the event
//!   is there, deleted with it);
//! - `next_event_id` is above every id ever given out.

use redb::{
    ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};

use super::error::InboxError;

/// Events by id: the encoded record.
pub(crate) const EVENTS: TableDefinition<'static, u64, &[u8]> = TableDefinition::new("events");
/// Dedup keys remembered, with their expiry time (ms).
/// The same pairs ordered by expiry, for purging.
pub(crate) const EXPIRY: TableDefinition<'static, (u64, [u8; 16]), ()> =
    TableDefinition::new("dedup_expiry");
/// Per-handler state of an event: `(attempts, next_at ms or 0, done)`.
pub(crate) const ROUTES: TableDefinition<'static, (u64, u32), (u32, u64, bool)> =
    TableDefinition::new("routes");
/// Dead letters of kept events, by `(event id, route)` (`u32::MAX`: the event had no handler).
pub(crate) const DEAD: TableDefinition<'static, (u64, u32), &[u8]> =
    TableDefinition::new("dead_letters");
/// Per event, what operators see and do: `(dead at ms or 0, replays, last replay at ms or 0,
/// only the listed routes run)`.
pub(crate) const ADMIN: TableDefinition<'static, u64, (u64, u32, u64, bool)> =
    TableDefinition::new("event_admin");
/// Counters and the format version.
pub(crate) const META: TableDefinition<'static, &str, u64> = TableDefinition::new("meta");

/// `meta` key of the file's format version.
pub(crate) const FORMAT: &str = "format";
/// `meta` key of the next event id to give out.
pub(crate) const NEXT_EVENT_ID: &str = "next_event_id";
/// The format version this code reads and writes.
pub(crate) const FORMAT_VERSION: u64 = 3;
/// The previous format (no dead events kept), upgraded in place when opened.
const FORMAT_UPGRADED_FROM: u64 = 2;

/// Creates the tables if missing and checks (or writes) the format version.
pub(crate) fn init(txn: &WriteTransaction) -> Result<(), InboxError> {
    txn.open_table(EVENTS).map_err(InboxError::storage)?;
    txn.open_table(EXPIRY).map_err(InboxError::storage)?;
    txn.open_table(ROUTES).map_err(InboxError::storage)?;
    txn.open_table(DEAD).map_err(InboxError::storage)?;
    txn.open_table(ADMIN).map_err(InboxError::storage)?;
    let mut meta = txn.open_table(META).map_err(InboxError::storage)?;
    let found = meta
        .get(FORMAT)
        .map_err(InboxError::storage)?
        .map(|v| v.value());
    match found {
        None | Some(FORMAT_UPGRADED_FROM) => {
            meta.insert(FORMAT, FORMAT_VERSION)
                .map_err(InboxError::storage)?;
        }
        Some(FORMAT_VERSION) => {}
        Some(found) => {
            return Err(InboxError::UnsupportedFormat {
                found,
                supported: FORMAT_VERSION,
            });
        }
    }
    Ok(())
}

/// Deletes up to `limit` keys whose expiry is at or before `now_ms`, oldest first, from both
/// key tables. Returns how many were deleted.
pub(crate) fn purge_expired(
    txn: &WriteTransaction,
    now_ms: u64,
    limit: usize,
    keys: &mut KeyIndex,
) -> Result<usize, redb::Error> {
    let mut expiry = txn.open_table(EXPIRY)?;
    let mut expired = Vec::new();
    for entry in expiry.range(..=(now_ms, [0xff; 16]))?.take(limit) {
        let (k, _) = entry?;
        expired.push(k.value());
    }
    for (expires, key) in &expired {
        expiry.remove((*expires, *key))?;
        // A key claimed again after it expired has a newer expiry, and its old index entry was
        // removed then; this check keeps the purge safe even if the two ever disagree.
        if keys.get(key) == Some(expires) {
            keys.remove(key);
        }
    }
    Ok(expired.len())
}

/// The dedup keys and their expiry times (ms), in memory on the committer thread: the
/// `dedup_expiry` table is their durable copy, read back at open. Kept in memory so that a
/// claim is a hash lookup and its write an append to a time-ordered table; a table keyed by the
/// random 16-byte key made every accept dirty a leaf page of its own (measured: see
/// benches/README.md).
pub(crate) type KeyIndex = std::collections::HashMap<[u8; 16], u64>;

/// Reads every remembered key back (the latest expiry wins).
pub(crate) fn load_keys(txn: &WriteTransaction) -> Result<KeyIndex, redb::Error> {
    let expiry = txn.open_table(EXPIRY)?;
    let mut keys = KeyIndex::with_capacity(usize::try_from(expiry.len()?).unwrap_or(0));
    for entry in expiry.iter()? {
        let (k, _) = entry?;
        let (expires, key) = k.value();
        let slot = keys.entry(key).or_insert(expires);
        *slot = (*slot).max(expires);
    }
    Ok(keys)
}

/// The number of rows in `table`, in a read transaction of `db`.
pub(crate) fn count<K, V>(
    db: &redb::Database,
    table: TableDefinition<'static, K, V>,
) -> Result<u64, InboxError>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
{
    use redb::ReadableTableMetadata;
    let txn = db.begin_read().map_err(InboxError::storage)?;
    let table = txn.open_table(table).map_err(InboxError::storage)?;
    table.len().map_err(InboxError::storage)
}
