//! `RedisStore` against a real `redis-server` (started by the test on a free port): the claim,
//! its pending and confirmed states, replicas sharing it, the outage policy, and cancellation.
//!
//! Waits are liveness bounds (a loop that gives up after many seconds), never timing checks.
#![cfg(all(feature = "redis", feature = "chirp"))]

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use support::redis_server::{RedisServer, redis_cause};
use support::*;
use tower::ServiceExt;
use webhook_receiver::chirp::{self, MessageStatus};
use webhook_receiver::store::{Claim, FALLBACKS, RedisStore};
use webhook_receiver::{DedupKey, Format};

type Receiver =
    webhook_receiver::Webhooks<chirp::Chirp, webhook_receiver::verify::SharedSecret, RedisStore>;

async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn get(conn: &mut redis::aio::MultiplexedConnection, key: &[u8]) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query_async(conn).await.unwrap()
}

async fn pttl(conn: &mut redis::aio::MultiplexedConnection, key: &[u8]) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

/// What another replica that claimed `key` and then died leaves behind: a pending value.
async fn write_pending(conn: &mut redis::aio::MultiplexedConnection, key: &[u8], ttl_ms: u64) {
    let mut value = b"p".to_vec();
    value.extend_from_slice(&fastrand::u64(..).to_le_bytes());
    let () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("PX")
        .arg(ttl_ms)
        .query_async(conn)
        .await
        .unwrap();
}

/// Polls `key`'s value until `done` holds (a liveness bound of 20 s, not a timing check).
async fn eventually(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &[u8],
    what: &str,
    done: impl Fn(Option<&[u8]>) -> bool,
) {
    for _ in 0..2000 {
        if done(get(conn, key).await.as_deref()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 20 s: {what}");
}

/// A Chirp receiver on `store` counting its handler runs.
fn receiver(store: RedisStore, runs: &Arc<AtomicUsize>) -> Receiver {
    chirp::webhooks([SECRET])
        .unwrap()
        .state(Arc::clone(runs))
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, ctx| async move {
            ctx.state().fetch_add(1, Ordering::SeqCst);
        })
        .store(store)
        .spawn()
}

/// The dedup key the receiver gives `body`.
fn key_of(body: &str) -> DedupKey {
    chirp::Chirp
        .decode(&http::HeaderMap::new(), body.as_bytes())
        .unwrap()
        .key()
}

/// Posts `body` until it is answered 200 (a 503 `claim_in_flight` is retried: another claim of
/// it is being confirmed or given back); returns the 200's body.
async fn post_until_200(webhooks: &Receiver, body: &str) -> serde_json::Value {
    for _ in 0..2000 {
        let res = webhooks
            .clone()
            .oneshot(chirp_request(body.to_owned()))
            .await
            .unwrap();
        if res.status() == 200 {
            return json_body(res).await;
        }
        assert!(res.headers().contains_key("retry-after"));
        let err = error_body(res, 503, "api_error").await;
        assert_eq!(err["code"], "claim_in_flight", "{err}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{body} not accepted within 2000 tries");
}

/// Every metric recorded so far: its name, its labels (`k=v,k=v`) and value. (A snapshot resets
/// the debugging recorder's counters: take one per check.)
fn snapshot(snapshotter: &Snapshotter) -> Vec<(String, String, DebugValue)> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            (key.key().name().to_owned(), labels.join(","), value)
        })
        .collect()
}

