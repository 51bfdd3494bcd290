//! [`DurableInbox`]: the handle, its builder, and the read side.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable};
use tokio::sync::{mpsc as async_mpsc, oneshot};

use super::committer::{Accept, Command, Committer, Orphans};
use super::error::InboxError;
use super::record::{self, NewEvent, to_millis};
use super::schema::{self, ADMIN, EVENTS, EXPIRY, ROUTES};
use crate::dedup::DEFAULT_TTL;
use crate::store::{
    Accepted, DeadLetterRecord, Entry, Incoming, Pending, Store, StoreError, StoredId,
    StoredRequest,
};

/// The database file's name in the inbox directory.
pub(crate) const FILE_NAME: &str = "inbox.redb";

/// Default [`max_batch`](DurableInboxBuilder::max_batch): commands applied in one transaction.
///
/// ```
/// use webhook_receiver::store::{DEFAULT_MAX_BATCH, DurableInbox};
///
/// # fn main() -> Result<(), webhook_receiver::store::InboxError> {
/// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-max-batch-default", std::process::id()));
/// assert_eq!(DEFAULT_MAX_BATCH, 512);
/// // At most 128 waiting accepts share one commit (one `fsync`).
/// let inbox = DurableInbox::builder(&dir).max_batch(DEFAULT_MAX_BATCH / 4).open()?;
/// # drop(inbox); std::fs::remove_dir_all(&dir).ok();
/// # Ok(()) }
/// ```
pub const DEFAULT_MAX_BATCH: usize = 512;

/// A durable inbox: accepted events and their dedup claims in one crash-safe redb file.
///
/// With the in-memory store, an event acknowledged and then lost to a crash or a deploy is gone:
/// the sender saw 200 and will not retry. A `DurableInbox` closes that gap. Before answering,
/// the receiver commits the claim and the raw event to a file and waits for the `fsync`; the
/// dispatcher records each handler's attempts and deletes the event when every handler is done;
/// and when the process starts again, the events still stored are read back and dispatched again.
///
/// # What is stored
///
/// In one file, `<dir>/inbox.redb`:
/// - per event: the raw body exactly as received (decoded again when it is re-dispatched), the
///   request's non-credential headers (the caller chooses them; values marked
///   [sensitive](http::HeaderValue::is_sensitive) are never written), the dedup key, and the
///   receive time (to the millisecond), under a [`StoredId`](crate::store::StoredId) that grows
///   with every event;
/// - per handler of an event: its attempts so far, when it is to be retried, and whether it is
///   done;
/// - the dedup keys with their expiry ([`dedup_ttl`](DurableInboxBuilder::dedup_ttl), 24 h by
///   default), so that redeliveries are recognised across restarts as well. They are written in
///   expiry order (each commit appends) and read back into a hash map when the inbox opens; the
///   committer thread checks claims against that map (~30–55 bytes per remembered key). A
///   table keyed by the random key itself made every accept rewrite a leaf page of its own: 0.28
///   of the in-memory receiver's throughput instead of 0.43 (benches/README.md).
///
/// A completed event is deleted with its handler states; its key stays until it expires. An event
/// a handler dead-lettered is kept instead, as dead, with each dead handler's reason, attempts
/// and last error, until an operator replays, deletes or prunes it
/// ([`InboxAdmin`](crate::store::InboxAdmin)); it does not run again at a start.
/// Expired keys are purged when the inbox opens and, a bounded number at a time, with every
/// durable commit.
///
/// # Why redb
///
/// [redb](https://docs.rs/redb) is an embedded key-value store in pure Rust (no C library, no
/// server): ACID transactions over copy-on-write B-trees in a single file, crash-safe by
/// design (a commit either happened entirely or not at all, and an interrupted process reopens
/// at its last durable commit), with concurrent readers beside one writer.
///
/// # Guarantees
///
/// - **Claim and event together.** An accept is one write transaction that checks the key,
///   claims it and stores the event. There is never a key without its event, so a crash cannot
///   make an event look like a duplicate of one that was never stored.
/// - **Durable before 200.** An accept resolves `New` only after its transaction was committed
///   with `fsync`. If the commit fails, every accept of that batch fails and nothing of it was
///   applied: the receiver answers 503 and the sender retries.
/// - **Group commit.** One thread (`webhook-inbox-commit`) owns the write side. It takes every
///   request waiting, up to [`max_batch`](DurableInboxBuilder::max_batch), applies them in one
///   transaction and commits once, so concurrent accepts share one `fsync`
///   ([`commits`](Self::commits) counts them).
/// - **Bookkeeping is cheap, and safe to lose.** Handler attempts and completions are committed
///   without `fsync` and become durable with the next durable commit (the next accept, a flush,
///   or the close). A crash before that makes completed events run again.
/// - **At-least-once.** An event can be dispatched more than once (after a crash, or when the
///   request was dropped after its accept was sent), never zero times once acknowledged.
///   Handlers should be idempotent.
///
/// # Clones and drop
///
/// Cheap to clone; every clone shares one database and one committer thread. Dropping the last
/// clone closes the queue, lets the committer commit what was queued (durably), waits for the
/// thread to end and closes the file, so the directory can be opened again right after. That
/// wait blocks the dropping thread for at most the commits still queued (the receiver flushes
/// the inbox at shutdown, after which the drop is immediate).
///
/// [`open`](Self::open) and [`builder`](Self::builder) open one; give it to the receiver with
/// [`WebhooksBuilder::store`](crate::WebhooksBuilder::store). The [`store`](crate::store)
/// module's docs have the contract it keeps as a [`Store`], and `DEPLOYMENT.md` in the
/// repository compares it with the other stores.
///
/// ```
/// use webhook_receiver::store::DurableInbox;
///
/// # fn main() -> Result<(), webhook_receiver::store::InboxError> {
/// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-inbox-clones", std::process::id()));
/// let inbox = DurableInbox::open(&dir)?;
/// assert_eq!((inbox.pending_count()?, inbox.key_count()?), (0, 0));
/// let clone = inbox.clone(); // the same file and committer thread
/// drop(inbox);
/// assert!(DurableInbox::open(&dir).is_err()); // still open, through the clone
/// drop(clone); // the last one: the file is closed
/// let inbox = DurableInbox::open(&dir)?;
/// # drop(inbox); std::fs::remove_dir_all(&dir).ok();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DurableInbox {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    dedup_ttl: Duration,
    db: Arc<RwLock<Database>>,
    commits: Arc<AtomicU64>,
    /// Where accepted events whose answer nobody observed go: the feed runs them.
    orphans: Arc<Orphans>,
    /// `None` only while dropping, so that the committer sees the channel close.
    tx: Option<Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

