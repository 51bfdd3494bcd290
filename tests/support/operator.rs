//! What the operator tests share (tests/admin.rs, tests/cli.rs): a receiver whose handler `b`
//! fails on demand, and a batch of events dead-lettered by it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use webhook_receiver::chirp::{self, MessageStatus};
use webhook_receiver::dispatch::RetryPolicy;
use webhook_receiver::store::{EventFilter, EventState, InboxAdmin, Store};

use super::{SECRET, assert_accepted, delivered};

/// A fresh directory under the system's temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wr-admin-{name}-{}-{}",
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

/// What the handlers ran: (handler, message id, attempt, is_replay).
pub type Runs = Arc<Mutex<Vec<(&'static str, String, u32, bool)>>>;

/// A Chirp receiver on `store`: handler `a` always succeeds; handler `b` fails while `fail_b`,
/// two attempts in all.
pub fn receiver<S: Store + Clone>(
    store: S,
    runs: &Runs,
    fail_b: bool,
) -> webhook_receiver::Webhooks<chirp::Chirp, webhook_receiver::verify::SharedSecret, S> {
    chirp::webhooks([SECRET])
        .unwrap()
        .state((Arc::clone(runs), fail_b))
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_backoff(Duration::from_millis(1))
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
        .store(store)
        .spawn()
}

pub async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

pub fn dead() -> EventFilter {
    EventFilter::new().state(EventState::Dead)
}

pub fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("m{i:03}")).collect()
}

/// Sends `n` events to a receiver on `store` whose handler `b` fails, and waits until all are
/// dead in the store.
pub async fn dead_letter_all<S: Store + Clone + InboxAdmin>(store: &S, n: usize) {
    let runs: Runs = Arc::default();
    let webhooks = receiver(store.clone(), &runs, true);
    for id in ids(n) {
        assert_accepted(&webhooks, delivered(&id)).await;
    }
    wait_until("every event is dead", async || {
        store.count(&dead()).await.unwrap() == n as u64
    })
    .await;
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    let b_runs = runs.lock().unwrap().iter().filter(|r| r.0 == "b").count();
    assert_eq!(b_runs, 2 * n, "b made its two attempts per event");
}

/// The runs of handler `b`, sorted, and whether `a` ran at all.
pub fn b_runs(runs: &Runs) -> (Vec<(String, u32, bool)>, bool) {
    let runs = runs.lock().unwrap();
    let mut b: Vec<_> = runs
        .iter()
        .filter(|r| r.0 == "b")
        .map(|r| (r.1.clone(), r.2, r.3))
        .collect();
    b.sort();
    (b, runs.iter().any(|r| r.0 == "a"))
}

pub fn replayed_once(n: usize) -> Vec<(String, u32, bool)> {
    ids(n).into_iter().map(|id| (id, 1, true)).collect()
}

/// The operator's authentication layer (the router refuses nothing by itself).
pub fn behind_token(router: axum::Router, token: &'static str) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| async move {
            let expected = format!("Bearer {token}");
            let given = request.headers().get("authorization").map(|v| v.as_bytes());
            if given.is_some_and(|g| subtle::ConstantTimeEq::ct_eq(g, expected.as_bytes()).into()) {
                next.run(request).await
            } else {
                axum::response::IntoResponse::into_response(http::StatusCode::UNAUTHORIZED)
            }
        },
    ))
}
