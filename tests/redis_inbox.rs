//! `RedisInbox` against a real `redis-server` (started by each test on a free loopback port):
//! accepts shared by replicas, the consumer group, take-over of a dead replica's entries with
//! its handlers' progress, dead letters, the backlog limit and an outage.
#![cfg(all(feature = "redis", feature = "chirp"))]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::redis_server::{RedisServer, redis_cause};
use support::*;
use tower::ServiceExt;
use webhook_receiver::chirp::{self, MessageStatus};
use webhook_receiver::dispatch::{EventContext, RetryPolicy};
use webhook_receiver::store::{InboxError, RedisInbox};

/// What the handlers saw: (replica, message id, attempt, is_replay).
type Seen = Arc<Mutex<Vec<(usize, String, u32, bool)>>>;

async fn inbox(server: &RedisServer, visibility: Duration) -> RedisInbox {
    RedisInbox::builder(server.url())
        .prefix("t:")
        .visibility_timeout(visibility)
        // The test servers run with the default policy, noeviction.
        .require_noeviction(true)
        .connect()
        .await
        .expect("connect to the test's redis-server")
}

/// A Chirp receiver on `inbox` whose SMS-delivered handler records into `seen`.
fn replica(
    n: usize,
    inbox: RedisInbox,
    seen: &Seen,
) -> webhook_receiver::Webhooks<chirp::Chirp, webhook_receiver::verify::SharedSecret, RedisInbox> {
    chirp::webhooks([SECRET])
        .unwrap()
        .state((n, Arc::clone(seen)))
        .on(
            chirp::SMS_DELIVERED,
            |s: MessageStatus, ctx: EventContext<(usize, Seen)>| async move {
                let (n, seen) = ctx.state();
                seen.lock()
                    .unwrap()
                    .push((*n, s.id.clone(), ctx.attempt(), ctx.is_replay()));
            },
        )
        .store(inbox)
        .spawn()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn redis_conn(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_posted_to_every_replica_runs_once_and_leaves_the_stream() {
    let server = RedisServer::start();
    let seen: Seen = Arc::default();
    let mut replicas = Vec::new();
    for n in 0..3 {
        replicas.push(replica(
            n,
            inbox(&server, Duration::from_secs(30)).await,
            &seen,
        ));
    }
    for i in 0..30 {
        let body = delivered(&format!("shared-{i}"));
        // Concurrently to all three for even ids, one after the other for odd ones.
        let answers = if i % 2 == 0 {
            futures_util::future::join_all(
                replicas
                    .iter()
                    .map(|r| r.clone().oneshot(chirp_request(body.clone()))),
            )
            .await
        } else {
            let mut answers = Vec::new();
            for r in &replicas {
                answers.push(r.clone().oneshot(chirp_request(body.clone())).await);
            }
            answers
        };
        let mut new = 0;
        for res in answers {
            let res = res.unwrap();
            assert_eq!(res.status(), 200);
            if json_body(res).await.get("duplicate").is_none() {
                new += 1;
            }
        }
        assert_eq!(new, 1, "exactly one replica accepted shared-{i}");
    }
    wait_until("30 events ran", || seen.lock().unwrap().len() >= 30).await;
    let inbox = replicas[0].store().clone();
    for r in &replicas {
        r.drain(Duration::from_secs(5)).await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    let mut ids: Vec<_> = seen.iter().map(|s| s.1.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (seen.len(), ids.len()),
        (30, 30),
        "each ran exactly once: {seen:?}"
    );
    assert!(
        seen.iter().all(|s| s.2 == 1 && !s.3),
        "first attempts, not replays"
    );
    assert_eq!(
        inbox.backlog().await.unwrap(),
        0,
        "completed entries are deleted"
    );
    let mut conn = redis_conn(&server).await;
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg(inbox.stream_key())
        .arg("webhook-receiver")
        .query_async(&mut conn)
        .await
        .unwrap();
    match pending {
        redis::Value::Array(summary) => assert_eq!(summary[0], redis::Value::Int(0)),
        other => panic!("XPENDING: {other:?}"),
    }
    // The dedup keys stay, with their TTL: a late redelivery is still a duplicate.
    let fresh = replica(9, inbox, &Arc::default());
    let res = fresh
        .clone()
        .oneshot(chirp_request(delivered("shared-7")))
        .await
        .unwrap();
    assert_eq!(json_body(res).await["duplicate"], true);
}

#[test]
fn a_dead_replicas_entry_is_taken_over_and_resumes_from_its_recorded_attempt() {
    let server = RedisServer::start();
    let url = server.url();
    let seen: Seen = Arc::default();

    // Replica 0, on a runtime of its own: its handler fails the first attempt, with a retry due
    // in 2 s. The runtime is then dropped, which ends all its tasks: a crash, as seen from Redis.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seen0 = Arc::clone(&seen);
    let url0 = url.clone();
    rt.block_on(async move {
        let inbox = RedisInbox::builder(url0.clone())
            .prefix("t:")
            .visibility_timeout(Duration::from_secs(1))
            .connect()
            .await
            .unwrap();
        let webhooks = chirp::webhooks([SECRET])
            .unwrap()
            .retry_policy(
                RetryPolicy::default()
                    .initial_backoff(Duration::from_secs(2))
                    .without_jitter(),
            )
            .state(Arc::clone(&seen0))
            .on(
                chirp::SMS_DELIVERED,
                |s: MessageStatus, ctx: EventContext<Seen>| async move {
                    ctx.state().lock().unwrap().push((
                        0,
                        s.id.clone(),
                        ctx.attempt(),
                        ctx.is_replay(),
                    ));
                    Err::<(), _>(std::io::Error::other("first replica fails"))
                },
            )
            .store(inbox)
            .spawn();
        let res = webhooks
            .clone()
            .oneshot(chirp_request(delivered("orphan")))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        wait_until("replica 0 tried once", || seen0.lock().unwrap().len() == 1).await;
        // Its attempt is recorded in Redis before the crash.
        let mut conn = redis::Client::open(url0)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        for _ in 0..500 {
            let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
                .arg("t:state:*")
                .query_async(&mut conn)
                .await
                .unwrap();
            if !keys.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        std::mem::forget(webhooks); // no drain: the process "dies"
    });
    drop(rt);

    // Replica 1 takes the entry over once it has been idle for the visibility timeout, and runs
    // attempt 2 (not 1) when its retry is due, as a replay.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let inbox = RedisInbox::builder(url.clone())
            .prefix("t:")
            .visibility_timeout(Duration::from_secs(1))
            .connect()
            .await
            .unwrap();
        let webhooks = replica(1, inbox.clone(), &seen);
        wait_until("replica 1 ran it", || seen.lock().unwrap().len() == 2).await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0], (0, "orphan".to_owned(), 1, false));
        assert_eq!(seen[1], (1, "orphan".to_owned(), 2, true));
        webhooks.drain(Duration::from_secs(5)).await.unwrap();
        assert_eq!(inbox.backlog().await.unwrap(), 0);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_gives_up_leaves_a_dead_letter_in_redis_and_the_entry_is_acknowledged() {
    let server = RedisServer::start();
    let inbox = inbox(&server, Duration::from_secs(30)).await;
    let webhooks = chirp::webhooks([SECRET])
        .unwrap()
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_backoff(Duration::from_millis(10)),
        )
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, _ctx| async {
            Err::<(), _>(std::io::Error::other("downstream is down"))
        })
        .store(inbox.clone())
        .spawn();
    let res = webhooks
        .clone()
        .oneshot(chirp_request(delivered("doomed")))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for _ in 0..500 {
        if inbox.dead_letters().await.unwrap() == 1 && inbox.backlog().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(inbox.backlog().await.unwrap(), 0);
    let mut conn = redis_conn(&server).await;
    let letters: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("t:dead")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(letters.ids.len(), 1);
    let letter = &letters.ids[0];
    let field = |name: &str| -> String {
        redis::from_redis_value(letter.map.get(name).unwrap_or_else(|| panic!("{name}"))).unwrap()
    };
    assert_eq!(field("reason"), "exhausted");
    assert_eq!(field("attempts"), "2");
    assert!(
        field("error").contains("downstream is down"),
        "{}",
        field("error")
    );
    assert!(!field("handler").is_empty());
    // The stored event itself, body included, is in the dead letter.
    let record: Vec<u8> = redis::from_redis_value(&letter.map["r"]).unwrap();
    assert!(
        record.windows(6).any(|w| w == b"doomed"),
        "the event's body is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_backlog_limit_the_answer_is_503_and_nothing_is_remembered() {
    let server = RedisServer::start();
    let inbox = RedisInbox::builder(server.url())
        .prefix("t:")
        .max_backlog(2)
        .connect()
        .await
        .unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let seen: Seen = Arc::default();
    let webhooks = chirp::webhooks([SECRET])
        .unwrap()
        .state((Arc::clone(&gate), Arc::clone(&seen)))
        .on(
            chirp::SMS_DELIVERED,
            |s: MessageStatus, ctx: EventContext<(Arc<tokio::sync::Semaphore>, Seen)>| async move {
                let (gate, seen) = ctx.state();
                gate.acquire().await.unwrap().forget();
                seen.lock()
                    .unwrap()
                    .push((0, s.id.clone(), ctx.attempt(), false));
            },
        )
        .store(inbox.clone())
        .spawn();
    for id in ["b-1", "b-2"] {
        let res = webhooks
            .clone()
            .oneshot(chirp_request(delivered(id)))
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{id}");
    }
    let res = webhooks
        .clone()
        .oneshot(chirp_request(delivered("b-3")))
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let error = error_body(res, 503, "api_error").await;
    assert_eq!(error["code"], "queue_full");
    // Let the two run; then b-3 is accepted as new (it was not remembered) and runs.
    gate.add_permits(2);
    wait_until("two ran", || seen.lock().unwrap().len() == 2).await;
    for _ in 0..500 {
        if inbox.backlog().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let res = webhooks
        .clone()
        .oneshot(chirp_request(delivered("b-3")))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        json_body(res).await.get("duplicate").is_none(),
        "b-3 is new"
    );
    gate.add_permits(1);
    wait_until("b-3 ran", || seen.lock().unwrap().len() == 3).await;
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_the_answer_is_503_and_the_event_runs_once_redis_is_back() {
    let mut server = RedisServer::start();
    let port = server.port;
    let seen: Seen = Arc::default();
    let webhooks = replica(0, inbox(&server, Duration::from_secs(30)).await, &seen);
    server.stop();
    let res = webhooks
        .clone()
        .oneshot(chirp_request(delivered("outage")))
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let _server = RedisServer::start_on(port);
    // The sender retries until the connection is back.
    let mut status = 0;
    for _ in 0..100 {
        let res = webhooks
            .clone()
            .oneshot(chirp_request(delivered("outage")))
            .await
            .unwrap();
        status = res.status().as_u16();
        if status == 200 {
            assert!(
                json_body(res).await.get("duplicate").is_none(),
                "the first 200 is new"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    wait_until("it ran", || seen.lock().unwrap().len() == 1).await;
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_drain_deadline_what_is_left_is_run_by_another_replica_not_dead_lettered() {
    let server = RedisServer::start();
    let seen: Seen = Arc::default();
    // Replica 0 runs one event at a time, each for 10 s.
    let leaving = chirp::webhooks([SECRET])
        .unwrap()
        .concurrency_limit(1)
        .state(Arc::clone(&seen))
        .on(
            chirp::SMS_DELIVERED,
            |s: MessageStatus, ctx: EventContext<Seen>| async move {
                ctx.state()
                    .lock()
                    .unwrap()
                    .push((0, s.id.clone(), ctx.attempt(), ctx.is_replay()));
                tokio::time::sleep(Duration::from_secs(10)).await;
            },
        )
        .store(inbox(&server, Duration::from_secs(1)).await)
        .spawn();
    for id in ["first", "second"] {
        let res = leaving
            .clone()
            .oneshot(chirp_request(delivered(id)))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    wait_until("the first started", || seen.lock().unwrap().len() == 1).await;
    // A deploy: the deadline passes with "first" running; "second" was taken by this replica
    // (it had room for one more in its queue) or is still in the stream.
    leaving
        .drain(Duration::from_millis(200))
        .await
        .expect_err("first is still running");
    let staying = replica(1, inbox(&server, Duration::from_secs(1)).await, &seen);
    wait_until("the other replica ran second", || {
        seen.lock().unwrap().iter().any(|s| s.0 == 1)
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].1, "first");
    assert_eq!(seen[1].0, 1);
    assert_eq!(seen[1].1, "second");
    let inbox = staying.store().clone();
    assert_eq!(
        inbox.dead_letters().await.unwrap(),
        0,
        "nothing dead-lettered"
    );
    staying.drain(Duration::from_secs(5)).await.unwrap();
}

#[cfg(feature = "testing")]
#[tokio::test]
async fn redis_inbox_passes_the_store_conformance_suite() {
    let server = RedisServer::start();
    webhook_receiver::store::conformance::check_dedup(
        &inbox(&server, Duration::from_secs(30)).await,
    )
    .await;
    // Each "restart" is a new replica (consumer) on the same stream: what the stopped one held
    // is taken over once idle past the visibility timeout.
    let n = std::sync::atomic::AtomicUsize::new(0);
    webhook_receiver::store::conformance::check_kept_events(|| {
        let consumer = format!(
            "conformance-{}",
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let url = server.url();
        async move {
            RedisInbox::builder(url)
                .prefix("kept:")
                .require_noeviction(true)
                .consumer(consumer)
                .visibility_timeout(Duration::from_millis(500))
                .connect()
                .await
                .unwrap()
        }
    })
    .await;
}

/// How many times each message id ran, and on which replica.
type Runs = Arc<Mutex<std::collections::HashMap<String, Vec<usize>>>>;

/// Issue 21, item 1: two healthy replicas, each running one event at a time (concurrency 1,
/// queue 1) for 100 ms, with a 1 s visibility timeout, and 60 events: no replica reads more than
/// it holds fresh, so none is taken over from a live replica, and each runs exactly once. (Before
/// the fix, a replica read 32 entries ahead, which went idle past the visibility timeout while it
/// worked through them, were taken over, and ran twice.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_healthy_replicas_run_every_event_exactly_once() {
    let server = RedisServer::start();
    let runs: Runs = Arc::default();
    let mut replicas = Vec::new();
    for n in 0..2 {
        replicas.push(
            chirp::webhooks([SECRET])
                .unwrap()
                .concurrency_limit(1)
                .queue_capacity(1)
                .state((n, Arc::clone(&runs)))
                .on(
                    chirp::SMS_DELIVERED,
                    |s: MessageStatus, ctx: EventContext<(usize, Runs)>| async move {
                        let (n, runs) = ctx.state();
                        runs.lock()
                            .unwrap()
                            .entry(s.id.clone())
                            .or_default()
                            .push(*n);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    },
                )
                .store(inbox(&server, Duration::from_secs(1)).await)
                .spawn(),
        );
    }
    for i in 0..60 {
        let res = replicas[i % 2]
            .clone()
            .oneshot(chirp_request(delivered(&format!("busy-{i}"))))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(json_body(res).await.get("duplicate").is_none(), "busy-{i}");
    }
    wait_until("all 60 events ran", || {
        let runs = runs.lock().unwrap();
        (0..60).all(|i| runs.contains_key(&format!("busy-{i}")))
    })
    .await;
    // What a replica read before now has run once each replica has run an event posted after
    // now (a replica hands entries over in the order it read them). Post such events until
    // both have.
    let mut sentinel = 0;
    let by_both = |runs: &Runs| {
        let runs = runs.lock().unwrap();
        let ran_on = |n| {
            runs.iter()
                .any(|(id, on)| id.starts_with("sentinel-") && on.contains(&n))
        };
        ran_on(0) && ran_on(1)
    };
    while !by_both(&runs) {
        assert!(
            sentinel < 500,
            "both replicas ran a sentinel within 500 posts"
        );
        let res = replicas[sentinel % 2]
            .clone()
            .oneshot(chirp_request(delivered(&format!("sentinel-{sentinel}"))))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        sentinel += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for r in &replicas {
        r.drain(Duration::from_secs(30)).await.unwrap();
    }
    let runs = runs.lock().unwrap().clone();
    let twice: Vec<_> = runs.iter().filter(|(_, on)| on.len() != 1).collect();
    assert!(
        twice.is_empty(),
        "{} events ran more than once: {twice:?}",
        twice.len()
    );
}

/// Issue 21, item 1: a replica that stalled past the visibility timeout and resumes (a late run)
/// does not take its entry back from the replica that took it over, and what it records then
/// is dropped: it neither overwrites the new owner's progress nor brings back the state hash of
/// an entry the new owner completed. (Before the fix, its heartbeat re-claimed the entry from the
/// new owner, and its progress write recreated the completed entry's hash, for the dedup TTL.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_runs_progress_is_dropped_once_its_entry_was_taken_over() {
    use webhook_receiver::store::{Accepted, Incoming, Store};

    let server = RedisServer::start();
    let late = RedisInbox::builder(server.url())
        .prefix("late:")
        .consumer("late")
        .visibility_timeout(Duration::from_secs(3))
        .connect()
        .await
        .unwrap();
    let (body, headers) = (
        bytes::Bytes::from(delivered("late-1")),
        http::HeaderMap::new(),
    );
    let key = webhook_receiver::DedupKey::from_parts(&[b"late-1"]);
    let accepted = late.accept(Incoming::new(key, &body, &headers)).await;
    assert!(matches!(accepted, Ok(Accepted::Stored)), "{accepted:?}");
    let mut feed = late.feed().unwrap();
    let pending = tokio::time::timeout(Duration::from_secs(20), feed.recv())
        .await
        .expect("handed over within 20 s")
        .unwrap();
    let (_event, entry) = pending.into_parts();
    let mut conn = redis_conn(&server).await;
    let stream = late.stream_key().to_vec();
    let entry_id: String = {
        let ids: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        ids.ids[0].id.clone()
    };
    let state = format!("late:state:{entry_id}");
    let owner = |conn: &mut redis::aio::MultiplexedConnection| {
        let (stream, id) = (stream.clone(), entry_id.clone());
        let mut conn = conn.clone();
        async move {
            let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
                .arg(&stream)
                .arg("webhook-receiver")
                .arg(&id)
                .arg(&id)
                .arg(1)
                .query_async(&mut conn)
                .await
                .unwrap();
            rows.first().map(|r| r.1.clone())
        }
    };
    // While it holds the entry, its progress is recorded.
    let later = std::time::SystemTime::now() + Duration::from_secs(3600);
    entry.record_attempt(0, 1, Some(later));
    late.flush().await.unwrap();
    let recorded: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(&state)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        recorded.contains_key("0"),
        "recorded while held: {recorded:?}"
    );

    // Another replica takes it over (as its `XAUTOCLAIM` does once the entry is idle).
    let () = redis::cmd("XCLAIM")
        .arg(&stream)
        .arg("webhook-receiver")
        .arg("other")
        .arg(0)
        .arg(&entry_id)
        .arg("JUSTID")
        .query_async::<Vec<String>>(&mut conn)
        .await
        .map(drop)
        .unwrap();
    let () = redis::cmd("HSET")
        .arg(&state)
        .arg(0)
        .arg("other's progress")
        .query_async(&mut conn)
        .await
        .unwrap();
    // The other replica keeps it fresh, as its heartbeat does (re-claiming only what it still
    // holds), for long enough for two heartbeats of the late replica (every third of its
    // visibility timeout), which must not claim it back.
    let refresh = {
        let (mut conn, stream, id) = (conn.clone(), stream.clone(), entry_id.clone());
        tokio::spawn(async move {
            loop {
                let _: redis::Value = redis::cmd("EVAL")
                    .arg(
                        "if #redis.call('XPENDING', KEYS[1], 'webhook-receiver', ARGV[1], ARGV[1], 1, 'other') > 0 then \
                           redis.call('XCLAIM', KEYS[1], 'webhook-receiver', 'other', 0, ARGV[1], 'JUSTID') end",
                    )
                    .arg(1)
                    .arg(&stream)
                    .arg(&id)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(owner(&mut conn).await.as_deref(), Some("other"));
    entry.record_attempt(0, 2, Some(later));
    late.flush().await.unwrap();
    let value: String = redis::cmd("HGET")
        .arg(&state)
        .arg(0)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(value, "other's progress", "the late write is dropped");
    refresh.abort();

    // The other replica completes it (what its bookkeeping does: XDEL, XACK, DEL).
    let () = redis::pipe()
        .cmd("XDEL")
        .arg(&stream)
        .arg(&entry_id)
        .ignore()
        .cmd("XACK")
        .arg(&stream)
        .arg("webhook-receiver")
        .arg(&entry_id)
        .ignore()
        .cmd("DEL")
        .arg(&state)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    // The late run goes on: a handler done, another retried. Nothing comes back.
    entry.complete_route(1);
    entry.record_attempt(0, 3, Some(later));
    late.flush().await.unwrap();
    let exists: u64 = redis::cmd("EXISTS")
        .arg(&state)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        exists, 0,
        "the late run recreated the completed entry's state hash"
    );
    assert_eq!(late.backlog().await.unwrap(), 0);
}

/// Issue 21, items 3 and 4: nothing listens on the port. `connect` gives up after its connect
/// timeout (default 5 s; the bound below is only a liveness bound) with `InboxError::Connect`,
/// and neither the builder's `Debug` nor the error holds the password.
#[tokio::test]
async fn connecting_to_a_closed_port_fails_within_the_connect_timeout_and_hides_the_password() {
    let port = support::process::free_port().port();
    let builder = RedisInbox::builder(format!("redis://:hunter2-pw@127.0.0.1:{port}"));
    let debug = format!("{builder:?}");
    assert!(!debug.contains("hunter2-pw"), "{debug}");
    let err = tokio::time::timeout(Duration::from_secs(30), builder.connect())
        .await
        .expect("connect gave up (within 30 s)")
        .expect_err("nothing listens there");
    let (display, debug) = (err.to_string(), format!("{err:?}"));
    let InboxError::Connect { url, source } = &err else {
        panic!("expected InboxError::Connect, got {debug}");
    };
    assert_eq!(url, &format!("redis://…@127.0.0.1:{port}"));
    assert!(!display.contains("hunter2-pw"), "{display}");
    assert!(!debug.contains("hunter2-pw"), "{debug}");
    assert!(!display.contains("durable"), "{display}");
    let cause = redis_cause(&**source).unwrap_or_else(|| panic!("no Redis error in {debug}"));
    assert!(cause.is_connection_refusal(), "{cause:?}");
}

/// Issue 21, items 3 and 4: the server refuses the password: `InboxError::Connect` at once, with
/// an authentication error that does not hold the password.
#[tokio::test]
async fn connecting_with_a_refused_password_fails_and_hides_the_password() {
    let server = RedisServer::start_with(&["--requirepass", "right-pw"]);
    let url = format!("redis://:wrong-pw@127.0.0.1:{}", server.port);
    let err = tokio::time::timeout(Duration::from_secs(30), RedisInbox::builder(url).connect())
        .await
        .expect("connect gave up (within 30 s)")
        .expect_err("the password is wrong");
    let (display, debug) = (err.to_string(), format!("{err:?}"));
    let InboxError::Connect { source, .. } = &err else {
        panic!("expected InboxError::Connect, got {debug}");
    };
    assert!(!display.contains("wrong-pw"), "{display}");
    assert!(!debug.contains("wrong-pw"), "{debug}");
    let cause = redis_cause(&**source).unwrap_or_else(|| panic!("no Redis error in {debug}"));
    assert_eq!(
        cause.kind(),
        redis::ErrorKind::AuthenticationFailed,
        "{cause:?}"
    );
    let inbox = RedisInbox::builder(format!("redis://:right-pw@127.0.0.1:{}", server.port))
        .connect()
        .await
        .unwrap();
    let location = webhook_receiver::store::Store::location(&inbox);
    assert!(
        location.contains(&format!("redis://…@127.0.0.1:{}", server.port))
            && !location.contains("right-pw"),
        "{location}"
    );
    assert!(!format!("{inbox:?}").contains("right-pw"));
}

/// Issue 21, item 10: a server whose `maxmemory-policy` may evict keys (here the stream itself)
/// is logged at `warn`, or, with `require_noeviction`, refused.
#[tokio::test]
async fn a_server_that_may_evict_keys_is_warned_about_or_refused() {
    let evicting = RedisServer::start_with(&["--maxmemory-policy", "allkeys-lru"]);
    let (logs, _guard) = capture_logs();
    RedisInbox::builder(evicting.url())
        .connect()
        .await
        .expect("by default it connects");
    let text = logs.text();
    assert!(
        text.contains("WARN") && text.contains("allkeys-lru") && text.contains("stream"),
        "{text}"
    );
    let err = RedisInbox::builder(evicting.url())
        .require_noeviction(true)
        .connect()
        .await
        .expect_err("require_noeviction refuses it");
    assert!(matches!(err, InboxError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string().contains("maxmemory-policy is allkeys-lru"),
        "{err}"
    );
}

/// The group's consumers: name → pending.
async fn consumers(
    conn: &mut redis::aio::MultiplexedConnection,
    stream: &[u8],
) -> std::collections::BTreeMap<String, u64> {
    let rows: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(stream)
        .arg("webhook-receiver")
        .query_async(conn)
        .await
        .unwrap();
    rows.into_iter()
        .map(|row| {
            (
                redis::from_redis_value(&row["name"]).unwrap(),
                redis::from_redis_value(&row["pending"]).unwrap(),
            )
        })
        .collect()
}

/// Issue 21, item 9: the consumers that earlier replicas left (idle, holding nothing) are
/// deleted at connect and then periodically; one that holds an entry is kept (its entry is
/// taken over instead), and so is this replica's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_consumers_that_hold_nothing_are_deleted() {
    use webhook_receiver::store::{Incoming, Store};

    let server = RedisServer::start();
    let first = inbox(&server, Duration::from_secs(30)).await;
    let stream = first.stream_key().to_vec();
    let mut conn = redis_conn(&server).await;
    for name in ["gone-1", "gone-2", "me"] {
        let _: i64 = redis::cmd("XGROUP")
            .arg("CREATECONSUMER")
            .arg(&stream)
            .arg("webhook-receiver")
            .arg(name)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let (body, headers) = (
        bytes::Bytes::from(delivered("held")),
        http::HeaderMap::new(),
    );
    let key = webhook_receiver::DedupKey::from_parts(&[b"held"]);
    first
        .accept(Incoming::new(key, &body, &headers))
        .await
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("webhook-receiver")
        .arg("holds-one")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    // Let them all be idle for longer than the bound below.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let me = RedisInbox::builder(server.url())
        .prefix("t:")
        .consumer("me")
        .forget_consumers_after(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    let left = consumers(&mut conn, &stream).await;
    assert_eq!(
        left.keys().map(String::as_str).collect::<Vec<_>>(),
        ["holds-one", "me"],
        "{left:?}"
    );
    assert_eq!(left["holds-one"], 1);
    // One left later (a replica stopped since) goes too, while this one runs.
    let _: i64 = redis::cmd("XGROUP")
        .arg("CREATECONSUMER")
        .arg(&stream)
        .arg("webhook-receiver")
        .arg("gone-3")
        .query_async(&mut conn)
        .await
        .unwrap();
    for tries in 0.. {
        if !consumers(&mut conn, &stream).await.contains_key("gone-3") {
            break;
        }
        assert!(tries < 1000, "gone-3 deleted within 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = consumers(&mut conn, &stream).await;
    assert!(
        left.contains_key("holds-one") && left.contains_key("me"),
        "{left:?}"
    );
    drop(me);
}