/// Builds a [`DurableInbox`]: [`DurableInbox::builder`].
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::store::DurableInbox;
///
/// # fn main() -> Result<(), webhook_receiver::store::InboxError> {
/// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-inbox-builder-type", std::process::id()));
/// let inbox = DurableInbox::builder(&dir)
///     .dedup_ttl(Duration::from_secs(6 * 3600))
///     .max_batch(64)
///     .open()?;
/// assert_eq!(inbox.dedup_ttl(), Duration::from_secs(6 * 3600));
/// # drop(inbox); std::fs::remove_dir_all(&dir).ok();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "call `open()` to open the inbox"]
pub struct DurableInboxBuilder {
    dir: PathBuf,
    dedup_ttl: Duration,
    max_batch: usize,
}

// ===== impl DurableInboxBuilder =====

impl DurableInboxBuilder {
    /// How long a dedup key is remembered after its event was accepted. Default: 24 h
    /// ([`DEFAULT_TTL`](crate::store::DEFAULT_TTL)), as in the in-memory store. Cover the
    /// sender's whole retry span. With a durable inbox this is the receiver's dedup window.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::store::DurableInbox;
    ///
    /// # fn main() -> Result<(), webhook_receiver::store::InboxError> {
    /// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-inbox-dedup-ttl", std::process::id()));
    /// let inbox = DurableInbox::builder(&dir).dedup_ttl(Duration::from_secs(48 * 3600)).open()?;
    /// assert_eq!(inbox.dedup_ttl(), Duration::from_secs(172_800));
    /// # drop(inbox); std::fs::remove_dir_all(&dir).ok();
    /// # Ok(()) }
    /// ```
    pub const fn dedup_ttl(mut self, ttl: Duration) -> Self {
        self.dedup_ttl = ttl;
        self
    }

