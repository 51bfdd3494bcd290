//! The storage seam is open: a store written here, with the crate's public API only, keeps
//! events in a map that outlives the receiver (as a database outlives a process), runs the
//! whole pipeline, and after a restart replays what was not done, each handler from where it
//! stopped. It passes the same conformance suite as the crate's own stores.

#![cfg(feature = "testing")]

mod support;

use std::collections::{BTreeMap, HashSet};
use std::future::{Future, ready};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use support::*;
use tokio::sync::mpsc;
use tower::ServiceExt;
use webhook_receiver::DedupKey;
use webhook_receiver::chirp::{self, MessageStatus};
use webhook_receiver::dispatch::RetryPolicy;
use webhook_receiver::store::{
    Accepted, Entry, Incoming, Pending, RouteState, Store, StoreError, StoredId, StoredRequest,
    conformance,
};

/// The "database": survives every store and receiver built on it.
#[derive(Debug, Default)]
struct Db {
    keys: HashSet<DedupKey>,
    events: BTreeMap<u64, Row>,
    next: u64,
}

#[derive(Debug, Clone)]
struct Row {
    key: DedupKey,
    body: Bytes,
    headers: HeaderMap,
    received_at: SystemTime,
    routes: BTreeMap<u32, RouteState>,
}

/// A user's store: every accepted event kept in the map until its handlers are done.
#[derive(Debug, Clone, Default)]
struct MapStore {
    db: Arc<Mutex<Db>>,
}

impl Store for MapStore {
    fn accept(
        &self,
        event: Incoming<'_>,
    ) -> impl Future<Output = Result<Accepted, StoreError>> + Send {
        // Claim and keep in one step under the lock, before the future is returned.
        let mut db = self.db.lock().unwrap();
        if !db.keys.insert(event.key()) {
            return ready(Ok(Accepted::Duplicate));
        }
        db.next += 1;
        let id = db.next;
        let row = Row {
            key: event.key(),
            body: event.body().clone(),
            headers: event
                .kept_headers()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
            received_at: event.received(),
            routes: BTreeMap::new(),
        };
        db.events.insert(id, row);
        let entry = MapEntry {
            db: Arc::clone(&self.db),
            id,
        };
        ready(Ok(Accepted::New(Some(Box::new(entry)))))
    }

    fn feed(&self) -> Option<mpsc::Receiver<Pending>> {
        let db = self.db.lock().unwrap();
        let (tx, rx) = mpsc::channel(db.events.len().max(1));
        for (&id, row) in &db.events {
            let mut event = StoredRequest::new(
                StoredId::new(id),
                row.key,
                row.body.clone(),
                row.headers.clone(),
                row.received_at,
            );
            event.routes = row.routes.values().copied().collect();
            let entry = MapEntry {
                db: Arc::clone(&self.db),
                id,
            };
            tx.try_send(Pending::replay(event, Box::new(entry)))
                .expect("sized for all");
        }
        Some(rx)
    }

    fn location(&self) -> String {
        "the test's map".to_owned()
    }
}

#[derive(Debug)]
struct MapEntry {
    db: Arc<Mutex<Db>>,
    id: u64,
}

impl MapEntry {
    fn update(&self, f: impl FnOnce(&mut Row)) {
        if let Some(row) = self.db.lock().unwrap().events.get_mut(&self.id) {
            f(row);
        }
    }
}

impl Entry for MapEntry {
    fn record_attempt(&self, route: u32, attempts: u32, next_at: Option<SystemTime>) {
        self.update(|row| {
            row.routes
                .insert(route, RouteState::new(route, attempts, next_at, false));
        });
    }

    fn complete_route(&self, route: u32) {
        self.update(|row| {
            let attempts = row.routes.get(&route).map_or(0, |r| r.attempts);
            row.routes
                .insert(route, RouteState::new(route, attempts, None, true));
        });
    }