/// The counters named `name` in `snapshot`: labels and value.
/// The counters of that name that counted something (the 200s' counters are registered, at
/// zero, when the receiver is built).
fn counters(snapshot: &[(String, String, DebugValue)], name: &str) -> Vec<(String, u64)> {
    snapshot
        .iter()
        .filter(|(n, _, value)| n == name && *value != DebugValue::Counter(0))
        .map(|(_, labels, value)| match value {
            DebugValue::Counter(n) => (labels.clone(), *n),
            other => panic!("{name} is not a counter: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_claim_is_one_set_of_the_prefixed_16_byte_key_then_confirmed_with_the_full_ttl() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .prefix("t1:")
        .ttl(Duration::from_secs(3600))
        .pending_ttl(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let key = DedupKey::from_parts(&[b"evt_1"]);
    assert_eq!(store.claim(key).await.unwrap(), Claim::New);
    let mut conn = raw(&server).await;
    let redis_key = store.redis_key(key);
    assert_eq!(redis_key.len(), 3 + 16);
    // The confirmation runs after the claim returned: pending (`p` + token), then `c`.
    eventually(&mut conn, &redis_key, "the claim is confirmed", |v| {
        v == Some(&b"c"[..])
    })
    .await;
    let ttl = pttl(&mut conn, &redis_key).await;
    assert!(ttl > 10_000 && ttl <= 3_600_000, "the full TTL: {ttl}");
    assert_eq!(store.claim(key).await.unwrap(), Claim::Duplicate);
    // Another prefix is another receiver: no collision.
    let other = RedisStore::builder(server.url())
        .prefix("t2:")
        .connect()
        .await
        .unwrap();
    assert_eq!(other.claim(key).await.unwrap(), Claim::New);
}

#[tokio::test]
async fn after_the_ttl_the_key_is_new_again() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .ttl(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let key = DedupKey::from_parts(&[b"short"]);
    assert_eq!(store.claim(key).await.unwrap(), Claim::New);
    let mut conn = raw(&server).await;
    let redis_key = store.redis_key(key);
    eventually(&mut conn, &redis_key, "the confirmed key expires", |v| {
        v.is_none()
    })
    .await;
    assert_eq!(store.claim(key).await.unwrap(), Claim::New);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_from_several_replicas_give_exactly_one_new() {
    let server = RedisServer::start();
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(RedisStore::builder(server.url()).connect().await.unwrap());
    }
    for round in 0..20u8 {
        let key = DedupKey::from_bytes([round; 16]);
        let claims = futures_util::future::join_all((0..30).map(|i| {
            let store = stores[i % 3].clone();
            async move { store.claim(key).await.unwrap() }
        }))
        .await;
        assert_eq!(
            claims.iter().filter(|c| **c == Claim::New).count(),
            1,
            "round {round}: {claims:?}"
        );
    }
}

#[tokio::test]
async fn a_confirmed_claim_is_a_duplicate_on_another_replica() {
    let server = RedisServer::start();
    let a = RedisStore::builder(server.url()).connect().await.unwrap();
    let b = RedisStore::builder(server.url()).connect().await.unwrap();
    let key = DedupKey::from_parts(&[b"shared"]);
    assert_eq!(a.claim(key).await.unwrap(), Claim::New);
    // Until A's confirmation lands, B sees the claim in flight; then a duplicate.
    let mut last = Claim::InFlight;
    for _ in 0..2000 {
        last = b.claim(key).await.unwrap();
        if last != Claim::InFlight {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(last, Claim::Duplicate);
    let mut conn = raw(&server).await;
    assert_eq!(
        get(&mut conn, &b.redis_key(key)).await.as_deref(),
        Some(&b"c"[..])
    );
}

#[tokio::test]
async fn an_event_posted_to_every_replica_runs_once() {
    let server = RedisServer::start();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let store = RedisStore::builder(server.url()).connect().await.unwrap();
        replicas.push(receiver(store, &runs));
    }
    for (n, replica) in replicas.iter().enumerate() {
        let body = post_until_200(replica, &delivered("shared-1")).await;
        assert_eq!(
            body["duplicate"].as_bool().unwrap_or(false),
            n > 0,
            "{body}"
        );
    }
    for replica in &replicas {
        replica.drain(Duration::from_secs(10)).await.unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// The defect this design fixes: while the connection reconnects, SETs queue up and run after
/// their requests gave up (503). The first is `New`, nobody observes it; the sender's retries
/// queued behind it must not see a duplicate (which would acknowledge an event never handled),
/// only "in flight" until it is given back, then `New`.
#[tokio::test]
async fn while_redis_is_down_the_receiver_answers_503_and_recovers_after() {
    let mut server = RedisServer::start();
    let port = server.port;
    let store = RedisStore::builder(server.url())
        .claim_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let webhooks = receiver(store, &runs);
    server.stop();
    let res = webhooks
        .clone()
        .oneshot(chirp_request(delivered("down-1")))
        .await
        .unwrap();
    assert!(res.headers().contains_key("retry-after"));
    let err = error_body(res, 503, "api_error").await;
    assert_eq!(err["code"], "store_unavailable", "{err}");
    // The server comes back on the same port: the connection reconnects on its own.
    let _server = RedisServer::start_on(port);
    let mut accepted = false;
    let mut answers = Vec::new();
    for _ in 0..200 {
        let res = webhooks
            .clone()
            .oneshot(chirp_request(delivered("down-1")))
            .await
            .unwrap();
        if res.status() == 200 {
            let body = json_body(res).await;
            assert_eq!(
                body,
                serde_json::json!({"received": true}),
                "new, not a duplicate, after {answers:?}"
            );
            accepted = true;
            break;
        }
        assert!(res.headers().contains_key("retry-after"));
        let err = error_body(res, 503, "api_error").await;
        let code = err["code"].as_str().unwrap().to_owned();
        assert!(
            code == "store_unavailable" || code == "claim_in_flight",
            "{err}"
        );
        answers.push(code);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "accepted once Redis is back: {answers:?}");
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the retried event ran once");
}

#[tokio::test]
async fn with_the_memory_fallback_an_outage_is_answered_200_and_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let mut server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .claim_timeout(Duration::from_millis(300))
        .fallback_to_memory(true)
        .connect()
        .await
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let webhooks = receiver(store, &runs);
    server.stop();
    assert_accepted(&webhooks, delivered("fb-1")).await;
    let res = webhooks
        .clone()
        .oneshot(chirp_request(delivered("fb-1")))
        .await
        .unwrap();
    assert_eq!(
        json_body(res).await["duplicate"],
        true,
        "the in-process store remembers it"
    );
    assert_eq!(
        counters(&snapshot(&snapshotter), FALLBACKS),
        [(String::new(), 2)]
    );
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_claim_in_flight_is_503_even_with_the_memory_fallback() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .fallback_to_memory(true)
        .connect()
        .await
        .unwrap();
    let mut conn = raw(&server).await;
    let body = delivered("elsewhere-1");
    write_pending(&mut conn, &store.redis_key(key_of(&body)), 60_000).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let webhooks = receiver(store, &runs);
    let res = webhooks
        .clone()
        .oneshot(chirp_request(body.clone()))
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "1");
    let err = error_body(res, 503, "api_error").await;
    assert_eq!(err["code"], "claim_in_flight", "{err}");
    // One snapshot: taking one resets the debugging recorder's counters.
    let snapshot = snapshot(&snapshotter);
    assert_eq!(
        counters(&snapshot, webhook_receiver::telemetry::DELIVERIES),
        [(
            "outcome=rejected,status=503,reason=claim_in_flight".to_owned(),
            1
        )]
    );
    assert!(counters(&snapshot, FALLBACKS).is_empty(), "not a failure");
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 0, "nothing dispatched");
}

#[tokio::test]
async fn the_pending_ttl_frees_a_key_whose_replica_died() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url()).connect().await.unwrap();
    let mut conn = raw(&server).await;
    let body = delivered("died-1");
    let redis_key = store.redis_key(key_of(&body));
    // Another replica claimed it (pending, 500 ms) and died before confirming.
    write_pending(&mut conn, &redis_key, 500).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let webhooks = receiver(store.clone(), &runs);
    let res = webhooks
        .clone()
        .oneshot(chirp_request(body.clone()))
        .await
        .unwrap();
    let err = error_body(res, 503, "api_error").await;
    assert_eq!(err["code"], "claim_in_flight", "{err}");
    // Redeliveries are answered 503 until it expires, then accepted as new.
    let answer = post_until_200(&webhooks, &body).await;
    assert_eq!(answer, serde_json::json!({"received": true}));
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// Claims `key` until `New`, asserting that no answer is `Duplicate` meanwhile.
async fn claim_until_new(store: &RedisStore, key: DedupKey) {
    for _ in 0..2000 {
        match store.claim(key).await.unwrap() {
            Claim::New => return,
            Claim::InFlight => tokio::time::sleep(Duration::from_millis(10)).await,
            Claim::Duplicate => {
                panic!("a claim abandoned before its event was queued answered Duplicate")
            }
        }
    }
    panic!("still in flight after 2000 tries");
}

#[tokio::test]
async fn an_unobserved_new_claim_is_released() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url()).connect().await.unwrap();
    let mut conn = raw(&server).await;
    // Dropped right after its first poll (the request went away).
    let key = DedupKey::from_parts(&[b"dropped"]);
    assert!(
        futures_util::FutureExt::now_or_never(store.claim(key)).is_none(),
        "a claim needs a round trip"
    );
    let redis_key = store.redis_key(key);
    eventually(
        &mut conn,
        &redis_key,
        "the unobserved claim is given back",
        |v| v.is_none(),
    )
    .await;
    claim_until_new(&store, key).await;
}

#[tokio::test]
async fn a_claim_dropped_after_its_set_landed_never_makes_a_later_claim_duplicate() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url()).connect().await.unwrap();
    let mut conn = raw(&server).await;
    let key = DedupKey::from_parts(&[b"landed"]);
    let redis_key = store.redis_key(key);
    let mut claim = Box::pin(store.claim(key));
    assert!(futures_util::FutureExt::now_or_never(&mut claim).is_none());
    // The SET is applied (pending, its answer on the way or waiting in the channel), and the
    // request is dropped before it could confirm.
    eventually(&mut conn, &redis_key, "the claim's SET lands", |v| {
        v.is_some_and(|v| v[0] == b'p')
    })
    .await;
    drop(claim);
    claim_until_new(&store, key).await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_claim_that_times_out_is_an_error_and_its_late_new_is_released() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .claim_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let key = DedupKey::from_parts(&[b"slow"]);
    let signal = |sig: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([sig, &server.pid().to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("-STOP");
    let claimed = store.claim(key).await;
    signal("-CONT");
    assert!(claimed.is_err(), "{claimed:?}");
    // The SET still reaches the server after it woke up, before any later command on the same
    // connection; nobody observed its `New`: later claims are in flight, then new.
    claim_until_new(&store, key).await;
}

/// Polls `future` (yielding in between, to the microsecond: tokio's timers tick in
/// milliseconds) until it completes, or drops it once `limit` has passed; whether it completed.
async fn poll_for<F: std::future::Future>(future: F, limit: Duration) -> bool {
    let started = std::time::Instant::now();
    let mut future = std::pin::pin!(future);
    loop {
        if futures_util::FutureExt::now_or_never(future.as_mut()).is_some() {
            return true;
        }
        if started.elapsed() >= limit {
            return false;
        }
        tokio::task::yield_now().await;
    }
}

/// 100 requests dropped at points spread over a claim's life (before the SET, while it is in
/// flight, after the answer, after the 200), each redelivered at once until accepted: each event
/// is handled exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_dropped_anywhere_while_claiming_lose_nothing_and_double_nothing() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url()).connect().await.unwrap();
    let handled: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let webhooks = chirp::webhooks([SECRET])
        .unwrap()
        .state(Arc::clone(&handled))
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, ctx| async move {
            *ctx.state().lock().unwrap().entry(s.id).or_default() += 1;
        })
        .store(store)
        .spawn();
    let mut dropped = 0;
    for i in 0..100u64 {
        let body = delivered(&format!("cancel-{i}"));
        let request = webhooks.clone().oneshot(chirp_request(body.clone()));
        // 0 to ~2 ms; i = 0 is dropped right after its first poll sent its claim.
        let deadline = Duration::from_micros(i * 20 + fastrand::u64(0..20));
        if !poll_for(request, deadline).await {
            dropped += 1;
        }
        // The sender's retry, at once: its claim may reach Redis before the dropped one is
        // given back (then it is in flight, 503, and retried), never as a duplicate of it.
        post_until_200(&webhooks, &body).await;
    }
    assert!(
        dropped > 0,
        "no request was dropped: the test tests nothing"
    );
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    let handled = handled.lock().unwrap();
    for i in 0..100 {
        let id = format!("cancel-{i}");
        assert_eq!(
            handled.get(&id),
            Some(&1),
            "{id} ({dropped} requests dropped)"
        );
    }
    assert_eq!(handled.len(), 100);
}

