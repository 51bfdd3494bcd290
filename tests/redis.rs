//! `RedisStore` against a real `redis-server` (started by the test on a free port): the claim,
//! replicas sharing it, the outage policy, and cancellation.
#![cfg(all(feature = "redis", feature = "chirp"))]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::redis_server::RedisServer;
use support::*;
use tower::ServiceExt;
use webhook_receiver::DedupKey;
use webhook_receiver::chirp::{self, MessageStatus};
use webhook_receiver::dedup::{Claim, DedupStore, RedisStore};

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

/// A Chirp receiver on `store` counting its handler runs.
fn receiver(
    store: RedisStore,
    runs: &Arc<AtomicUsize>,
) -> webhook_receiver::Webhooks<chirp::Chirp, webhook_receiver::verify::SharedSecret, RedisStore> {
    chirp::webhooks([SECRET])
        .unwrap()
        .state(Arc::clone(runs))
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, ctx| async move {
            ctx.state().fetch_add(1, Ordering::SeqCst);
        })
        .dedup_store(store)
        .spawn()
}

#[tokio::test]
async fn a_claim_is_one_set_nx_px_of_the_prefixed_16_byte_key() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .prefix("t1:")
        .ttl(Duration::from_millis(400))
        .connect()
        .await
        .unwrap();
    let key = DedupKey::from_parts(&[b"evt_1"]);
    assert_eq!(store.claim(key).await.unwrap(), Claim::New);
    assert_eq!(store.claim(key).await.unwrap(), Claim::Duplicate);
    let mut conn = raw(&server).await;
    let redis_key = store.redis_key(key);
    assert_eq!(redis_key.len(), 3 + 16);
    assert_eq!(
        get(&mut conn, &redis_key).await.map(|v| v.len()),
        Some(8),
        "the claim's token"
    );
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&redis_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(pttl > 0 && pttl <= 400, "{pttl}");
    // Another prefix is another receiver: no collision.
    let other = RedisStore::builder(server.url())
        .prefix("t2:")
        .connect()
        .await
        .unwrap();
    assert_eq!(other.claim(key).await.unwrap(), Claim::New);
    // After the TTL the key is claimable again.
    tokio::time::sleep(Duration::from_millis(600)).await;
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
            "round {round}"
        );
    }
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
        let res = replica
            .clone()
            .oneshot(chirp_request(delivered("shared-1")))
            .await
            .unwrap();
        let body = json_body(res).await;
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
    for _ in 0..50 {
        eprintln!("DEBUG {:?} request", std::time::Instant::now());
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
                "new, not a duplicate"
            );
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "accepted once Redis is back");
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the retried event ran once");
}

#[tokio::test]
async fn with_the_memory_fallback_an_outage_is_answered_200() {
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
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unobserved_new_claim_is_released() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url()).connect().await.unwrap();
    let mut conn = raw(&server).await;
    // Dropped right after its first poll (the request went away): the key must not stay.
    let key = DedupKey::from_parts(&[b"dropped"]);
    assert!(
        futures_util::FutureExt::now_or_never(store.claim(key)).is_none(),
        "a claim needs a round trip"
    );
    let redis_key = store.redis_key(key);
    let mut released = false;
    for _ in 0..100 {
        if get(&mut conn, &redis_key).await.is_none() {
            released = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(released, "the unobserved claim was given back");
    // It is claimable as new by the sender's retry.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.claim(key).await.unwrap(), Claim::New);
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
    // The command still reached the server after it woke up; nobody observed its `New`.
    let mut conn = raw(&server).await;
    let redis_key = store.redis_key(key);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&mut conn, &redis_key).await, None);
}