    fn complete(&self) {
        self.db.lock().unwrap().events.remove(&self.id);
    }
}

/// (handler, message id, attempt, replay?) of every run.
type Runs = Arc<Mutex<Vec<(&'static str, String, u32, bool)>>>;

/// A Chirp receiver on `store`: handler `a` always succeeds, handler `b` fails while `fail_b`.
fn receiver(
    store: MapStore,
    runs: &Runs,
    fail_b: bool,
) -> webhook_receiver::Webhooks<chirp::Chirp, webhook_receiver::verify::SharedSecret, MapStore> {
    chirp::webhooks([SECRET])
        .unwrap()
        .state((Arc::clone(runs), fail_b))
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(5)
                .initial_backoff(Duration::from_millis(400)),
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
                Err(std::io::Error::other("b is down"))
            } else {
                Ok(())
            }
        })
        .store(store)
        .spawn()
}

async fn wait_for(runs: &Runs, n: usize) {
    for _ in 0..500 {
        if runs.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} runs, saw {:?}", runs.lock().unwrap());
}

#[tokio::test]
async fn a_users_store_runs_the_pipeline_and_replays_after_a_restart() {
    let store = MapStore::default();
    let runs = Runs::default();

    // First run: `a` succeeds, `b` fails and waits 400 ms for its retry; the process stops
    // before it is due (a drain whose deadline passes), and the map is what survives.
    let first = receiver(store.clone(), &runs, true);
    let res = first
        .clone()
        .oneshot(chirp_request(delivered("msg_1")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    wait_for(&runs, 2).await;
    for _ in 0..100 {
        if first.dispatcher().retrying() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let left = first.drain(Duration::from_millis(10)).await.unwrap_err();
    assert_eq!(left.retrying, 1);
    // Progress reaches the store: the event is kept, `a` done, `b` at one attempt.
    {
        let db = store.db.lock().unwrap();
        let row = db.events.values().next().expect("the event is kept");
        let states: Vec<_> = row.routes.values().map(|r| (r.attempts, r.done)).collect();
        assert!(
            states.contains(&(1, false)),
            "b's failed attempt: {states:?}"
        );
        assert!(states.iter().any(|s| s.1), "a is done: {states:?}");
        assert!(
            !row.headers.contains_key("x-webhook-secret"),
            "the shared secret is never kept"
        );
    }
    drop(first);

    // Second run on the same map: only `b` runs again, as a replay, at its second attempt,
    // when it is due.
    let second = receiver(
        MapStore {
            db: Arc::clone(&store.db),
        },
        &runs,
        false,
    );
    assert_eq!(
        second.dispatcher().retrying(),
        1,
        "the kept retry waits for its due time"
    );
    second.drain(Duration::from_secs(10)).await.unwrap();
    let seen = runs.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("a", "msg_1".to_owned(), 1, false),
            ("b", "msg_1".to_owned(), 1, false),
            ("b", "msg_1".to_owned(), 2, true),
        ]
    );
    assert!(
        store.db.lock().unwrap().events.is_empty(),
        "done: no longer kept"
    );

    // Its key outlived both: a redelivery is a duplicate and runs nothing.
    let third = receiver(
        MapStore {
            db: Arc::clone(&store.db),
        },
        &runs,
        false,
    );
    let res = third
        .clone()
        .oneshot(chirp_request(delivered("msg_1")))
        .await
        .unwrap();
    assert_eq!(json_body(res).await["duplicate"], true);
    third.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(runs.lock().unwrap().len(), 3);
    assert_eq!(third.store().location(), "the test's map");
}

#[tokio::test]
async fn a_users_store_passes_the_conformance_suite() {
    conformance::check_dedup(&MapStore::default()).await;
    let db = Arc::new(Mutex::new(Db::default()));
    conformance::check_kept_events(|| {
        let db = Arc::clone(&db);
        async move { MapStore { db } }
    })
    .await;
}
