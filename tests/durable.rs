//! The durable inbox behind the facade: what is acknowledged is stored before the 200, survives
//! the process, and runs again from where it stopped; dedup survives too.
#![cfg(all(feature = "durable", feature = "chirp"))]

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use tower::ServiceExt;
use webhook_receiver::chirp::{self, MessageStatus};
use webhook_receiver::dispatch::{DeadLetter, RetryPolicy};
use webhook_receiver::store::{DurableInbox, InboxError};

/// A fresh directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wr-durable-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run of the receiver's handlers saw: (handler, id, attempt, replay?).
type Runs = Arc<Mutex<Vec<(&'static str, String, u32, bool)>>>;

/// A Chirp receiver on the inbox in `dir`: handler `a` always succeeds; handler `b` fails
/// while `fail_b` says so, retried after `backoff`.
fn receiver(
    dir: &TempDir,
    runs: &Runs,
    fail_b: bool,
    backoff: Duration,
) -> webhook_receiver::Webhooks<chirp::Chirp, webhook_receiver::verify::SharedSecret, DurableInbox>
{
    let inbox = DurableInbox::open(&dir.0).unwrap();
    chirp::webhooks([SECRET])
        .unwrap()
        .state((Arc::clone(runs), fail_b))
        .retry_policy(
            RetryPolicy::default()
                .initial_backoff(backoff)
                .without_jitter(),
        )
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, ctx| async move {
            let (runs, _) = ctx.state();
            runs.lock()
                .unwrap()
                .push(("a", s.id, ctx.attempt(), ctx.is_replay()));
        })
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, ctx| async move {
            let (runs, fail) = ctx.state();
            runs.lock()
                .unwrap()
                .push(("b", s.id, ctx.attempt(), ctx.is_replay()));
            if *fail {
                return Err(std::io::Error::other("b is down"));
            }
            Ok(())
        })
        .store(inbox)
        .spawn()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

#[tokio::test]
async fn a_handler_waiting_for_its_retry_resumes_after_a_restart_and_the_others_do_not_rerun() {
    let dir = TempDir::new("resume");
    let runs: Runs = Arc::default();
    let first = receiver(&dir, &runs, true, Duration::from_millis(400));
    assert_accepted(&first, delivered("r1")).await;
    wait_until("b failed once", || first.dispatcher().retrying() == 1).await;
    assert_eq!(first.store().pending_count().unwrap(), 1);
    // The process stops before the retry is due: it is left in the inbox, with its attempt
    // count and due time.
    let err = first.drain(Duration::from_millis(10)).await.unwrap_err();
    assert_eq!(err.retrying, 1);
    drop(first);

    let second = receiver(&dir, &runs, false, Duration::from_millis(400));
    assert_eq!(
        second.dispatcher().retrying(),
        1,
        "the stored retry waits for its due time"
    );
    second.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        *runs.lock().unwrap(),
        [
            ("a", "r1".into(), 1, false),
            ("b", "r1".into(), 1, false),
            ("b", "r1".into(), 2, true),
        ],
        "only b ran again, as its second attempt"
    );
    assert_eq!(second.store().pending_count().unwrap(), 0);
}