    /// The most commands applied in one write transaction (one `fsync`). Default:
    /// [`DEFAULT_MAX_BATCH`] (512). 0 counts as 1.
    ///
    /// ```
    /// use webhook_receiver::store::DurableInbox;
    ///
    /// # fn main() -> Result<(), webhook_receiver::store::InboxError> {
    /// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-inbox-max-batch", std::process::id()));
    /// // One accept per transaction: no group commit, every event waits for its own `fsync`.
    /// let inbox = DurableInbox::builder(&dir).max_batch(1).open()?;
    /// assert_eq!(inbox.commits(), 0);
    /// # drop(inbox); std::fs::remove_dir_all(&dir).ok();
    /// # Ok(()) }
    /// ```
    pub const fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch;
        self
    }

    /// Creates the directory if missing, opens (or creates) `inbox.redb` in it, purges the
    /// expired dedup keys and starts the committer thread.
    ///
    /// If the process stopped uncleanly, redb recovers the file to its last durable commit
    /// first (this walks the whole file, so it takes longer on a large inbox).
    ///
    /// # Errors
    ///
    /// - [`InboxError::AlreadyOpen`] if the directory's inbox is open, in this process or another;
    /// - [`InboxError::Open`] if the directory or file cannot be created or opened, or the thread
    ///   cannot be started; also if the file is damaged (truncated, or not a redb file), with a
    ///   message that says so and what to do: move it aside and start again, with a new, empty
    ///   inbox (a zero-length file is opened as a new inbox, with a warning);
    /// - [`InboxError::UnsupportedFormat`] if a newer version of this crate wrote the file;
    /// - [`InboxError::Storage`] if the first transaction fails.
    ///
    /// # Example
    ///
    /// ```
    /// use webhook_receiver::store::DurableInbox;
    ///
    /// # fn main() -> Result<(), webhook_receiver::store::InboxError> {
    /// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-inbox-builder-open", std::process::id()));
    /// let inbox = DurableInbox::builder(dir.join("nested/inbox")).open()?; // creates directories
    /// assert!(inbox.path().join("inbox.redb").is_file());
    /// # drop(inbox); std::fs::remove_dir_all(&dir).ok();
    /// # Ok(()) }
    /// ```
    pub fn open(self) -> Result<DurableInbox, InboxError> {
        let dir = self.dir;
        let open_error = |source: Arc<dyn std::error::Error + Send + Sync>| InboxError::Open {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(|e| open_error(Arc::new(e)))?;
        let file = dir.join(FILE_NAME);
        let db = match create_database(&file) {
            Ok(db) => db,
            Err(Created::Failed(DatabaseError::DatabaseAlreadyOpen)) => {
                return Err(InboxError::AlreadyOpen { path: dir });
            }
            Err(Created::Failed(e)) if !is_damage(&e) => return Err(open_error(Arc::new(e))),
            Err(Created::Failed(e)) => {
                let cause = e.to_string();
                return Err(open_error(Arc::new(DamagedFile { file, cause })));
            }
            Err(Created::Panicked(cause)) => {
                return Err(open_error(Arc::new(DamagedFile { file, cause })));
            }
        };

        let txn = db.begin_write().map_err(InboxError::storage)?;
        schema::init(&txn)?;
        let mut keys = schema::load_keys(&txn).map_err(InboxError::storage)?;
        let purged =
            schema::purge_expired(&txn, to_millis(SystemTime::now()), usize::MAX, &mut keys)
                .map_err(InboxError::storage)?;
        txn.commit().map_err(InboxError::storage)?;
        tracing::debug!(dir = %dir.display(), purged, "durable inbox opened");

        let db = Arc::new(RwLock::new(db));
        let commits = Arc::new(AtomicU64::new(0));
        let orphans = Arc::new(Orphans::default());
        let (tx, rx) = mpsc::channel();
        let thread = Committer {
            db: Arc::clone(&db),
            orphans: Arc::clone(&orphans),
            rx,
            ttl_ms: u64::try_from(self.dedup_ttl.as_millis()).unwrap_or(u64::MAX),
            max_batch: self.max_batch,
            commits: Arc::clone(&commits),
            keys,
        }
        .spawn()
        .map_err(|e| open_error(Arc::new(e)))?;

        Ok(DurableInbox {
            inner: Arc::new(Inner {
                dir,
                dedup_ttl: self.dedup_ttl,
                db,
                commits,
                orphans,
                tx: Some(tx),
                thread: Some(thread),
            }),
        })
    }
}

/// Why [`create_database`] gave no database.
enum Created {
    /// redb returned an error.
    Failed(DatabaseError),
    /// redb panicked (its message): one of its internal checks failed on the file's contents.
    Panicked(String),
}

/// Opens (or creates) the redb file, turning a panic inside redb into [`Created::Panicked`].
///
/// A zero-length file is opened as a new, empty inbox, as redb does (it holds no event, and it
/// is what a crash between the file's creation and redb's first write leaves); it is logged at
/// WARN in case something else emptied it.
///
/// Why the `catch_unwind`: redb 3 checks a file's length against the layout recorded in its
/// header with `assert!` (`PageManager::new`, in release builds too), so a truncated file (a
/// full disk, a bad copy or restore) panicked here instead of returning an error. Catching the
/// unwind is sound: `Database::create` only builds values it owns (the `File` and its lock,
/// the page caches, the header it read); when it panics none of them has escaped, and
/// unwinding drops them all, which closes the file and releases its lock. Nothing is
/// observed afterwards, so no broken invariant can leak out (the closure only captures a
/// `&Path`, which is `UnwindSafe`). Only an actual panic is converted, so a healthy file is
/// never refused; reading redb's header ourselves to predict the assertion would tie this
/// crate to redb's private file layout and could refuse good files if that layout changed.
/// Limits: the process's panic hook still runs (with the default hook, redb's assertion
/// message is printed to stderr before the error is returned), and a binary built with
/// `panic = "abort"` still aborts.
fn create_database(file: &Path) -> Result<Database, Created> {
    if std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.len() == 0) {
        tracing::warn!(
            file = %file.display(),
            "the durable inbox file is empty: opening it as a new inbox"
        );
    }
    match std::panic::catch_unwind(|| Database::create(file)) {
        Ok(result) => result.map_err(Created::Failed),
        Err(payload) => Err(Created::Panicked(
            payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic in redb".to_owned()),
        )),
    }
}

