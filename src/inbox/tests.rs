//! The inbox against a real redb file in a temporary directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use super::committer::Accept;
use super::record::NewEvent;
use super::*;
use crate::dedup::DedupKey;
use crate::store::{RouteState, StoredId, StoredRequest};

/// A directory under the system temp dir, unique to this process and test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "webhook-inbox-test-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key(n: u64) -> DedupKey {
    DedupKey::from_parts(&[b"test", &n.to_le_bytes()])
}

/// A whole number of milliseconds, as the inbox stores it.
fn received_at() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_760_000_000_042)
}

fn event(n: u64) -> NewEvent {
    NewEvent {
        key: key(n),
        body: Bytes::from(format!(
            r#"{{"event":"messages.sms.delivered","id":"msg_{n}"}}"#
        )),
        headers: vec![
            (
                HeaderName::from_static("content-type"),
                HeaderValue::from_static("application/json"),
            ),
            (
                HeaderName::from_static("webhook-id"),
                HeaderValue::from_str(&format!("evt_{n}")).unwrap(),
            ),
        ],
        received_at: received_at(),
    }
}

/// A TTL short enough for a test, long enough that a few commits (fsyncs) fit in it.
const TTL: Duration = Duration::from_millis(400);

async fn accept_new(inbox: &DurableInbox, n: u64) -> StoredId {
    match inbox.accept(event(n)).await.unwrap() {
        Accept::New(id) => id,
        Accept::Duplicate => panic!("event {n} was a duplicate"),
    }
}

#[test]
fn inbox_and_its_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let dir = TempDir::new("send");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    send_sync(&inbox);
    let accept = inbox.accept(event(1));
    send(&accept);
    let flush = inbox.flush();
    send(&flush);
}

#[tokio::test]
async fn accepted_event_is_pending_with_everything_intact() {
    let dir = TempDir::new("intact");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    let id = accept_new(&inbox, 1).await;

    let pending: Vec<StoredRequest> = inbox.pending().unwrap();
    assert_eq!(pending.len(), 1);
    let stored = &pending[0];
    let sent = event(1);
    assert_eq!(stored.id, id);
    assert_eq!(stored.key, sent.key);
    assert_eq!(stored.body, sent.body);
    assert_eq!(stored.received_at, sent.received_at);
    assert_eq!(stored.headers.len(), 2);
    assert_eq!(stored.headers["content-type"], "application/json");
    assert_eq!(stored.headers["webhook-id"], "evt_1");
    assert!(stored.routes.is_empty());
    assert_eq!(inbox.pending_count().unwrap(), 1);
    assert_eq!(inbox.key_count().unwrap(), 1);
    assert_eq!(inbox.commits(), 1);
}

#[tokio::test]
async fn duplicate_key_is_acknowledged_and_stored_once() {
    let dir = TempDir::new("dup");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    accept_new(&inbox, 1).await;
    assert_eq!(inbox.accept(event(1)).await.unwrap(), Accept::Duplicate);
    assert_eq!(inbox.pending().unwrap().len(), 1);
    assert_eq!(inbox.key_count().unwrap(), 1);
}

#[tokio::test]
async fn ids_grow_and_are_not_reused_after_completion_and_reopen() {
    let dir = TempDir::new("ids");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    let a = accept_new(&inbox, 1).await;
    let b = accept_new(&inbox, 2).await;
    assert!(a < b);
    inbox.complete(b);
    inbox.flush().await.unwrap();
    drop(inbox);

    let inbox = DurableInbox::open(dir.path()).unwrap();
    let c = accept_new(&inbox, 3).await;
    assert!(c > b, "{c:?} after {b:?}");
    let ids: Vec<_> = inbox.pending().unwrap().iter().map(|e| e.id).collect();
    assert_eq!(ids, [a, c], "oldest first");
}

#[tokio::test]
async fn dedup_survives_close_and_reopen() {
    let dir = TempDir::new("reopen");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    let id = accept_new(&inbox, 1).await;
    let clone = inbox.clone();
    drop(inbox);
    drop(clone); // the last clone: joins the committer and closes the file

    let inbox = DurableInbox::open(dir.path()).unwrap();
    assert_eq!(inbox.accept(event(1)).await.unwrap(), Accept::Duplicate);
    let pending = inbox.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, id);
    assert_eq!(pending[0].body, event(1).body);
}

