//! Memory per remembered id in the default dedup store ([`MokaStore`]), and the peak memory of a
//! full store.
//!
//! Run with: `cargo bench --bench dedup_memory`
//!
//! For each count N (10k, 100k and 1M by default; `DEDUP_MEMORY_IDS=1000000,2000000` to choose),
//! a fresh child process fills a store built like the receiver's default one (24 h TTL, 1M
//! capacity, or N if larger) with N distinct keys and reports the growth of its resident set
//! (`VmRSS` in `/proc/self/status`) divided by N. The same is done with a plain
//! `HashSet<DedupKey>` as the floor (16-byte keys and nothing else).
//!
//! `steady B/id` is the long-running case: a store of capacity N is filled, then claims 2N more
//! new keys, each forcing the oldest out (as TTL expiry does on a server that has run for a
//! day); the figure is the RSS growth divided by the N ids it still remembers, and `peak MiB` is
//! the process's peak resident set (`VmHWM`) over that run, less its RSS before the store:
//! what a store of that capacity costs at most. moka applies evictions in batches, so the
//! peak is above the steady figure. `fill ns/id` is the time per claim while the store fills
//! from empty, `steady ns/id` per claim over the steady run (3N claims: N filling, then 2N that each
//! evict the oldest key).
//!
//! A fresh process per measurement keeps the allocator's earlier history out of the figure.
//! RSS deltas include allocator overhead and fragmentation: that is what a deployment pays.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashSet;
use std::process::Command;
use std::time::Instant;

use webhook_receiver::DedupKey;
use webhook_receiver::store::{Claim, DEFAULT_CAPACITY, MokaStore};

/// Set in the child process: which store and how many ids.
const CHILD_ENV: &str = "DEDUP_MEMORY_CHILD";

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let counts: Vec<u64> = std::env::var("DEDUP_MEMORY_IDS")
        .ok()
        .map(|v| {
            v.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .expect("DEDUP_MEMORY_IDS: comma-separated counts")
                })
                .collect()
        })
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let exe = std::env::current_exe().expect("current executable");

    println!("dedup memory per remembered id (RSS delta / ids, fresh process each)");
    println!(
        "{:>10}  {:>15}  {:>12}  {:>9}  {:>23}  {:>10}  {:>12}",
        "ids",
        "MokaStore B/id",
        "steady B/id",
        "peak MiB",
        "HashSet<DedupKey> B/id",
        "fill ns/id",
        "steady ns/id"
    );
    for n in counts {
        let run = |store: &str| -> (f64, f64, f64) {
            let out = Command::new(&exe)
                .env(CHILD_ENV, format!("{store}:{n}"))
                .output()
                .expect("spawn child");
            assert!(
                out.status.success(),
                "child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().unwrap());
            (
                fields.next().unwrap(),
                fields.next().unwrap(),
                fields.next().unwrap(),
            )
        };
        let (store_bytes, store_ns, _) = run("moka");
        let (steady_bytes, steady_ns, steady_peak) = run("steady");
        // The child divides by the ids remembered; the steady run made 3N claims.
        let steady_ns = steady_ns / 3.0;
        let (set_bytes, _, _) = run("hashset");
        let peak_mib = steady_peak / (1024.0 * 1024.0);
        println!(
            "{n:>10}  {store_bytes:>15.1}  {steady_bytes:>12.1}  {peak_mib:>9.1}  {set_bytes:>23.1}  {store_ns:>10.0}  {steady_ns:>12.0}"
        );
    }
}

/// Fills one store and prints `bytes_per_id ns_per_id`.
fn child(spec: &str) {
    let (store, n) = spec.split_once(':').expect("store:count");
    let n: u64 = n.parse().expect("count");
    let key = |i: u64| DedupKey::from_parts(&[b"messages.sms.delivered", &i.to_le_bytes()]);

    let before = rss_bytes();
    let start = Instant::now();
    let after = match store {
        "moka" => {
            let store = MokaStore::builder()
                .capacity(n.max(DEFAULT_CAPACITY))
                .build();
            for i in 0..n {
                assert_eq!(store.claim_now(key(i)), Claim::New);
            }
            assert_eq!(store.len(), n);
            assert_eq!(store.evicted_before_ttl(), 0);
            let after = rss_bytes();
            drop(std::hint::black_box(store));
            after
        }
        "steady" => {
            let store = MokaStore::builder().capacity(n).build();
            for i in 0..3 * n {
                assert_eq!(store.claim_now(key(i)), Claim::New);
            }
            assert_eq!(store.len(), n);
            // Counted from moka's entry count, which it updates in batches: approximate.
            assert!(store.evicted_before_ttl() >= 2 * n * 99 / 100);
            let after = rss_bytes();
            drop(std::hint::black_box(store));
            after
        }
        "hashset" => {
            let mut set = HashSet::new();
            for i in 0..n {
                assert!(set.insert(key(i)));
            }
            let after = rss_bytes();
            drop(std::hint::black_box(set));
            after
        }
        other => panic!("unknown store {other}"),
    };
    let elapsed = start.elapsed();
    println!(
        "{} {} {}",
        (after.saturating_sub(before)) as f64 / n as f64,
        elapsed.as_nanos() as f64 / n as f64,
        status_kib("VmHWM:").saturating_sub(before) as f64
    );
}

/// The resident set size of this process, in bytes.
fn rss_bytes() -> u64 {
    status_kib("VmRSS:")
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
        * 1024
}