/// Whether redb's error says the file's contents are unreadable (not a permission, lock or
/// version problem): a file too short for its header ([`UnexpectedEof`]), a wrong magic
/// number ([`InvalidData`]), or a corruption redb detected.
///
/// [`UnexpectedEof`]: std::io::ErrorKind::UnexpectedEof
/// [`InvalidData`]: std::io::ErrorKind::InvalidData
fn is_damage(error: &DatabaseError) -> bool {
    use std::io::ErrorKind;
    match error {
        DatabaseError::Storage(redb::StorageError::Corrupted(_)) => true,
        DatabaseError::Storage(redb::StorageError::Io(e)) => {
            matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::InvalidData)
        }
        _ => false,
    }
}

/// The source of [`InboxError::Open`] when the file exists but cannot be read as an inbox.
#[derive(Debug)]
struct DamagedFile {
    file: PathBuf,
    cause: String,
}

impl fmt::Display for DamagedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is damaged ({}): move it aside (e.g. rename it to {FILE_NAME}.damaged) and \
             start again, which opens a new, empty inbox; the events it held are lost unless \
             recovered from the moved file",
            self.file.display(),
            self.cause,
        )
    }
}

impl std::error::Error for DamagedFile {}

// ===== impl DurableInbox =====

impl DurableInbox {
    /// A builder for the inbox in directory `dir` (its file is `dir/inbox.redb`). Nothing is
    /// touched on disk before [`open`](DurableInboxBuilder::open).
    ///
    /// ```
    /// use webhook_receiver::store::DurableInbox;
    ///
    /// # fn main() -> Result<(), webhook_receiver::store::InboxError> {
    /// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-inbox-builder", std::process::id()));
    /// let builder = DurableInbox::builder(&dir);
    /// assert!(!dir.exists());
    /// let inbox = builder.open()?;
    /// assert!(dir.join("inbox.redb").is_file());
    /// # drop(inbox); std::fs::remove_dir_all(&dir).ok();
    /// # Ok(()) }
    /// ```
    pub fn builder(dir: impl Into<PathBuf>) -> DurableInboxBuilder {
        DurableInboxBuilder {
            dir: dir.into(),
            dedup_ttl: DEFAULT_TTL,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }

    /// Opens the inbox in `dir` with the default settings: `DurableInbox::builder(dir).open()`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::store::{DurableInbox, InboxError};
    ///
    /// # fn main() -> Result<(), InboxError> {
    /// let dir = std::env::temp_dir().join(format!("inbox-doc-{}", std::process::id()));
    /// let inbox = DurableInbox::open(&dir)?; // creates `dir` and `dir/inbox.redb`
    /// assert_eq!(inbox.path(), dir);
    /// assert_eq!(inbox.pending_count()?, 0);
    ///
    /// // One owner per directory: a second open fails until every clone is dropped.
    /// let err = DurableInbox::open(&dir).unwrap_err();
    /// assert!(matches!(err, InboxError::AlreadyOpen { .. }), "{err}");
    /// drop(inbox); // commits what is queued, ends the committer thread, closes the file
    ///
    /// let inbox = DurableInbox::builder(&dir).dedup_ttl(Duration::from_secs(3600)).open()?;
    /// assert_eq!(inbox.dedup_ttl(), Duration::from_secs(3600));
    /// # drop(inbox);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`DurableInboxBuilder::open`].
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, InboxError> {
        Self::builder(dir).open()
    }

    /// The inbox directory.
    ///
    /// ```
    /// use webhook_receiver::store::DurableInbox;
    ///
    /// # fn main() -> Result<(), webhook_receiver::store::InboxError> {
    /// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-inbox-path", std::process::id()));
    /// let inbox = DurableInbox::open(&dir)?;
    /// assert_eq!(inbox.path(), dir);
    /// assert!(inbox.path().join("inbox.redb").is_file());
    /// # drop(inbox); std::fs::remove_dir_all(&dir).ok();
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// How long a dedup key is remembered.
    ///
    /// ```
    /// use webhook_receiver::store::DEFAULT_TTL;
    /// use webhook_receiver::store::DurableInbox;
    ///
    /// # fn main() -> Result<(), webhook_receiver::store::InboxError> {
    /// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-inbox-ttl", std::process::id()));
    /// let inbox = DurableInbox::open(&dir)?;
    /// assert_eq!(inbox.dedup_ttl(), DEFAULT_TTL); // 24 h
    /// # drop(inbox); std::fs::remove_dir_all(&dir).ok();
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn dedup_ttl(&self) -> Duration {
        self.inner.dedup_ttl
    }

    /// Durable commits (`fsync`s) made by the committer since the inbox was opened: accepted
    /// events divided by this is the events per `fsync` that group commit achieved.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp;
    /// use webhook_receiver::store::DurableInbox;
    /// # use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), webhook_receiver::BoxError> {
    /// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-inbox-commits", std::process::id()));
    /// # let body = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let request = || http::Request::post("/").header("x-webhook-secret", "s3cr3t")
    /// #     .header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// let webhooks = chirp::webhooks(["s3cr3t"])?
    ///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async {})
    ///     .store(DurableInbox::open(&dir)?)
    ///     .spawn();
    /// let before = webhooks.store().commits();
    /// assert_eq!(webhooks.clone().oneshot(request()).await?.status(), 200);
    /// assert!(webhooks.store().commits() > before); // committed before the 200
    /// # webhooks.drain(Duration::from_secs(5)).await?;
    /// # drop(webhooks); std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// Events kept, as committed so far: accepted and not yet completed, and dead (a handler
    /// dead-lettered them; kept for an operator: [`InboxAdmin`](crate::store::InboxAdmin)).
    ///
    /// # Errors
    ///
    /// [`InboxError::Storage`] if the read fails.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp;
    /// use webhook_receiver::dispatch::RetryPolicy;
    /// use webhook_receiver::store::DurableInbox;
    /// # use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), webhook_receiver::BoxError> {
    /// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-inbox-pending", std::process::id()));
    /// # let body = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let request = || http::Request::post("/").header("x-webhook-secret", "s3cr3t")
    /// #     .header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// let webhooks = chirp::webhooks(["s3cr3t"])?
    ///     .retry_policy(RetryPolicy::default().initial_backoff(Duration::from_secs(3600)))
    ///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async { Err::<(), _>(std::io::Error::other("db down")) })
    ///     .store(DurableInbox::open(&dir)?)
    ///     .spawn();
    /// # assert_eq!(webhooks.clone().oneshot(request()).await?.status(), 200);
    /// // Accepted; its handler failed, and its retry is an hour away at the shutdown:
    /// webhooks.drain(Duration::from_millis(50)).await.unwrap_err();
    /// assert_eq!(webhooks.store().pending_count()?, 1); // runs at the next start
    /// # drop(webhooks); std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub fn pending_count(&self) -> Result<u64, InboxError> {
        let db = self.read_db();
        schema::count(&db, EVENTS)
    }

