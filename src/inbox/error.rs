//! [`InboxError`]: why an inbox (durable or on Redis) could not open, store or read.

use std::path::PathBuf;
use std::sync::Arc;

use crate::store::StoredId;

/// Why an inbox (the durable inbox, or the Redis inbox) could not open, store or read.
///
/// It is `Clone`: when one group commit fails, every [`accept`](super::DurableInbox) of that
/// batch is answered with the same error.
///
/// ```
/// use webhook_receiver::store::{DurableInbox, InboxError};
///
/// # fn main() -> Result<(), webhook_receiver::BoxError> {
/// let file = std::env::temp_dir().join(format!("wr-doc-{}-inbox-error", std::process::id()));
/// std::fs::write(&file, "not a directory")?;
/// let err = DurableInbox::open(&file).unwrap_err();
/// assert!(matches!(&err, InboxError::Open { path, .. } if *path == file), "{err}");
/// # std::fs::remove_file(&file)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum InboxError {
    /// The durable inbox's directory or its database file could not be created or opened.
    #[error("cannot open the durable inbox in {}: {source}", path.display())]
    Open {
        /// The inbox directory.
        path: PathBuf,
        /// What failed (an I/O or database error).
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// A Redis inbox could not connect: the server did not answer within the
    /// [connect timeout](crate::store::RedisInboxBuilder::connect_timeout), refused the
    /// credentials, could not create the consumer group, or (with
    /// [`require_noeviction`](crate::store::RedisInboxBuilder::require_noeviction)) may evict
    /// keys. Neither the message nor `url` holds the URL's password.
    #[error("cannot connect the Redis inbox to {url}: {source}")]
    Connect {
        /// The server's URL, its password redacted (`redis://…@host:6379`).
        url: String,
        /// What failed (the last connection error, a timeout, the policy found).
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The inbox is already open, by this process or another: one database file has one owner.
    /// Open it once and clone the [`DurableInbox`](super::DurableInbox) instead.
    #[error(
        "the durable inbox in {} is already open (by this or another process); \
         open it once and share clones",
        path.display()
    )]
    AlreadyOpen {
        /// The inbox directory.
        path: PathBuf,
    },
    /// Reading or writing the store failed. Durable inbox: an I/O error, a full disk, a failed
    /// `fsync`; nothing of the transaction that failed was applied, and after an I/O error redb
    /// refuses further writes until the file is reopened (drop every clone of the inbox and
    /// open it again). Redis inbox: Redis did not answer, or answered with an error.
    #[error("inbox storage error: {0}")]
    Storage(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// Stored data could not be decoded (a damaged or foreign file). Never a panic.
    #[error("corrupt durable inbox data{}: {what}", id.map(|id| format!(" (event {})", id.get())).unwrap_or_default())]
    Corrupt {
        /// The event whose record is damaged, if the damage is in an event.
        id: Option<StoredId>,
        /// What is wrong.
        what: &'static str,
    },
    /// The inbox (a redb file, a Postgres schema) was written by a newer, incompatible version
    /// of this crate.
    #[error(
        "the inbox's stored format is version {found}, written by a newer version of this crate; this version reads {supported}"
    )]
    UnsupportedFormat {
        /// The format version found in the file.
        found: u64,
        /// The format version this version of the crate reads and writes.
        supported: u64,
    },
    /// The event is larger than a record can hold (redb values are at most 3 GiB).
    #[error("the event is too large to store ({size} bytes)")]
    TooLarge {
        /// The encoded size in bytes.
        size: usize,
    },
    /// The task that writes the inbox (the durable inbox's committer thread, the Redis inbox's
    /// bookkeeping task) is gone: it panicked, or the inbox is shutting down.
    #[error("the inbox's writer is gone (it panicked, or the inbox is shutting down)")]
    Closed,
    /// A shared inbox holds as many events not yet done as it may
    /// ([`RedisInboxBuilder::max_backlog`](crate::store::RedisInboxBuilder::max_backlog)):
    /// nothing was written, and the receiver answers 503 with `Retry-After`.
    #[error("the inbox's backlog is full ({limit} events not yet done)")]
    Backlog {
        /// The limit.
        limit: u64,
    },
}

impl InboxError {
    /// Wraps a database or I/O error met after the inbox was opened.
    pub(crate) fn storage(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Storage(Arc::new(source))
    }

    /// An event record that cannot be decoded.
    pub(crate) const fn corrupt_event(id: StoredId, what: &'static str) -> Self {
        Self::Corrupt { id: Some(id), what }
    }
}

impl From<InboxError> for crate::error::StoreError {
    fn from(error: InboxError) -> Self {
        match error {
            InboxError::Backlog { limit } => Self::backlog_full(limit),
            other => Self::new(other),
        }
    }
}