#[cfg(feature = "testing")]
#[tokio::test]
async fn redis_store_passes_the_store_conformance_suite() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .prefix("conformance:")
        .connect()
        .await
        .unwrap();
    webhook_receiver::store::conformance::check_dedup(&store).await;
}

/// Issue 21, items 3 and 4: nothing listens on the port. `connect` gives up after its connect
/// timeout (default 5 s; the bound below is only a liveness bound) instead of retrying for
/// minutes, and neither the builder's `Debug` nor the error holds the password.
#[tokio::test]
async fn connecting_to_a_closed_port_fails_within_the_connect_timeout_and_hides_the_password() {
    let port = support::process::free_port().port();
    let builder = RedisStore::builder(format!("redis://:hunter2-pw@127.0.0.1:{port}"));
    let debug = format!("{builder:?}");
    assert!(!debug.contains("hunter2-pw"), "{debug}");
    let err = tokio::time::timeout(Duration::from_secs(30), builder.connect())
        .await
        .expect("connect gave up (within 30 s)")
        .expect_err("nothing listens there");
    let (display, debug) = (err.to_string(), format!("{err:?}"));
    assert!(
        display.contains(&format!(
            "cannot connect to Redis at redis://…@127.0.0.1:{port}"
        )),
        "{display}"
    );
    assert!(!display.contains("hunter2-pw"), "{display}");
    assert!(!debug.contains("hunter2-pw"), "{debug}");
    let cause = redis_cause(&err).unwrap_or_else(|| panic!("no Redis error in {debug}"));
    assert!(cause.is_connection_refusal(), "{cause:?}");
}