    /// Dedup keys remembered: unexpired ones, and expired ones not purged yet (each durable
    /// commit purges up to 1024, and opening purges them all).
    ///
    /// # Errors
    ///
    /// [`InboxError::Storage`] if the read fails.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::chirp;
    /// use webhook_receiver::store::DurableInbox;
    /// # use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), webhook_receiver::BoxError> {
    /// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-inbox-keys", std::process::id()));
    /// # let body = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let request = || http::Request::post("/").header("x-webhook-secret", "s3cr3t")
    /// #     .header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// let webhooks = chirp::webhooks(["s3cr3t"])?
    ///     .on(chirp::SMS_DELIVERED, |_status, _ctx| async {})
    ///     .store(DurableInbox::open(&dir)?)
    ///     .spawn();
    /// for _ in 0..2 {
    ///     webhooks.clone().oneshot(request()).await?; // a delivery and its redelivery
    /// }
    /// webhooks.drain(Duration::from_secs(5)).await?;
    /// let inbox = webhooks.store();
    /// assert_eq!((inbox.key_count()?, inbox.pending_count()?), (1, 0)); // done; its key stays
    /// # drop(webhooks); std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub fn key_count(&self) -> Result<u64, InboxError> {
        let db = self.read_db();
        schema::count(&db, EXPIRY)
    }

    /// Compacts the database file, returning whether anything was compacted (call it again
    /// until it returns `false` to compact fully).
    ///
    /// Runs on the committer thread after what was queued before it, and holds every other
    /// reader and writer of the inbox off while it runs (accepts wait): call it when the
    /// receiver is quiet, and from a blocking context (`tokio::task::spawn_blocking`), since it
    /// blocks the calling thread. Completing events already frees their space for reuse inside
    /// the file; compaction only gives it back to the file system.
    ///
    /// # Errors
    ///
    /// [`InboxError::Storage`] if compaction fails, [`InboxError::Closed`] if the committer
    /// thread is gone.
    ///
    /// # Example
    ///
    /// ```
    /// use webhook_receiver::store::DurableInbox;
    ///
    /// # fn main() -> Result<(), webhook_receiver::store::InboxError> {
    /// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-inbox-compact", std::process::id()));
    /// let inbox = DurableInbox::open(&dir)?;
    /// while inbox.compact()? {} // until there is nothing left to give back
    /// assert_eq!(inbox.pending_count()?, 0);
    /// # drop(inbox); std::fs::remove_dir_all(&dir).ok();
    /// # Ok(()) }
    /// ```
    pub fn compact(&self) -> Result<bool, InboxError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Command::Compact { reply })?;
        rx.recv().map_err(|_| InboxError::Closed)?
    }

    /// Claims `event.key` and stores the event, in one write transaction that is committed
    /// durably (`fsync`) before this resolves. Concurrent accepts share one commit.
    ///
    /// If the caller drops this future before it resolves, the event is still committed (and
    /// will come back from [`pending`](Self::pending)): delivery is at-least-once.
    ///
    /// # Errors
    ///
    /// [`InboxError::TooLarge`] (nothing sent), [`InboxError::Storage`] if the batch's commit
    /// failed (nothing of it was applied), [`InboxError::Closed`] if the committer is gone.
    pub(crate) async fn accept(&self, event: NewEvent) -> Result<Accept, InboxError> {
        let record = record::encode(&event)?;
        let (reply, rx) = oneshot::channel();
        self.send(Command::Accept {
            key: event.key,
            record,
            reply,
        })?;
        let mut guard = AcceptGuard {
            rx: Some(rx),
            orphans: &self.inner.orphans,
        };
        let rx = guard.rx.as_mut().expect("set above");
        let outcome = rx.await.map_err(|_| InboxError::Closed)?;
        guard.rx = None;
        outcome
    }

    /// Records that handler `route` of event `id` made `attempts` attempts and, if `next_at`
    /// is set, is to be tried again then. Committed in the next batch, durably with the next
    /// durable commit. Ignored if the event is completed.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn record_attempt(
        &self,
        id: StoredId,
        route: u32,
        attempts: u32,
        next_at: Option<SystemTime>,
    ) {
        self.send_bookkeeping(Command::Attempt {
            id,
            route,
            attempts,
            next_at_ms: record::next_at_to_millis(next_at),
        });
    }

    /// Marks handler `route` of event `id` done (it succeeded or was dead-lettered). Same
    /// durability as [`record_attempt`](Self::record_attempt).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn complete_route(&self, id: StoredId, route: u32) {
        self.send_bookkeeping(Command::CompleteRoute { id, route });
    }

    /// Deletes event `id` and its route states: it is done. Its dedup key stays until it
    /// expires, so redeliveries are still recognised. Same durability as
    /// [`record_attempt`](Self::record_attempt): after a crash before the next durable commit,
    /// the event can come back from [`pending`](Self::pending) (at-least-once).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn complete(&self, id: StoredId) {
        self.send_bookkeeping(Command::Complete { id });
    }

    /// Every event accepted and not completed, oldest first, each with its route states by
    /// route, as committed so far (bookkeeping still queued is not seen: [`flush`](Self::flush)
    /// first to see it).
    ///
    /// Reads on the calling thread (redb readers run beside the committer).
    ///
    /// # Errors
    ///
    /// [`InboxError::Corrupt`] if a record cannot be decoded, [`InboxError::Storage`] if the
    /// read fails.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn pending(&self) -> Result<Vec<StoredRequest>, InboxError> {
        let (events, mut damaged) = self.pending_and_damaged()?;
        match damaged.pop() {
            Some((_, error)) => Err(error),
            None => Ok(events),
        }
    }

    /// Every event accepted and not completed that decodes, oldest first, and, apart, the ids
    /// of those that do not, with why: one damaged record does not hold up the others.
    ///
    /// # Errors
    ///
    /// [`InboxError::Storage`] if the read fails.
    pub(crate) fn pending_and_damaged(
        &self,
    ) -> Result<(Vec<StoredRequest>, Vec<(StoredId, InboxError)>), InboxError> {
        let db = self.read_db();
        let txn = db.begin_read().map_err(InboxError::storage)?;
        let events = txn.open_table(EVENTS).map_err(InboxError::storage)?;
        let routes = txn.open_table(ROUTES).map_err(InboxError::storage)?;
        let admin = txn.open_table(ADMIN).map_err(InboxError::storage)?;
        let mut out = Vec::new();
        let mut damaged = Vec::new();
        for entry in events.iter().map_err(InboxError::storage)? {
            let (id, bytes) = entry.map_err(InboxError::storage)?;
            let id = StoredId::new(id.value());
            let row = super::durable_admin::AdminRow::read(&admin, id)?;
            if row.is_dead() {
                // Kept for an operator: it runs again only when replayed.
                continue;
            }
            match read_request(&routes, id, bytes.value()).map(|r| row.apply(r)) {
                Ok(event) => out.push(event),
                Err(error @ InboxError::Corrupt { .. }) => damaged.push((id, error)),
                Err(error) => return Err(error),
            }
        }
        Ok((out, damaged))
    }

    /// One event accepted and not completed nor dead, by id: `None` if it is done (or was
    /// never there), with whether an operator replayed it.
    fn pending_one(&self, id: StoredId) -> Result<Option<(StoredRequest, bool)>, InboxError> {
        let db = self.read_db();
        let txn = db.begin_read().map_err(InboxError::storage)?;
        let events = txn.open_table(EVENTS).map_err(InboxError::storage)?;
        let routes = txn.open_table(ROUTES).map_err(InboxError::storage)?;
        let admin = txn.open_table(ADMIN).map_err(InboxError::storage)?;
        let Some(bytes) = events.get(id.get()).map_err(InboxError::storage)? else {
            return Ok(None);
        };
        let row = super::durable_admin::AdminRow::read(&admin, id)?;
        if row.is_dead() {
            return Ok(None);
        }
        let replayed = row.replays > 0;
        read_request(&routes, id, bytes.value()).map(|r| Some((row.apply(r), replayed)))
    }

    /// Resolves once everything sent to the committer before it, bookkeeping included, is
    /// committed durably. Await it at shutdown, after the last handler finished.
    ///
    /// # Errors
    ///
    /// [`InboxError::Storage`] if the commit failed, [`InboxError::Closed`] if the committer
    /// is gone.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) async fn flush(&self) -> Result<(), InboxError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Flush { reply })?;
        rx.await.map_err(|_| InboxError::Closed)?
    }

    /// Accepts a body under `key`, received now, with no headers: whether it was new.
    ///
    /// Not part of the API: it exists for `benches/inbox_commit.rs`, which cannot reach the
    /// crate-private `accept`, and may go away.
    ///
    /// # Errors
    ///
    /// As `accept`.
    #[doc(hidden)]
    pub async fn accept_for_bench(
        &self,
        key: crate::DedupKey,
        body: bytes::Bytes,
    ) -> Result<bool, InboxError> {
        let event = NewEvent {
            key,
            body,
            headers: Vec::new(),
            received_at: SystemTime::now(),
        };
        Ok(matches!(self.accept(event).await?, Accept::New(_)))
    }

    pub(super) fn send(&self, cmd: Command) -> Result<(), InboxError> {
        self.inner
            .tx
            .as_ref()
            .ok_or(InboxError::Closed)?
            .send(cmd)
            .map_err(|_| InboxError::Closed)
    }

    fn send_bookkeeping(&self, cmd: Command) {
        if let Err(err) = self.send(cmd) {
            tracing::error!(error = %err, "durable inbox bookkeeping dropped");
        }
    }

    /// The database, for reads (shared with the committer; compaction takes it exclusively).
    pub(super) fn read_db(&self) -> std::sync::RwLockReadGuard<'_, Database> {
        self.inner.db.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for DurableInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableInbox")
            .field("path", &self.inner.dir)
            .field("dedup_ttl", &self.inner.dedup_ttl)
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the committer once it has committed what is queued.
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("durable inbox committer thread panicked");
            }
        }
    }
}