#[tokio::test]
async fn expired_key_is_accepted_again() {
    let dir = TempDir::new("expiry");
    let inbox = DurableInbox::builder(dir.path())
        .dedup_ttl(TTL)
        .open()
        .unwrap();
    assert_eq!(inbox.dedup_ttl(), TTL);
    let first = accept_new(&inbox, 1).await;
    assert_eq!(inbox.accept(event(1)).await.unwrap(), Accept::Duplicate);
    tokio::time::sleep(TTL + Duration::from_millis(100)).await;

    let second = accept_new(&inbox, 1).await;
    assert_ne!(first, second);
    assert_eq!(inbox.pending_count().unwrap(), 2);
    assert_eq!(inbox.key_count().unwrap(), 1);
}

#[tokio::test]
async fn expired_keys_are_purged_on_open_and_with_durable_commits() {
    let dir = TempDir::new("purge");
    let inbox = DurableInbox::builder(dir.path())
        .dedup_ttl(TTL)
        .open()
        .unwrap();
    for n in 0..3 {
        accept_new(&inbox, n).await;
    }
    assert_eq!(inbox.key_count().unwrap(), 3);
    tokio::time::sleep(TTL + Duration::from_millis(100)).await;
    inbox.flush().await.unwrap(); // a durable commit purges
    assert_eq!(inbox.key_count().unwrap(), 0);
    assert_eq!(
        inbox.pending_count().unwrap(),
        3,
        "events stay until completed"
    );

    accept_new(&inbox, 10).await;
    drop(inbox);
    tokio::time::sleep(TTL + Duration::from_millis(100)).await;
    let inbox = DurableInbox::open(dir.path()).unwrap();
    assert_eq!(inbox.key_count().unwrap(), 0);
}

#[tokio::test]
async fn completed_event_is_gone_and_reopen_does_not_bring_it_back() {
    let dir = TempDir::new("complete");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    let a = accept_new(&inbox, 1).await;
    let b = accept_new(&inbox, 2).await;
    inbox.record_attempt(a, 0, 1, None);
    inbox.complete(a);
    inbox.flush().await.unwrap();
    let pending = inbox.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, b);
    drop(inbox);

    let inbox = DurableInbox::open(dir.path()).unwrap();
    let ids: Vec<_> = inbox.pending().unwrap().iter().map(|e| e.id).collect();
    assert_eq!(ids, [b]);
    // The key outlives its event: a redelivery of a completed event is still a duplicate.
    assert_eq!(inbox.accept(event(1)).await.unwrap(), Accept::Duplicate);
}

#[tokio::test]
async fn bookkeeping_queued_at_close_is_committed_durably() {
    let dir = TempDir::new("close");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    let a = accept_new(&inbox, 1).await;
    inbox.complete(a);
    drop(inbox); // no flush: the committer commits the queue durably before it ends

    let inbox = DurableInbox::open(dir.path()).unwrap();
    assert_eq!(inbox.pending_count().unwrap(), 0);
}

#[tokio::test]
async fn route_states_are_reflected_after_flush_and_after_reopen() {
    let dir = TempDir::new("routes");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    let id = accept_new(&inbox, 1).await;
    let retry_at = UNIX_EPOCH + Duration::from_millis(1_760_000_060_000);
    inbox.record_attempt(id, 0, 1, Some(retry_at));
    inbox.record_attempt(id, 2, 1, None);
    inbox.complete_route(id, 2);
    inbox.record_attempt(id, 0, 2, Some(retry_at + Duration::from_secs(30)));
    inbox.complete_route(id, 1); // done without an attempt recorded first
    inbox.flush().await.unwrap();
    let commits = inbox.commits();

    let expected = vec![
        RouteState {
            route: 0,
            attempts: 2,
            next_at: Some(retry_at + Duration::from_secs(30)),
            done: false,
        },
        RouteState {
            route: 1,
            attempts: 0,
            next_at: None,
            done: true,
        },
        RouteState {
            route: 2,
            attempts: 1,
            next_at: None,
            done: true,
        },
    ];
    assert_eq!(inbox.pending().unwrap()[0].routes, expected);
    assert!(commits <= 3, "1 accept + 1 flush (+1 if split): {commits}");
    drop(inbox);

    let inbox = DurableInbox::open(dir.path()).unwrap();
    assert_eq!(inbox.pending().unwrap()[0].routes, expected);

    // Bookkeeping for a completed event is ignored, not left behind.
    inbox.complete(id);
    inbox.record_attempt(id, 0, 3, None);
    inbox.complete_route(id, 1);
    inbox.flush().await.unwrap();
    assert!(inbox.pending().unwrap().is_empty());
    let db = inbox.read_db();
    let txn = redb::ReadableDatabase::begin_read(&*db).unwrap();
    let routes = txn.open_table(schema::ROUTES).unwrap();
    assert_eq!(redb::ReadableTableMetadata::len(&routes).unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stdout)]