#[tokio::test]
async fn events_left_at_the_drain_deadline_stay_in_the_inbox_and_run_at_the_next_start() {
    let dir = TempDir::new("deadline");
    let dead = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let inbox = DurableInbox::open(&dir.0).unwrap();
    let first = chirp::webhooks([SECRET])
        .unwrap()
        .state(Arc::clone(&gate))
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, ctx| async move {
            let _permit = ctx.state().acquire().await;
        })
        .on_dead_letter({
            let dead = Arc::clone(&dead);
            move |_l: DeadLetter<_>| {
                dead.fetch_add(1, Ordering::SeqCst);
            }
        })
        .concurrency_limit(1)
        .store(inbox)
        .spawn();
    for id in ["k1", "k2", "k3"] {
        assert_accepted(&first, delivered(id)).await;
    }
    let err = first.drain(Duration::from_millis(100)).await.unwrap_err();
    assert_eq!((err.running, err.queued), (1, 2));
    assert_eq!(
        dead.load(Ordering::SeqCst),
        0,
        "not dead-lettered: kept for the next start"
    );
    drop(first);
    // The runtime of this test is still alive: the blocked handler's task still holds the
    // inbox. Let it end, as a process exit would.
    gate.add_permits(1);
    tokio::time::sleep(Duration::from_millis(50)).await;

    let runs: Runs = Arc::default();
    let second = receiver(&dir, &runs, false, Duration::from_millis(1));
    wait_until("k2 and k3 ran", || runs.lock().unwrap().len() >= 4).await;
    second.drain(Duration::from_secs(10)).await.unwrap();
    let mut ids: Vec<(String, bool)> = runs
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.0 == "a")
        .map(|r| (r.1.clone(), r.3))
        .collect();
    ids.sort();
    assert_eq!(ids, [("k2".into(), true), ("k3".into(), true)]);
    assert_eq!(
        second.store().pending_count().unwrap(),
        0,
        "done: compacted away"
    );
}

#[tokio::test]
async fn dedup_survives_a_restart_and_done_events_are_compacted_away() {
    let dir = TempDir::new("dedup");
    let runs: Runs = Arc::default();
    let first = receiver(&dir, &runs, false, Duration::from_millis(1));
    assert_accepted(&first, delivered("d1")).await;
    first.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(first.store().pending_count().unwrap(), 0);
    assert_eq!(first.store().key_count().unwrap(), 1);
    drop(first);

    let second = receiver(&dir, &runs, false, Duration::from_millis(1));
    let res = second
        .clone()
        .oneshot(chirp_request(delivered("d1")))
        .await
        .unwrap();
    let body = json_body(res).await;
    assert_eq!(
        body["duplicate"], true,
        "the key was remembered across the restart"
    );
    second.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        runs.lock().unwrap().len(),
        2,
        "a and b ran once, in the first run"
    );
}

#[tokio::test]
async fn the_shared_secret_is_not_stored_with_the_event() {
    let dir = TempDir::new("secret");
    let runs: Runs = Arc::default();
    let gate_closed = receiver(&dir, &runs, true, Duration::from_secs(3600));
    assert_accepted(&gate_closed, delivered("s1")).await;
    gate_closed
        .drain(Duration::from_millis(50))
        .await
        .unwrap_err();
    drop(gate_closed);
    let file = std::fs::read(dir.0.join("inbox.redb")).unwrap();
    let contains = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
    assert!(contains(br#""id":"s1""#), "the raw body is stored");
    assert!(
        contains(b"content-type"),
        "the headers the format may read are stored"
    );
    assert!(!contains(SECRET.as_bytes()), "the secret header is not");
}

#[tokio::test]
async fn a_request_dropped_during_its_commit_still_runs_its_stored_event() {
    let dir = TempDir::new("cancel");
    let runs: Runs = Arc::default();
    let webhooks = receiver(&dir, &runs, false, Duration::from_millis(1));
    // Each request is given almost no time: most are dropped while their commit is in flight
    // (after the command went to the committer), some before anything was sent.
    let mut dropped = 0;
    for n in 0..100 {
        let req = chirp_request(delivered(&format!("c{n}")));
        if tokio::time::timeout(Duration::from_micros(50), webhooks.clone().oneshot(req))
            .await
            .is_err()
        {
            dropped += 1;
        }
    }
    webhooks.drain(Duration::from_secs(30)).await.unwrap();
    let inbox = webhooks.store();
    let stored = inbox.key_count().unwrap();
    let ran = runs.lock().unwrap().iter().filter(|r| r.0 == "a").count();
    assert!(dropped > 0, "the test dropped no request");
    assert_eq!(
        ran as u64, stored,
        "every event whose key was committed ran ({dropped} of 100 requests were dropped)"
    );
    assert_eq!(inbox.pending_count().unwrap(), 0);
}

#[cfg(feature = "testing")]
#[tokio::test]
async fn durable_inbox_passes_the_store_conformance_suite() {
    let dir = TempDir::new("conformance");
    webhook_receiver::store::conformance::check_dedup(
        &DurableInbox::open(dir.0.join("dedup")).unwrap(),
    )
    .await;
    let path = dir.0.join("kept");
    webhook_receiver::store::conformance::check_kept_events(|| {
        let path = path.clone();
        async move { DurableInbox::open(path).unwrap() }
    })
    .await;
}

/// Truncates a closed inbox's file to `len` bytes.
fn truncate_inbox(dir: &TempDir, len: u64) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.0.join("inbox.redb"))
        .unwrap();
    file.set_len(len).unwrap();
    file.sync_all().unwrap();
}

