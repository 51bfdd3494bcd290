//! The store conformance suite (feature `testing`): checks that a [`Store`] keeps the
//! [contract](super#the-contract). Every store of this crate runs it on itself in its tests;
//! run it on yours the same way.
//!
//! - [`check_dedup`]: for every store. New, then duplicate; distinct keys never collapse;
//!   of concurrent accepts of one key exactly one is new.
//! - [`check_kept_events`]: for a store that keeps events. Given a way to open the store
//!   again (a restart), events accepted and not done come back through [`Store::feed`] with
//!   their body, their headers (never a credential) and their handlers' progress; a completed
//!   event never does; keys are still remembered.
//! - [`check_dead_letters`]: for a store that keeps events and implements [`InboxAdmin`] (the
//!   operator API). A dead-lettered event is kept as dead and listed, inspected with its dead
//!   handler's reason, attempts and last error, not handed back at a restart; replayed, it is
//!   handed back once as a replay that runs only the dead handler; a second replay finds nothing
//!   dead; a dead event deleted is gone.
//!
//! The functions panic, with a message, on the first broken promise: call them from a test.
//! They are for testing only and not a stable API.
//!
//! ```
//! use webhook_receiver::store::{MokaStore, conformance};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! conformance::check_dedup(&MokaStore::new()).await;
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

use super::{
    Accepted, AdminError, Claim, DeadLetterRecord, Entry, EventFilter, EventState, InboxAdmin,
    Incoming, Pending, ReplayOutcome, ReplayScope, Store,
};
use crate::dedup::DedupKey;

/// How long [`check_kept_events`] waits for a feed to hand events back (a shared store may
/// first have to wait for its visibility timeout).
///
/// ```
/// # use webhook_receiver::store::conformance::FEED_WAIT;
/// assert!(FEED_WAIT >= std::time::Duration::from_secs(1));
/// ```
pub const FEED_WAIT: Duration = Duration::from_secs(20);

/// A key of this suite's own, distinct per run so that stores shared between runs (a Redis
/// server) do not see one run's keys in the next.
fn key(run: u64, n: u64) -> DedupKey {
    DedupKey::from_parts(&[b"conformance", &run.to_le_bytes(), &n.to_le_bytes()])
}

fn run_id() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id())
}

async fn accept<S: Store>(store: &S, key: DedupKey, body: &Bytes, headers: &HeaderMap) -> Accepted {
    match store.accept(Incoming::new(key, body, headers)).await {
        Ok(accepted) => accepted,
        Err(error) => panic!("{}: accept failed: {error}", store.location()),
    }
}

/// Checks the dedup promises every store keeps: a new key is new (or stored, for a shared
/// store), the same key again is a duplicate, 50 distinct keys are all new, and of 16
/// concurrent accepts of one key exactly one is new (the others duplicate or in flight).
///
/// # Panics
///
/// On the first broken promise, saying which.
///
/// ```
/// # use webhook_receiver::store::{MokaStore, conformance};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// conformance::check_dedup(&MokaStore::new()).await;
/// # }
/// ```
pub async fn check_dedup<S: Store>(store: &S) {
    let run = run_id();
    let (body, headers) = (Bytes::from_static(b"{}"), HeaderMap::new());
    let name = store.location();

    let first = accept(store, key(run, 0), &body, &headers).await;
    assert_eq!(first.claim(), Claim::New, "{name}: a new key must be new");
    if store.is_shared() {
        assert!(
            matches!(first, Accepted::Stored),
            "{name}: a shared store answers Stored for a new event, got {first:?}"
        );
    }
    drop(first);
    // A store whose claim takes two steps answers in flight until it has confirmed the first.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let again = accept(store, key(run, 0), &body, &headers).await.claim();
        match again {
            Claim::Duplicate => break,
            Claim::InFlight if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => panic!(
                "{name}: the same key again must be a duplicate (in flight only until the first is confirmed), got {other:?}"
            ),
        }
    }

    for n in 1..=50 {
        let accepted = accept(store, key(run, n), &body, &headers).await;
        assert_eq!(
            accepted.claim(),
            Claim::New,
            "{name}: distinct key {n} must not collapse with another"
        );
    }

    let contested = key(run, 1_000);
    let answers = futures_util::future::join_all(
        (0..16).map(|_| async { accept(store, contested, &body, &headers).await.claim() }),
    )
    .await;
    let new = answers.iter().filter(|c| **c == Claim::New).count();
    assert_eq!(
        new, 1,
        "{name}: of 16 concurrent accepts of one key exactly one must be new: {answers:?}"
    );
}

