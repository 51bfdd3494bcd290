//! Durable inbox: accepts per second with 1, 8 and 64 concurrent callers, and the events each
//! `fsync` carries (group commit).
//!
//! Run with: `cargo bench --features durable --bench inbox_commit`
//!
//! Every accept claims a new key and stores a ~390-byte `messages.sms.delivered` body
//! (`payloads/sms_delivered_390.json` with a unique id) in a redb file under the system temp
//! directory, and resolves once its transaction is committed with `fsync`. `N` callers are `N`
//! Tokio tasks on a 2-thread runtime, each accepting in a closed loop (its next accept as soon
//! as the previous one resolved) until the iteration count is reached; the figure is the wall
//! time per accept over all callers, so criterion's `elem/s` is the inbox's throughput. After each
//! group the bench prints accepts / durable commits over the whole group (warm-up included): the
//! events per `fsync`.
//!
//! Figures depend on the disk's `fsync` latency more than on the CPU; the temp directory must
//! be on a real disk (not tmpfs) for them to mean anything.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use webhook_receiver::DedupKey;
use webhook_receiver::store::DurableInbox;

/// The body template (`__ID__` is replaced by a unique id).
const BODY: &str = include_str!("payloads/sms_delivered_390.json");
/// Concurrent callers measured.
const CALLERS: [u64; 3] = [1, 8, 64];

/// Unique across the run, so that every accept is of a new key.
static NEXT: AtomicU64 = AtomicU64::new(0);
/// Accepts made, to compute events per `fsync`.
static ACCEPTED: AtomicU64 = AtomicU64::new(0);

async fn accept_one(inbox: &DurableInbox) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let id = format!("msg_{n:032}");
    let key = DedupKey::from_parts(&[b"messages.sms.delivered", id.as_bytes()]);
    let body = Bytes::from(BODY.replacen("__ID__", &id, 1));
    let new = inbox.accept_for_bench(key, body).await.expect("accept");
    assert!(new, "every key is new");
    ACCEPTED.fetch_add(1, Ordering::Relaxed);
}

/// `iters` accepts shared by `callers` tasks; the wall time of all of them.
async fn run(inbox: &DurableInbox, callers: u64, iters: u64) -> Duration {
    let left = Arc::new(AtomicU64::new(iters));
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let inbox = inbox.clone();
            let left = Arc::clone(&left);
            tokio::spawn(async move {
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    accept_one(&inbox).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("caller task");
    }
    start.elapsed()
}

fn bench_accept(c: &mut Criterion, inbox: &DurableInbox, rt: &tokio::runtime::Runtime) {
    let mut g = c.benchmark_group("inbox_commit");
    g.measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(10)
        .throughput(Throughput::Elements(1));
    for callers in CALLERS {
        let (accepted, commits) = (ACCEPTED.load(Ordering::Relaxed), inbox.commits());
        g.bench_with_input(
            BenchmarkId::new("accept", callers),
            &callers,
            |b, &callers| {
                b.to_async(rt)
                    .iter_custom(|iters| async move { run(inbox, callers, iters).await });
            },
        );
        let accepted = ACCEPTED.load(Ordering::Relaxed) - accepted;
        let commits = inbox.commits() - commits;
        println!(
            "inbox_commit/accept/{callers}: {:.1} events per fsync ({accepted} accepts, {commits} fsyncs)",
            accepted as f64 / commits.max(1) as f64
        );
    }
    g.finish();
}

// `criterion_group!`/`criterion_main!` spelled out, so the entry point has docs.
fn main() {
    let dir = std::env::temp_dir().join(format!("webhook-inbox-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let inbox = DurableInbox::open(&dir).expect("open the inbox");
    let mut c = Criterion::default().configure_from_args();
    bench_accept(&mut c, &inbox, &rt);
    c.final_summary();
    drop(inbox);
    let _ = std::fs::remove_dir_all(&dir);
}