async fn concurrent_accepts_share_commits() {
    const N: u64 = 200;
    let dir = TempDir::new("group");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    let tasks: Vec<_> = (0..N)
        .map(|n| {
            let inbox = inbox.clone();
            tokio::spawn(async move { inbox.accept(event(n)).await })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Accept::New(id) => assert!(ids.insert(id), "id {id:?} given twice"),
            Accept::Duplicate => panic!("a distinct key was a duplicate"),
        }
    }
    assert_eq!(ids.len(), 200);
    let commits = inbox.commits();
    println!("{N} concurrent accepts: {commits} durable commits");
    assert!(commits < N, "{commits} commits for {N} accepts");
    assert_eq!(inbox.pending_count().unwrap(), N);
}

#[tokio::test]
async fn accept_whose_caller_gave_up_is_still_committed() {
    let dir = TempDir::new("dropped");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    let mut fut = Box::pin(inbox.accept(event(1)));
    // Poll once so that the command is sent, then drop the future.
    let polled = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::future::Future::poll(fut.as_mut(), cx))
    })
    .await;
    drop(polled);
    drop(fut);
    inbox.flush().await.unwrap();
    assert_eq!(inbox.pending_count().unwrap(), 1);
}

#[test]
fn second_open_of_the_same_directory_fails_clearly() {
    let dir = TempDir::new("lock");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    let err = DurableInbox::open(dir.path()).unwrap_err();
    assert!(matches!(err, InboxError::AlreadyOpen { ref path } if path == dir.path()));
    assert!(err.to_string().contains("already open"), "{err}");
    drop(inbox);
    DurableInbox::open(dir.path()).unwrap();
}

#[test]
fn open_creates_missing_directories() {
    let dir = TempDir::new("mkdir");
    let nested = dir.path().join("a").join("b");
    let inbox = DurableInbox::open(&nested).unwrap();
    assert_eq!(inbox.path(), nested);
    assert!(nested.join("inbox.redb").is_file());
}

#[test]
fn open_on_a_file_that_is_not_a_database_fails() {
    let dir = TempDir::new("notdb");
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::write(dir.path().join("inbox.redb"), vec![0x5a; 8192]).unwrap();
    let err = DurableInbox::open(dir.path()).unwrap_err();
    assert!(matches!(err, InboxError::Open { .. }), "{err}");
}