/// Checks what a store that keeps events promises across a restart. `open` opens the store
/// (again): it is called twice, the first store being dropped (with its feed) before the
/// second is opened, as a process restart would.
///
/// Three events are accepted with a body and headers that include credentials
/// (`Authorization`, a sensitive header, a `webhook-signature`). The first is completed, the
/// second records a failed attempt of route 0 (retry in an hour) and route 1 done, the third
/// records nothing. After the restart, the feed must hand back exactly the second and the
/// third, with their bodies, without the credentials, the second with its route states; and
/// the three keys must still be duplicates.
///
/// # Panics
///
/// On the first broken promise, saying which.
///
/// ```no_run
/// # #[cfg(feature = "durable")]
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use webhook_receiver::store::{DurableInbox, conformance};
/// let dir = std::env::temp_dir().join("conformance-doc");
/// conformance::check_kept_events(|| async { DurableInbox::open(&dir).unwrap() }).await;
/// # }
/// # #[cfg(not(feature = "durable"))] fn main() {}
/// ```
pub async fn check_kept_events<S, F, Fut>(mut open: F)
where
    S: Store,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let run = run_id();
    let keys = [key(run, 1), key(run, 2), key(run, 3)];
    let bodies = keys.map(|k| Bytes::from(format!(r#"{{"event":"conformance","key":"{k}"}}"#)));
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-event-type", HeaderValue::from_static("conformance"));
    headers.insert("authorization", HeaderValue::from_static("Bearer s3cr3t"));
    headers.insert(
        "webhook-signature",
        HeaderValue::from_static("v1,c2lnbmF0dXJl"),
    );
    let mut secret = HeaderValue::from_static("shared-secret");
    secret.set_sensitive(true);
    headers.insert("x-webhook-secret", secret);

    let store = open().await;
    let name = store.location();
    let mut feed = store.feed();
    assert!(
        feed.is_some(),
        "{name}: a store that keeps events must have a feed"
    );
    let mut entries: HashMap<DedupKey, Box<dyn Entry>> = HashMap::new();
    for (k, body) in keys.iter().zip(&bodies) {
        match accept(&store, *k, body, &headers).await {
            Accepted::New(Some(entry)) => {
                entries.insert(*k, entry);
            }
            Accepted::Stored => {}
            other => panic!("{name}: a new event must be kept, got {other:?}"),
        }
    }
    if entries.len() < keys.len() {
        // A shared store: its feed hands the events to this replica.
        let handed = take(&name, feed.as_mut(), keys.len() - entries.len(), &keys).await;
        for pending in handed {
            let (event, entry) = pending.into_parts();
            entries.insert(event.key, entry);
        }
    }
    let later = SystemTime::now() + Duration::from_secs(3600);
    entries[&keys[0]].complete();
    entries[&keys[1]].record_attempt(0, 1, Some(later));
    entries[&keys[1]].complete_route(1);
    if let Err(error) = store.flush().await {
        panic!("{name}: flush failed: {error}");
    }
    drop(entries);
    drop(feed);
    drop(store);

    let store = open().await;
    let mut feed = store.feed();
    let handed = take(&name, feed.as_mut(), 2, &keys).await;
    let by_key: HashMap<DedupKey, Pending> =
        handed.into_iter().map(|p| (p.request().key, p)).collect();
    assert!(
        !by_key.contains_key(&keys[0]),
        "{name}: a completed event must not come back"
    );
    for (i, k) in keys.iter().enumerate().skip(1) {
        let Some(pending) = by_key.get(k) else {
            panic!("{name}: event {i} was not done and must come back after a restart");
        };
        let event = pending.request();
        assert_eq!(
            event.body, bodies[i],
            "{name}: event {i}'s body must come back as accepted"
        );
        assert_eq!(
            event.headers.get("x-event-type"),
            Some(&HeaderValue::from_static("conformance")),
            "{name}: event {i}'s non-credential headers must be kept"
        );
        for credential in ["authorization", "webhook-signature", "x-webhook-secret"] {
            assert!(
                !event.headers.contains_key(credential),
                "{name}: event {i} kept the credential header {credential}"
            );
        }
    }
    let mut routes = by_key[&keys[1]].request().routes.clone();
    routes.sort_by_key(|r| r.route);
    assert!(
        routes
            .iter()
            .any(|r| r.route == 0 && r.attempts == 1 && !r.done && r.next_at.is_some()),
        "{name}: route 0's failed attempt and its next try must come back: {routes:?}"
    );
    assert!(
        routes.iter().any(|r| r.route == 1 && r.done),
        "{name}: route 1's completion must come back: {routes:?}"
    );
    assert!(
        by_key[&keys[2]].request().routes.iter().all(|r| !r.done),
        "{name}: an event with no progress has no handler done"
    );
    let (body, empty) = (Bytes::from_static(b"{}"), HeaderMap::new());
    for (i, k) in keys.iter().enumerate() {
        let again = accept(&store, *k, &body, &empty).await;
        assert_eq!(
            again.claim(),
            Claim::Duplicate,
            "{name}: event {i}'s key must still be remembered after a restart"
        );
    }
    for pending in by_key.into_values() {
        pending.into_parts().1.complete();
    }
    if let Err(error) = store.flush().await {
        panic!("{name}: flush failed: {error}");
    }
}

/// Checks what a store that keeps events promises an operator ([`InboxAdmin`]). `open` opens the
/// store (again), as for [`check_kept_events`].
///
/// Three events of a type unique to this run are accepted. The first has route 0 done and
/// route 1 dead-lettered (`exhausted`, 2 attempts, `b is down`) before it completes; the second
/// completes; the third is dead-lettered with no handler and completes. Then: a listing of this
/// type's dead events (pages of one) finds the first and the third, the count agrees, and
/// inspect shows the dead handler's letter and no credential. After a restart the feed hands
/// back neither; the third is deleted (and is gone); the first is replayed
/// ([`ReplayScope::Failed`]) and handed back once, as a replay, that runs only route 1, from its
/// first attempt; a second replay of the dead events matches none.
///
/// # Panics
///
/// On the first broken promise, saying which.
///
/// ```no_run
/// # #[cfg(feature = "durable")]
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use webhook_receiver::store::{DurableInbox, conformance};
/// let dir = std::env::temp_dir().join("conformance-dead-doc");
/// conformance::check_dead_letters(|| async { DurableInbox::open(&dir).unwrap() }).await;
/// # }
/// # #[cfg(not(feature = "durable"))] fn main() {}
/// ```
pub async fn check_dead_letters<S, F, Fut>(mut open: F)
where
    S: Store + InboxAdmin,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    let run = run_id();
    let kind = format!("conformance.dead.{run}");
    let keys = [key(run, 11), key(run, 12), key(run, 13)];
    let bodies = keys.map(|k| Bytes::from(format!(r#"{{"type":"{kind}","key":"{k}"}}"#)));
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("authorization", HeaderValue::from_static("Bearer s3cr3t"));

    let store = open().await;
    let name = store.location();
    let mut feed = store.feed();
    let mut entries: HashMap<DedupKey, Box<dyn Entry>> = HashMap::new();
    for (k, body) in keys.iter().zip(&bodies) {
        match accept(&store, *k, body, &headers).await {
            Accepted::New(Some(entry)) => {
                entries.insert(*k, entry);
            }
            Accepted::Stored => {}
            other => panic!("{name}: a new event must be kept, got {other:?}"),
        }
    }
    if entries.len() < keys.len() {
        let handed = take(&name, feed.as_mut(), keys.len() - entries.len(), &keys).await;
        for pending in handed {
            let (event, entry) = pending.into_parts();
            entries.insert(event.key, entry);
        }
    }
    let first = &entries[&keys[0]];
    first.record_attempt(1, 1, None);
    first.complete_route(0);
    first.dead_letter(&DeadLetterRecord::new(
        Some("b"),
        Some(1),
        "exhausted",
        2,
        Some("b is down"),
    ));
    first.complete();
    entries[&keys[1]].complete();
    let third = &entries[&keys[2]];
    third.dead_letter(&DeadLetterRecord::new(None, None, "no_handler", 0, None));
    third.complete();
    if let Err(error) = store.flush().await {
        panic!("{name}: flush failed: {error}");
    }
    drop(entries);

    let dead = EventFilter::new().state(EventState::Dead).event_type(&kind);
    let mut listed = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = match store.list(&dead, cursor.as_ref(), 1).await {
            Ok(page) => page,
            Err(error) => panic!("{name}: list failed: {error}"),
        };
        assert!(
            page.events.len() <= 1,
            "{name}: a page holds at most `limit` events"
        );
        listed.extend(page.events);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        listed.len(),
        2,
        "{name}: the two dead-lettered events must be listed as dead, once each: {listed:?}"
    );
    let count = store
        .count(&dead)
        .await
        .unwrap_or_else(|e| panic!("{name}: count failed: {e}"));
    assert_eq!(
        count, 2,
        "{name}: the dry-run count must agree with the listing"
    );
    let mut found = None;
    for summary in &listed {
        let detail = store
            .inspect(summary.id)
            .await
            .unwrap_or_else(|e| panic!("{name}: inspect {} failed: {e}", summary.id));
        assert_eq!(
            detail.summary.state,
            EventState::Dead,
            "{name}: inspect's state"
        );
        assert!(
            !detail.headers.iter().any(|(n, _)| n == "authorization"),
            "{name}: inspect must show no credential"
        );
        if detail.body == bodies[0] {
            let letter = detail.handlers.iter().find(|h| h.dead);
            let Some(letter) = letter else {
                panic!(
                    "{name}: the dead handler must be shown: {:?}",
                    detail.handlers
                );
            };
            assert_eq!(
                (
                    letter.route,
                    letter.attempts,
                    letter.reason.as_deref(),
                    letter.last_error.as_deref()
                ),
                (Some(1), 2, Some("exhausted"), Some("b is down")),
                "{name}: the dead handler's letter"
            );
            found = Some(summary.id);
        } else {
            assert_eq!(detail.body, bodies[2], "{name}: an unexpected dead event");
            assert!(
                detail.handlers.iter().any(|h| h.dead && h.route.is_none()),
                "{name}: a dead letter with no handler: {:?}",
                detail.handlers
            );
            store
                .delete(summary.id)
                .await
                .unwrap_or_else(|e| panic!("{name}: delete failed: {e}"));
            assert!(
                matches!(
                    store.inspect(summary.id).await,
                    Err(AdminError::NotFound(_))
                ),
                "{name}: a deleted event must be gone"
            );
        }
    }
    let Some(first) = found else {
        panic!("{name}: the first event must be dead");
    };
    drop(feed);
    drop(store);

    let store = open().await;
    let mut feed = store.feed();
    let Some(receiver) = feed.as_mut() else {
        panic!("{name}: a store that keeps events must have a feed");
    };
    let quiet = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some(pending)) = tokio::time::timeout_at(quiet, receiver.recv()).await {
        assert!(
            !keys.contains(&pending.request().key),
            "{name}: a dead event must not be handed back at a start"
        );
    }
    match store.replay(first, ReplayScope::Failed).await {
        Ok(ReplayOutcome::Replayed) => {}
        other => panic!("{name}: replaying the dead event must replay it, got {other:?}"),
    }
    let handed = take(&name, feed.as_mut(), 1, &keys).await;
    let pending = handed.into_iter().next().expect("one");
    assert!(
        pending.is_replay(),
        "{name}: a replayed event runs as a replay"
    );
    let event = pending.request();
    assert_eq!(event.body, bodies[0], "{name}: the replayed event's body");
    assert!(
        event.listed_only,
        "{name}: a replay of dead letters runs only the listed handlers"
    );
    assert!(
        event
            .routes
            .iter()
            .any(|r| r.route == 1 && !r.done && r.attempts == 0),
        "{name}: the dead handler runs again from its first attempt: {:?}",
        event.routes
    );
    assert!(
        !event.routes.iter().any(|r| r.route == 0 && !r.done),
        "{name}: the handler that succeeded does not run again: {:?}",
        event.routes
    );
    let again = store
        .replay_matching(&dead, ReplayScope::Failed)
        .await
        .unwrap_or_else(|e| panic!("{name}: replay_matching failed: {e}"));
    assert_eq!(
        (again.matched, again.replayed),
        (0, 0),
        "{name}: a second replay of the dead events must run nothing"
    );
    pending.into_parts().1.complete();
    if let Err(error) = store.flush().await {
        panic!("{name}: flush failed: {error}");
    }
}

/// Takes `n` events of this run (`keys`) from the feed, within [`FEED_WAIT`].
async fn take(
    name: &str,
    feed: Option<&mut tokio::sync::mpsc::Receiver<Pending>>,
    n: usize,
    keys: &[DedupKey],
) -> Vec<Pending> {
    let Some(feed) = feed else {
        panic!("{name}: a store that keeps events must have a feed");
    };
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + FEED_WAIT;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, feed.recv()).await {
            Ok(Some(pending)) if keys.contains(&pending.request().key) => out.push(pending),
            // Another run's event (a shared server): not this suite's.
            Ok(Some(_)) => {}
            Ok(None) => panic!(
                "{name}: the feed ended with {} of {n} events handed back",
                out.len()
            ),
            Err(_) => panic!(
                "{name}: {} of {n} events handed back within {FEED_WAIT:?}",
                out.len()
            ),
        }
    }
    out
}
