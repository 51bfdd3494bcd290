//! A/B of the dispatcher's three candidates for a library primitive, each against the
//! primitive, interleaved in one run: the timer queue of waiting retries (`BTreeMap` under the
//! state lock vs `tokio_util::time::DelayQueue`), the queue-slot reservation (a counter under
//! the state lock vs `tokio::sync::mpsc::Sender::try_reserve_owned`) and the byte budget (an
//! `AtomicUsize` with `fetch_update` vs a `Semaphore` with `try_acquire_many_owned`).
//!
//! Not a criterion bench: criterion runs one function after the other, so a machine whose load
//! changes (two cores shared with other builds) biases the comparison. Here every round runs
//! A, B and A again (the noise floor: the same code against itself), in a rotating order, and
//! the report gives each one's median per operation with its interquartile range, and the
//! median of the per-round ratios B/A and A'/A.
//!
//! Run with `cargo bench --bench dispatch_primitives` (`ROUNDS=..` to change the 61 rounds).
//! The measured code is a copy of the dispatcher's hand-written part, without the rest of the
//! dispatcher (runners, handlers), so the figures are the primitive's own cost per operation.

#![allow(clippy::print_stdout, missing_docs)]

use std::collections::{BTreeMap, VecDeque};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant};

use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::time::DelayQueue;

/// Operations per measurement.
const OPS: usize = 10_000;

/// What a queued job weighs, about the size of the dispatcher's `Job`.
#[derive(Debug)]
struct Payload(#[allow(dead_code)] [u64; 12]);

fn payload(i: usize) -> Payload {
    Payload([i as u64; 12])
}

// ===== timer queue =====

/// The hand-written timer queue: an ordered map by (due, sequence) under a mutex, and a
/// `Notify` for the timer task when a new entry is the earliest.
struct MapTimer {
    state: Mutex<(BTreeMap<(Instant, u64), Payload>, u64)>,
    wake: Notify,
}

impl MapTimer {
    fn insert(&self, job: Payload, wait: Duration) {
        let due = Instant::now() + wait;
        let mut state = self.state.lock().unwrap();
        let seq = state.1;
        state.1 += 1;
        let earliest = state.0.first_key_value().is_none_or(|(k, _)| due < k.0);
        state.0.insert((due, seq), job);
        drop(state);
        if earliest {
            self.wake.notify_one();
        }
    }

    fn take_due(&self) -> usize {
        let mut state = self.state.lock().unwrap();
        let now = Instant::now();
        let mut n = 0;
        while let Some(entry) = state.0.first_entry() {
            if entry.key().0 > now {
                break;
            }
            black_box(entry.remove());
            n += 1;
        }
        n
    }
}

/// The primitive: a `DelayQueue` under the same mutex (the dispatcher counts and abandons the
/// waiting retries under its state lock), its expired entries polled by the timer task.
struct QueueTimer {
    state: Mutex<DelayQueue<Payload>>,
}

impl QueueTimer {
    fn insert(&self, job: Payload, wait: Duration) {
        self.state.lock().unwrap().insert(job, wait);
    }

    /// Takes every due entry, one per poll (as a timer task would, under the lock each time);
    /// `poll_expired` is `Ready(None)` once the queue is empty.
    async fn take_due(&self) -> usize {
        let mut n = 0;
        while let Some(expired) =
            std::future::poll_fn(|cx| self.state.lock().unwrap().poll_expired(cx)).await
        {
            black_box(expired.into_inner());
            n += 1;
        }
        n
    }
}

/// Waits of 1 ms to 1 s, spread as retries' jittered backoffs are.
fn wait(i: usize) -> Duration {
    Duration::from_micros(1_000 + (i as u64 * 7_919) % 999_000)
}

async fn timer_map() -> Duration {
    let timer = MapTimer {
        state: Mutex::new((BTreeMap::new(), 0)),
        wake: Notify::new(),
    };
    let start = StdInstant::now();
    for i in 0..OPS {
        timer.insert(payload(i), wait(i));
    }
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(timer.take_due(), OPS);
    start.elapsed()
}

async fn timer_delay_queue() -> Duration {
    let timer = QueueTimer {
        state: Mutex::new(DelayQueue::new()),
    };
    let start = StdInstant::now();
    for i in 0..OPS {
        timer.insert(payload(i), wait(i));
    }
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(timer.take_due().await, OPS);
    start.elapsed()
}

// ===== reservation =====

/// The hand-written reservation: a counter under the state lock, taken back when the slot is
/// sent onto the queue, then a runner pops the job.
struct Counted {
    state: Mutex<(usize, VecDeque<Payload>)>,
    capacity: usize,
}

fn reservation_counter() -> Duration {
    let q = Counted {
        state: Mutex::new((0, VecDeque::new())),
        capacity: 1024,
    };
    let start = StdInstant::now();
    for i in 0..OPS {
        {
            let mut s = q.state.lock().unwrap();
            assert!(s.0 + s.1.len() < q.capacity);
            s.0 += 1;
        }
        {
            let mut s = q.state.lock().unwrap();
            s.0 -= 1;
            s.1.push_back(payload(i));
        }
        black_box(q.state.lock().unwrap().1.pop_front());
    }
    start.elapsed()
}

fn reservation_channel(tx: &mpsc::Sender<Payload>, rx: &mut mpsc::Receiver<Payload>) -> Duration {
    let start = StdInstant::now();
    for i in 0..OPS {
        let permit = tx.clone().try_reserve_owned().expect("room");
        permit.send(payload(i));
        black_box(rx.try_recv().expect("queued"));
    }
    start.elapsed()
}

// ===== byte budget =====

struct AtomicBudget {
    limit: usize,
    held: AtomicUsize,
}

impl AtomicBudget {
    fn try_reserve(&self, bytes: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                let fits = held.checked_add(bytes).is_some_and(|t| t <= self.limit);
                (fits || held == 0).then(|| held.saturating_add(bytes))
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::AcqRel);
    }
}

