//! The Postgres inbox, measured against a real PostgreSQL (given by `DATABASE_URL`; without it,
//! a hint and exit 0). `benches/postgres_inbox.sh` starts a server with the default durability
//! (`fsync` and `synchronous_commit` on) and runs this with the `perf` profile.
//!
//! 1. **Accept (group commit).** `Store::accept` of new events (a ~390-byte
//!    `messages.sms.delivered` body) by 1, 8 and 64 concurrent callers, each in a closed loop,
//!    for `SECS` seconds, `REPS` times: accepts/s, the accept's p50/p99, and events per commit
//!    (accepts / the database's `xact_commit` delta; nothing else commits meanwhile).
//! 2. **Handler cost.** `EVENTS` events accepted first (no consumer running), then a receiver
//!    started on the inbox runs them, 64 at a time: the time until the backlog is empty, per
//!    event, for a handler that does nothing, a plain handler that inserts one row through the
//!    pool (autocommit: at least once), and a transactional one that inserts the same row in
//!    the inbox's transaction (`PostgresInbox::transactional`: exactly once). The three are
//!    measured in turn, `REPS` times, in a rotating order.
//!
//! ```sh
//! benches/postgres_inbox.sh
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench cargo bench --profile perf --features postgres,chirp --bench postgres_inbox
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sqlx::PgPool;
use webhook_receiver::DedupKey;
use webhook_receiver::chirp::{self, MessageStatus};
use webhook_receiver::dispatch::EventContext;
use webhook_receiver::store::{Incoming, PostgresInbox, Store};

const BODY: &str = include_str!("payloads/sms_delivered_390.json");

static NEXT: AtomicU64 = AtomicU64::new(0);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!(
            "postgres_inbox: set DATABASE_URL, or run benches/postgres_inbox.sh (it starts a PostgreSQL)"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(&url));
}

fn event() -> (DedupKey, Bytes) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let id = format!("msg_{}_{n:020}", std::process::id());
    (
        DedupKey::from_parts(&[b"messages.sms.delivered", id.as_bytes()]),
        Bytes::from(BODY.replacen("__ID__", &id, 1)),
    )
}

fn headers() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers
}

