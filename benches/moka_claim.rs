//! Not a criterion bench: moka alone, as `MokaStore` uses it, with the claim and the settings
//! this round compared (`benches/README.md`, "The fast path round"). One process per run:
//!
//! ```sh
//! cargo bench --bench moka_claim -- <settings> <claim> [ids]
//! #   settings: current (capacity + TTL + LRU, as MokaStore) | ttl_only | capacity_only | tinylfu
//! #   claim:    entry  (moka's entry().or_insert_with())
//! #             stripe (contains_key, then under a lock stripe contains_key + insert: MokaStore's)
//! # e.g. count instructions and heap blocks of 200,000 + 200,000 claims of each:
//! valgrind --tool=callgrind target/release/deps/moka_claim-* current entry 200000
//! valgrind --tool=dhat target/release/deps/moka_claim-* current stripe 200000
//! ```
//!
//! Prints the resident memory per key after `ids` new keys (and after as many more, which a
//! full store evicts for), and the time per claim of each half.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use moka::policy::EvictionPolicy;
use moka::sync::Cache;

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux)");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// 16 bytes, as a `DedupKey`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key([u8; 16]);

fn key(i: u64) -> Key {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    bytes[8..].copy_from_slice(&i.to_le_bytes());
    Key(bytes)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(settings), Some(claim)) = (args.first(), args.get(1)) else {
        eprintln!("moka_claim: <current|ttl_only|capacity_only|tinylfu> <entry|stripe> [ids]");
        return;
    };
    let ids: u64 = args.get(2).map_or(1_000_000, |n| n.parse().expect("ids"));
    let ttl = Duration::from_secs(24 * 3600);
    let before = rss();
    let builder = Cache::builder().initial_capacity(65_536);
    let cache: Cache<Key, ()> = match settings.as_str() {
        "current" => builder
            .max_capacity(1_000_000)
            .time_to_live(ttl)
            .eviction_policy(EvictionPolicy::lru())
            .build(),
        "ttl_only" => builder.time_to_live(ttl).build(),
        "capacity_only" => builder
            .max_capacity(1_000_000)
            .eviction_policy(EvictionPolicy::lru())
            .build(),
        "tinylfu" => builder.max_capacity(1_000_000).time_to_live(ttl).build(),
        other => panic!("unknown settings {other}"),
    };
    let stripes: Vec<Mutex<()>> = (0..64).map(|_| Mutex::new(())).collect();
    let new = |k: Key| -> bool {
        match claim.as_str() {
            "entry" => cache.entry(k).or_insert_with(|| ()).is_fresh(),
            "stripe" => {
                if cache.contains_key(&k) {
                    return false;
                }
                let _stripe = stripes[usize::from(k.0[0]) % 64].lock().unwrap();
                if cache.contains_key(&k) {
                    return false;
                }
                cache.insert(k, ());
                true
            }
            other => panic!("unknown claim {other}"),
        }
    };
    let start = Instant::now();
    for i in 0..ids {
        assert!(new(key(i)));
    }
    cache.run_pending_tasks();
    let fill = start.elapsed();
    let filled = rss();
    let start = Instant::now();
    for i in ids..2 * ids {
        assert!(new(key(i)));
    }
    cache.run_pending_tasks();
    let more = start.elapsed();
    let after = rss();
    #[allow(clippy::cast_precision_loss)]
    let per = |bytes: u64, n: u64| bytes as f64 / n.max(1) as f64;
    println!(
        "{settings} {claim}: {ids} keys {:.1} B/key; after {ids} more ({} held) {:.1} B/key; {:.0} ns/claim filling, {:.0} ns/claim after",
        per(filled - before, ids),
        cache.entry_count(),
        per(after - before, cache.entry_count()),
        per(u64::try_from(fill.as_nanos()).unwrap_or(u64::MAX), ids),
        per(u64::try_from(more.as_nanos()).unwrap_or(u64::MAX), ids),
    );
}