fn budget_atomic(budget: &Arc<AtomicBudget>) -> Duration {
    let start = StdInstant::now();
    for i in 0..OPS {
        let bytes = 300 + i % 2000;
        assert!(budget.try_reserve(bytes));
        // Held by a job, then given back when its `QueueBytes` drops (behind an `Arc`).
        let held = Arc::new((Arc::clone(budget), bytes));
        black_box(&held);
        held.0.give_back(held.1);
    }
    start.elapsed()
}

fn budget_semaphore(budget: &Arc<Semaphore>) -> Duration {
    let start = StdInstant::now();
    for i in 0..OPS {
        let bytes = 300 + i % 2000;
        let permit = Arc::clone(budget)
            .try_acquire_many_owned(bytes as u32)
            .expect("room");
        let held = Arc::new(permit);
        black_box(&held);
        drop(held);
    }
    start.elapsed()
}

// ===== report =====

fn ns_per_op(d: Duration) -> f64 {
    d.as_nanos() as f64 / OPS as f64
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn summary(name: &str, samples: &[f64]) {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    println!(
        "  {name:<34} median {:>8.1} ns/op   IQR {:>8.1} – {:<8.1}",
        quantile(&s, 0.5),
        quantile(&s, 0.25),
        quantile(&s, 0.75)
    );
}

fn ratios(name: &str, a: &[f64], b: &[f64]) {
    let mut r: Vec<f64> = a.iter().zip(b).map(|(a, b)| b / a).collect();
    r.sort_by(f64::total_cmp);
    println!(
        "  {name:<34} median ratio {:.3}   IQR {:.3} – {:.3}",
        quantile(&r, 0.5),
        quantile(&r, 0.25),
        quantile(&r, 0.75)
    );
}

/// Runs `a`, `b` and `a` again each round, in a rotating order, after one warm-up round.
fn interleave(
    title: &str,
    rounds: usize,
    labels: (&str, &str),
    mut a: impl FnMut() -> Duration,
    mut b: impl FnMut() -> Duration,
) {
    let (mut xa, mut xb, mut xa2) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=rounds {
        let mut got = [0.0; 3];
        for k in 0..3 {
            let which = (round + k) % 3;
            got[which] = ns_per_op(match which {
                0 | 2 => a(),
                _ => b(),
            });
        }
        if round > 0 {
            xa.push(got[0]);
            xb.push(got[1]);
            xa2.push(got[2]);
        }
    }
    println!("{title} ({rounds} rounds of {OPS} operations)");
    summary(&format!("A  {}", labels.0), &xa);
    summary(&format!("B  {}", labels.1), &xb);
    summary(&format!("A' {} (again)", labels.0), &xa2);
    ratios("B / A", &xa, &xb);
    ratios("A' / A (noise floor)", &xa, &xa2);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list`
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(61);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");

    interleave(
        "timer queue: insert a retry, then take it when due",
        rounds,
        ("BTreeMap + Notify", "DelayQueue"),
        || rt.block_on(timer_map()),
        || rt.block_on(timer_delay_queue()),
    );

    interleave(
        "reservation: reserve a slot, send on it, a runner takes the job",
        rounds,
        ("counter under the state lock", "mpsc try_reserve_owned"),
        reservation_counter,
        {
            let (tx, mut rx) = mpsc::channel(1024);
            move || reservation_channel(&tx, &mut rx)
        },
    );

    let atomic = Arc::new(AtomicBudget {
        limit: 64 << 20,
        held: AtomicUsize::new(0),
    });
    let semaphore = Arc::new(Semaphore::new(64 << 20));
    interleave(
        "byte budget: reserve a body's bytes, give them back",
        rounds,
        ("AtomicUsize fetch_update", "Semaphore try_acquire_many"),
        || budget_atomic(&atomic),
        || budget_semaphore(&semaphore),
    );
}