/// Stored event `id` from its record `bytes`, with its handlers' states from `routes`.
pub(super) fn read_request(
    routes: &impl ReadableTable<(u64, u32), (u32, u64, bool)>,
    id: StoredId,
    bytes: &[u8],
) -> Result<StoredRequest, InboxError> {
    let mut request = record::decode(id, bytes)?;
    for row in routes
        .range((id.get(), 0)..=(id.get(), u32::MAX))
        .map_err(InboxError::storage)?
    {
        let (k, v) = row.map_err(InboxError::storage)?;
        request
            .routes
            .push(record::route_from_row(id, k.value().1, v.value())?);
    }
    Ok(request)
}

// ===== the storage seam =====

/// Drives an accept's answer home: if the accept's future is dropped before it saw the
/// answer (the client went away mid-commit), an event committed as new is handed to the feed,
/// so that it runs now and not only at the next start.
struct AcceptGuard<'a> {
    rx: Option<oneshot::Receiver<Result<Accept, InboxError>>>,
    orphans: &'a Orphans,
}

impl Drop for AcceptGuard<'_> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        // After `close`, the committer's reply fails and it hands the event over itself; a
        // reply sent before is still here.
        rx.close();
        if let Ok(Ok(Accept::New(id))) = rx.try_recv() {
            self.orphans.hand_over(id);
        }
    }
}