/// Creates an inbox in `dir`, accepts `n` events through the public store API and closes it.
/// Returns the file's size.
async fn inbox_with_events(dir: &TempDir, n: usize) -> u64 {
    use webhook_receiver::DedupKey;
    use webhook_receiver::store::{Accepted, Incoming, Store};
    let inbox = DurableInbox::open(&dir.0).unwrap();
    let headers = http::HeaderMap::new();
    for i in 0..n {
        let body = bytes::Bytes::from(format!(
            "{{\"id\":\"evt_{i}\",\"pad\":\"{}\"}}",
            "x".repeat(200)
        ));
        let key = DedupKey::from_parts(&[format!("evt_{i}").as_bytes()]);
        let accepted = inbox
            .accept(Incoming::new(key, &body, &headers))
            .await
            .unwrap();
        assert!(matches!(accepted, Accepted::New(_)));
    }
    drop(inbox);
    std::fs::metadata(dir.0.join("inbox.redb")).unwrap().len()
}

#[tokio::test]
async fn a_truncated_inbox_file_is_an_open_error_that_says_it_is_damaged_never_a_panic() {
    let template = TempDir::new("truncated-template");
    let size = inbox_with_events(&template, 50).await;
    let page = 4096;
    let mut lengths = vec![
        1,
        100,
        511,
        512,
        513,
        page - 1,
        page,
        page + 1,
        2 * page,
        3 * page,
    ];
    lengths.extend([size / 2, size - page, size - 1]);
    lengths.retain(|&len| 0 < len && len < size);
    lengths.sort_unstable();
    lengths.dedup();
    for len in lengths {
        let dir = TempDir::new("truncated");
        std::fs::create_dir_all(&dir.0).unwrap();
        std::fs::copy(template.0.join("inbox.redb"), dir.0.join("inbox.redb")).unwrap();
        truncate_inbox(&dir, len);
        let opened = std::panic::catch_unwind(|| DurableInbox::open(&dir.0));
        let result = opened.unwrap_or_else(|_| {
            panic!("open panicked on a file truncated to {len} of {size} bytes")
        });
        let err = result
            .err()
            .unwrap_or_else(|| panic!("a file truncated to {len} of {size} bytes opened"));
        assert!(
            matches!(err, InboxError::Open { .. }),
            "truncated to {len} of {size}: {err}"
        );
        let message = err.to_string();
        assert!(message.contains("damaged"), "{message}");
        assert!(message.contains("move it aside"), "{message}");
    }
}

#[tokio::test]
async fn a_zero_length_inbox_file_opens_as_a_new_inbox_with_a_warning() {
    let dir = TempDir::new("zero-length");
    inbox_with_events(&dir, 3).await;
    truncate_inbox(&dir, 0);
    let (logs, _guard) = capture_logs();
    let inbox = DurableInbox::open(&dir.0).unwrap();
    assert_eq!(inbox.pending_count().unwrap(), 0);
    assert!(logs.text().contains("empty"), "{}", logs.text());
}