/// Issue 21, items 3 and 4: the server refuses the password. `connect` fails at once (retrying
/// cannot help), with an authentication error that does not hold the password.
#[tokio::test]
async fn connecting_with_a_refused_password_fails_and_hides_the_password() {
    let server = RedisServer::start_with(&["--requirepass", "right-pw"]);
    let url = format!("redis://:wrong-pw@127.0.0.1:{}", server.port);
    let err = tokio::time::timeout(Duration::from_secs(30), RedisStore::builder(url).connect())
        .await
        .expect("connect gave up (within 30 s)")
        .expect_err("the password is wrong");
    let (display, debug) = (err.to_string(), format!("{err:?}"));
    assert!(!display.contains("wrong-pw"), "{display}");
    assert!(!debug.contains("wrong-pw"), "{debug}");
    let cause = redis_cause(&err).unwrap_or_else(|| panic!("no Redis error in {debug}"));
    assert_eq!(
        cause.kind(),
        redis::ErrorKind::AuthenticationFailed,
        "{cause:?}"
    );
    // The right one connects, and the store names its server without it.
    let store = RedisStore::builder(format!("redis://:right-pw@127.0.0.1:{}", server.port))
        .connect()
        .await
        .unwrap();
    let location = webhook_receiver::store::Store::location(&store);
    assert!(
        location.contains(&format!("redis://…@127.0.0.1:{}", server.port))
            && !location.contains("right-pw"),
        "{location}"
    );
}

/// Issue 21, item 10: a server whose `maxmemory-policy` may evict keys is logged at `warn`, or,
/// with `require_noeviction`, refused; a `noeviction` server is accepted either way.
#[tokio::test]
async fn a_server_that_may_evict_keys_is_warned_about_or_refused() {
    let evicting = RedisServer::start_with(&["--maxmemory-policy", "allkeys-lru"]);
    let (logs, _guard) = capture_logs();
    RedisStore::builder(evicting.url())
        .connect()
        .await
        .expect("by default it connects");
    let text = logs.text();
    assert!(
        text.contains("WARN") && text.contains("allkeys-lru") && text.contains("noeviction"),
        "{text}"
    );
    let err = RedisStore::builder(evicting.url())
        .require_noeviction(true)
        .connect()
        .await
        .expect_err("require_noeviction refuses it");
    assert!(
        err.to_string().contains("maxmemory-policy is allkeys-lru"),
        "{err}"
    );
    let safe = RedisServer::start();
    RedisStore::builder(safe.url())
        .require_noeviction(true)
        .connect()
        .await
        .expect("a noeviction server is accepted");
}