async fn commits(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await
    .expect("pg_stat_database")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn spread(v: &[f64]) -> String {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.iter()
        .map(|x| format!("{x:.0}"))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run(url: &str) {
    let reps = env("REPS", 5) as usize;
    let secs = env("SECS", 3);
    let events = env("EVENTS", 5000);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(32)
        .connect(url)
        .await
        .expect("connect to DATABASE_URL");
    let settings: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'server_version')",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    println!("postgres_inbox: {settings:?}; {reps} repetitions");
    let inbox = PostgresInbox::builder(pool.clone())
        .schema("bench_inbox")
        .connect()
        .await
        .expect("create the inbox");

    let parts = std::env::var("PARTS").unwrap_or_else(|_| "accept,handlers".to_owned());
    if parts.contains("accept") {
        accepts(&pool, &inbox, reps, secs).await;
    }
    if parts.contains("handlers") {
        handlers(&pool, &inbox, reps, events).await;
    }
}

async fn accepts(pool: &PgPool, inbox: &PostgresInbox, reps: usize, secs: u64) {
    let pool = pool.clone();
    println!("\n## accept (group commit), {secs} s per run");
    println!(
        "| callers | accepts/s median | runs (sorted) | p50 ms | p99 ms | events per commit |"
    );
    println!("|---|---|---|---|---|---|");
    for callers in [1usize, 8, 64] {
        let mut rates = Vec::new();
        let mut lat_all: Vec<Duration> = Vec::new();
        let mut per_commit = Vec::new();
        for _ in 0..reps {
            sqlx::query("TRUNCATE bench_inbox.events, bench_inbox.routes, bench_inbox.keys")
                .execute(&pool)
                .await
                .unwrap();
            let before = commits(&pool).await;
            let deadline = Instant::now() + Duration::from_secs(secs);
            let start = Instant::now();
            let tasks: Vec<_> = (0..callers)
                .map(|_| {
                    let inbox = inbox.clone();
                    tokio::spawn(async move {
                        let headers = headers();
                        let mut lat = Vec::new();
                        while Instant::now() < deadline {
                            let (key, body) = event();
                            let t = Instant::now();
                            let accepted = inbox
                                .accept(Incoming::new(key, &body, &headers))
                                .await
                                .expect("accept");
                            lat.push(t.elapsed());
                            assert_eq!(accepted.claim(), webhook_receiver::store::Claim::New);
                        }
                        lat
                    })
                })
                .collect();
            let mut n = 0;
            for t in tasks {
                let lat = t.await.unwrap();
                n += lat.len();
                lat_all.extend(lat);
            }
            let elapsed = start.elapsed();
            // Its own query commits too: one.
            let delta = commits(&pool).await - before - 1;
            rates.push(n as f64 / elapsed.as_secs_f64());
            per_commit.push(n as f64 / delta.max(1) as f64);
        }
        lat_all.sort();
        let pct = |p: f64| lat_all[((lat_all.len() as f64 * p) as usize).min(lat_all.len() - 1)];
        println!(
            "| {callers} | {:.0} | {} | {:.2} | {:.2} | {:.1} |",
            median(&mut rates.clone()),
            spread(&rates),
            pct(0.5).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            median(&mut per_commit)
        );
    }
}

async fn handlers(pool: &PgPool, inbox: &PostgresInbox, reps: usize, events: u64) {
    let (pool, inbox) = (pool.clone(), inbox.clone());
    println!("\n## handler cost, {events} events run from the backlog, 64 at a time");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_handled (key text NOT NULL, handler text NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let kinds = ["noop", "plain insert", "transactional insert"];
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for rep in 0..reps {
        for turn in 0..kinds.len() {
            let kind = (rep + turn) % kinds.len();
            sqlx::query("TRUNCATE bench_inbox.events, bench_inbox.routes, bench_inbox.keys, bench_inbox.effects, bench_handled")
                .execute(&pool)
                .await
                .unwrap();
            let headers = headers();
            futures_util::future::join_all((0..events).map(|_| {
                let (key, body) = event();
                let inbox = &inbox;
                let headers = &headers;
                async move {
                    inbox
                        .accept(Incoming::new(key, &body, headers))
                        .await
                        .expect("accept")
                }
            }))
            .await;
            assert_eq!(inbox.backlog().await.unwrap(), events);
            let start = Instant::now();
            let builder = chirp::webhooks(["bench-secret-0123456789"])
                .unwrap()
                .concurrency_limit(64)
                .state(pool.clone());
            let webhooks = match kind {
                0 => builder
                    .on(chirp::SMS_DELIVERED, |_s: MessageStatus, _ctx| async {})
                    .store(inbox.clone())
                    .spawn(),
                1 => builder
                    .on(
                        chirp::SMS_DELIVERED,
                        |_s: MessageStatus, ctx: EventContext<PgPool>| async move {
                            sqlx::query("INSERT INTO bench_handled (key, handler) VALUES ($1, 'plain')")
                                .bind(ctx.key().to_string())
                                .execute(ctx.state())
                                .await
                                .map(drop)
                        },
                    )
                    .store(inbox.clone())
                    .spawn(),
                _ => builder
                    .on(
                        chirp::SMS_DELIVERED,
                        inbox.transactional("bench", |_s: MessageStatus, ctx: EventContext<PgPool>, conn| {
                            Box::pin(async move {
                                sqlx::query("INSERT INTO bench_handled (key, handler) VALUES ($1, 'tx')")
                                    .bind(ctx.key().to_string())
                                    .execute(conn)
                                    .await
                                    .map(drop)
                            })
                        }),
                    )
                    .store(inbox.clone())
                    .spawn(),
            };
            while inbox.backlog().await.unwrap() > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let elapsed = start.elapsed();
            webhooks.drain(Duration::from_secs(30)).await.unwrap();
            let handled: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_handled")
                .fetch_one(&pool)
                .await
                .unwrap();
            if kind > 0 {
                assert_eq!(handled as u64, events, "{}: one row per event", kinds[kind]);
            }
            results[kind].push(elapsed.as_secs_f64() * 1e6 / events as f64);
        }
    }
    println!("| handler | µs per event (median) | runs, sorted (µs) | events/s |");
    println!("|---|---|---|---|");
    for (kind, name) in kinds.iter().enumerate() {
        let m = median(&mut results[kind].clone());
        println!(
            "| {name} | {m:.0} | {} | {:.0} |",
            spread(&results[kind]),
            1e6 / m
        );
    }
}