#[tokio::test]
async fn corrupt_record_is_an_error_not_a_panic() {
    let dir = TempDir::new("corrupt");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    accept_new(&inbox, 1).await;
    drop(inbox);

    let db = redb::Database::create(dir.path().join("inbox.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(schema::EVENTS)
        .unwrap()
        .insert(99, b"\x01garbage".as_slice())
        .unwrap();
    txn.commit().unwrap();
    drop(db);

    let inbox = DurableInbox::open(dir.path()).unwrap();
    assert_eq!(inbox.pending_count().unwrap(), 2);
    let err = inbox.pending().unwrap_err();
    assert!(
        matches!(err, InboxError::Corrupt { id: Some(id), .. } if id.get() == 99),
        "{err}"
    );
}

#[test]
fn file_of_a_newer_format_is_refused() {
    let dir = TempDir::new("format");
    drop(DurableInbox::open(dir.path()).unwrap());
    let db = redb::Database::create(dir.path().join("inbox.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(schema::META)
        .unwrap()
        .insert(schema::FORMAT, 99)
        .unwrap();
    txn.commit().unwrap();
    drop(db);

    let err = DurableInbox::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            InboxError::UnsupportedFormat {
                found: 99,
                supported: schema::FORMAT_VERSION
            }
        ),
        "{err}"
    );
}

#[test]
fn a_format_2_file_is_upgraded_to_format_3_with_its_events() {
    let dir = TempDir::new("format2");
    drop(DurableInbox::open(dir.path()).unwrap());
    // A format-2 file: no dead-letter tables, format 2, one pending event.
    let db = redb::Database::create(dir.path().join("inbox.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    txn.delete_table(schema::DEAD).unwrap();
    txn.delete_table(schema::ADMIN).unwrap();
    txn.open_table(schema::META)
        .unwrap()
        .insert(schema::FORMAT, 2)
        .unwrap();
    let event = super::record::NewEvent {
        key: crate::DedupKey::from_parts(&[b"format2"]),
        body: Bytes::from_static(b"{}"),
        headers: Vec::new(),
        received_at: std::time::SystemTime::now(),
    };
    txn.open_table(schema::EVENTS)
        .unwrap()
        .insert(1, super::record::encode(&event).unwrap().as_slice())
        .unwrap();
    txn.commit().unwrap();
    drop(db);

    let inbox = DurableInbox::open(dir.path()).unwrap();
    assert_eq!(
        inbox.pending().unwrap().len(),
        1,
        "its event is kept, and pending"
    );
    drop(inbox);
    let db = redb::Database::create(dir.path().join("inbox.redb")).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let meta = txn.open_table(schema::META).unwrap();
    assert_eq!(
        meta.get(schema::FORMAT).unwrap().unwrap().value(),
        schema::FORMAT_VERSION
    );
    assert_eq!(schema::FORMAT_VERSION, 3);
}

#[test]
fn compact_runs_on_a_live_inbox() {
    let dir = TempDir::new("compact");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for n in 0..50 {
            let id = accept_new(&inbox, n).await;
            inbox.complete(id);
        }
        inbox.flush().await.unwrap();
    });
    while inbox.compact().unwrap() {}
    rt.block_on(async { accept_new(&inbox, 100).await });
    assert_eq!(inbox.pending_count().unwrap(), 1);
}

#[tokio::test]
async fn a_damaged_record_is_skipped_and_the_others_are_replayed() {
    use crate::store::Store;
    let dir = TempDir::new("damaged");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    let damaged = accept_new(&inbox, 1).await;
    let healthy = accept_new(&inbox, 2).await;
    inbox.flush().await.unwrap();
    {
        let db = inbox.read_db();
        let txn = db.begin_write().unwrap();
        txn.open_table(super::schema::EVENTS)
            .unwrap()
            .insert(damaged.get(), &b"\x01truncated"[..])
            .unwrap();
        txn.commit().unwrap();
    }
    let mut feed = Store::feed(&inbox).expect("a durable inbox has a feed");
    let pending = feed.try_recv().expect("the healthy event is handed back");
    assert_eq!(pending.request().id, healthy);
    assert!(
        feed.try_recv().is_err(),
        "the damaged record is skipped, not handed back"
    );
    // It stays in the file, for an operator.
    assert_eq!(inbox.pending_count().unwrap(), 2);
}

#[tokio::test]
async fn an_accept_whose_request_went_away_is_handed_to_the_feed() {
    use crate::store::{Incoming, Store};
    let dir = TempDir::new("orphan");
    let inbox = DurableInbox::open(dir.path()).unwrap();
    let mut feed = Store::feed(&inbox).expect("a durable inbox has a feed");
    let (body, headers) = (Bytes::from_static(b"{}"), http::HeaderMap::new());
    for n in 0..20u64 {
        let accept = Store::accept(&inbox, Incoming::new(key(n), &body, &headers));
        let mut accept = std::pin::pin!(accept);
        // Sent to the committer, then dropped (the client went away) before or after the
        // commit answered: both ways the event runs now, not only at the next start.
        let _ = futures_util::poll!(accept.as_mut());
        if n % 2 == 0 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let mut keys = std::collections::HashSet::new();
    while keys.len() < 20 {
        let pending = tokio::time::timeout(Duration::from_secs(10), feed.recv())
            .await
            .expect("every orphaned accept is handed over")
            .expect("the feed is open");
        assert!(!pending.is_replay());
        keys.insert(pending.request().key);
    }
}