/// A stored event of a [`DurableInbox`], for the dispatcher's bookkeeping.
#[derive(Debug)]
struct DurableEntry {
    inbox: DurableInbox,
    id: StoredId,
}

impl Entry for DurableEntry {
    fn record_attempt(&self, route: u32, attempts: u32, next_at: Option<SystemTime>) {
        self.inbox.record_attempt(self.id, route, attempts, next_at);
    }

    fn complete_route(&self, route: u32) {
        self.inbox.complete_route(self.id, route);
    }

    fn complete(&self) {
        self.inbox.complete(self.id);
    }

    /// Kept with the event, which stays in the file as dead once every handler is done.
    fn dead_letter(&self, letter: &DeadLetterRecord<'_>) {
        self.inbox
            .send_bookkeeping(super::durable_admin::dead_letter_command(self.id, letter));
    }
}

impl DurableInbox {
    fn entry(&self, id: StoredId) -> Box<dyn Entry> {
        Box::new(DurableEntry {
            inbox: self.clone(),
            id,
        })
    }
}

impl Store for DurableInbox {
    /// One write transaction that checks the key, claims it and stores the event (its body,
    /// its non-credential headers, its receive time), committed with `fsync` before this
    /// resolves; concurrent accepts share one commit.
    async fn accept(&self, event: Incoming<'_>) -> Result<Accepted, StoreError> {
        Ok(
            match Self::accept(self, NewEvent::from_incoming(&event)).await? {
                Accept::New(id) => Accepted::New(Some(self.entry(id))),
                Accept::Duplicate => Accepted::Duplicate,
            },
        )
    }

