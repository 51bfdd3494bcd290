//! Claim latency of `RedisStore` over loopback: what the request waits for (the `SET NX PX GET`
//! round trip; the confirmation runs after it, off the request path), one claim at a time and
//! 64 at once, for new keys and for duplicates; a bare `PING` on its own connection for scale.
//!
//! Not a criterion bench: it needs a running Redis, given by `REDIS_URL` (`scripts/redis.sh`
//! starts one); without it, it prints a hint and exits.
//!
//! ```sh
//! scripts/redis.sh 6390 &
//! REDIS_URL=redis://127.0.0.1:6390 cargo bench --features redis --bench redis_claim
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::{Duration, Instant};

use webhook_receiver::DedupKey;
use webhook_receiver::store::{Claim, RedisStore};

const SEQUENTIAL: usize = 20_000;
const CONCURRENT: usize = 64;
const PER_TASK: usize = 1_000;

fn main() {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!(
            "redis_claim: set REDIS_URL (e.g. scripts/redis.sh 6390 & REDIS_URL=redis://127.0.0.1:6390 cargo bench --features redis --bench redis_claim)"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(&url));
}

async fn run(url: &str) {
    let prefix = format!("bench:{}:", std::process::id());
    let store = RedisStore::builder(url)
        .prefix(prefix.as_str())
        .ttl(Duration::from_secs(600))
        .connect()
        .await
        .expect("connect to REDIS_URL");
    let key = |i: usize| DedupKey::from_parts(&[b"bench", &i.to_le_bytes()]);

    // PING round trips, for scale.
    let client = redis::Client::open(url).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let mut pings = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let t = Instant::now();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .expect("PING");
        pings.push(t.elapsed());
    }
    report("PING (bare round trip), 1 in flight", &mut pings, None);

    let mut new = Vec::with_capacity(SEQUENTIAL);
    for i in 0..SEQUENTIAL {
        let t = Instant::now();
        let claim = store.claim(key(i)).await.expect("claim");
        new.push(t.elapsed());
        assert_eq!(claim, Claim::New);
    }
    report("claim, new key, 1 in flight", &mut new, None);

    // Let the last confirmations land, then claim the same keys again: duplicates.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut dup = Vec::with_capacity(SEQUENTIAL);
    for i in 0..SEQUENTIAL {
        let t = Instant::now();
        let claim = store.claim(key(i)).await.expect("claim");
        dup.push(t.elapsed());
        assert_eq!(claim, Claim::Duplicate);
    }
    report("claim, duplicate, 1 in flight", &mut dup, None);

    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut took = Vec::with_capacity(PER_TASK);
                for n in 0..PER_TASK {
                    let i = SEQUENTIAL + task * PER_TASK + n;
                    let t = Instant::now();
                    let claim = store.claim(key(i)).await.expect("claim");
                    took.push(t.elapsed());
                    assert_eq!(claim, Claim::New);
                }
                took
            })
        })
        .collect();
    let mut all = Vec::with_capacity(CONCURRENT * PER_TASK);
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    let wall = started.elapsed();
    report(
        &format!("claim, new key, {CONCURRENT} in flight"),
        &mut all,
        Some(wall),
    );
}

fn report(what: &str, took: &mut [Duration], wall: Option<Duration>) {
    took.sort();
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let rate = wall.map_or(String::new(), |w| {
        format!(", {:.0} claims/s", took.len() as f64 / w.as_secs_f64())
    });
    println!(
        "{what}: n={} p50 {:.1} us, p99 {:.1} us, max {:.1} us{rate}",
        took.len(),
        us(at(0.50)),
        us(at(0.99)),
        us(took[took.len() - 1]),
    );
}