    /// The events an earlier run left, at once; then, until the receiver drops it, every event
    /// whose accept was committed but whose request went away before it saw the answer.
    ///
    /// A record that no longer decodes is skipped and logged at `error` with its id and why
    /// (it stays in the file); the others run.
    fn feed(&self) -> Option<async_mpsc::Receiver<Pending>> {
        let (pending, damaged) = self.pending_and_damaged().unwrap_or_else(|error| {
            tracing::error!(%error, path = %self.path().display(), "the durable inbox could not be read back: its pending events were not replayed (they stay in the file)");
            (Vec::new(), Vec::new())
        });
        for (id, error) in &damaged {
            tracing::error!(stored_id = id.get(), %error, path = %self.path().display(), "a stored webhook event is damaged: skipped (it stays in the file; the others run)");
        }
        let (tx, rx) = async_mpsc::channel(pending.len().max(1));
        for event in pending {
            let entry = self.entry(event.id);
            // Sized for all of them: cannot fail.
            let _ = tx.try_send(Pending::replay(event, entry));
        }
        let mut orphans = self.inner.orphans.subscribe();
        let counter = Arc::clone(&self.inner.orphans);
        // A weak handle: the feed must not keep the file open once the last clone is dropped.
        let inbox = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let id = tokio::select! {
                    () = tx.closed() => return,
                    id = orphans.recv() => match id {
                        Some(id) => id,
                        None => return,
                    },
                };
                let Some(inner) = inbox.upgrade() else { return };
                let inbox = Self { inner };
                let pending = match inbox.pending_one(id) {
                    // An operator's replay, handed over by the committer.
                    Ok(Some((event, true))) => Some(Pending::replay(event, inbox.entry(id))),
                    Ok(Some((event, false))) => Some(Pending::first_run(event, inbox.entry(id))),
                    Ok(None) => None,
                    Err(error) => {
                        tracing::error!(stored_id = id.get(), %error, "an accepted webhook event could not be read back: it runs at the next start");
                        None
                    }
                };
                drop(inbox);
                let sent = match pending {
                    Some(pending) => tx.send(pending).await.is_ok(),
                    None => true,
                };
                counter.forwarded_one();
                if !sent {
                    return;
                }
            }
        });
        Some(rx)
    }

    /// Everything sent to the committer before is committed durably, and every accept whose
    /// request went away before then has been handed to the feed.
    async fn flush(&self) -> Result<(), StoreError> {
        Self::flush(self).await?;
        self.inner.orphans.settled().await;
        Ok(())
    }

    fn location(&self) -> String {
        self.path().display().to_string()
    }
}
