//! Constant time, measured: a dudect test (Reparaz, Balasch, Verbauwhede, "Dude, is my code
//! constant time?", 2017) of the shared-secret check, with `dudect-bencher`.
//!
//! Not a criterion bench and not a CI gate: `benches/dudect.sh` runs each bench below in
//! continuous mode for a bounded time and prints the last `max t` of each. Both classes are
//! candidates of the secret's length that differ from it in one byte: **Left** in the first byte,
//! **Right** in the last. An early-exit comparison takes longer on Right (it reads the whole
//! common prefix); a constant-time one cannot tell them apart. Inputs are made before the timed
//! region, the class of each sample is drawn at random (interleaved), and `dudect-bencher` keeps
//! a Welch t-test on the raw timings plus 100 tests cropped at percentiles; `max t` is the
//! largest |t| among them. |t| > 4.5 is the usual "leaks" threshold.
//!
//! The benches:
//!
//! - `ctrl_memcmp`: `a == b` on `&[u8]` (the standard library's memcmp), a positive control;
//! - `ctrl_loop`: a byte loop that returns at the first difference, a positive control;
//! - `ctrl_loop_sha`: SHA-256 of the candidate (the work the real check does) then the early-exit
//!   loop on the raw bytes: shows that a leak of that size stays visible under the real check's
//!   own cost and noise;
//! - `secret_check`: `SharedSecret::check(candidate)`, the check under test;
//! - `secret_verify`: `VerifyRequest::verify` on an `http::Request<()>` carrying the candidate in
//!   `X-Webhook-Secret`, the path a request takes (its `Ready` future polled with
//!   `now_or_never`).
//!
//! Usage: `dudect [--continuous NAME | --filter NAME] [--out FILE]` (the argument cargo adds,
//! `--bench`, is ignored). Without `--continuous`, every bench runs one batch and stops.

use std::cell::Cell;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use dudect_bencher::ctbench::{BenchMetadata, BenchName, BenchOpts, run_benches_console};
use dudect_bencher::rand::{Rng, RngExt};
use dudect_bencher::{BenchRng, Class, CtRunner};
use futures_util::FutureExt;
use sha2::{Digest, Sha256};
use webhook_receiver::verify::{DEFAULT_SECRET_HEADER, SharedSecret, VerifyRequest};

/// Secret length: a 64-character token, as webhook providers typically issue (hex of 32 bytes).
const SECRET_LEN: usize = 64;
/// Samples per batch (continuous mode runs batches until interrupted).
const BATCH: usize = 100_000;
/// Fewer for `secret_verify`: each sample holds a whole `Request`.
const BATCH_REQUESTS: usize = 50_000;

/// The secret: 64 random printable (hex) bytes.
fn secret(rng: &mut BenchRng) -> Vec<u8> {
    (0..SECRET_LEN)
        .map(|_| b"0123456789abcdef"[(rng.next_u32() & 15) as usize])
        .collect()
}

/// A random class and a candidate of that class: the secret with its first (Left) or last
/// (Right) byte changed to another hex digit, so it is still a valid header value.
fn candidate(secret: &[u8], rng: &mut BenchRng) -> (Class, Vec<u8>) {
    let mut c = secret.to_vec();
    let (class, i) = if rng.random::<bool>() {
        (Class::Left, 0)
    } else {
        (Class::Right, SECRET_LEN - 1)
    };
    c[i] = if c[i] == b'a' { b'b' } else { b'a' };
    (class, c)
}

fn inputs(n: usize, rng: &mut BenchRng) -> (Vec<u8>, Vec<(Class, Vec<u8>)>) {
    let s = secret(rng);
    let v = (0..n).map(|_| candidate(&s, rng)).collect();
    (s, v)
}

/// The leaky comparison of the controls: returns at the first differing byte.
#[inline(never)]
fn early_exit_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return false;
        }
    }
    true
}

fn ctrl_memcmp(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (s, v) = inputs(BATCH, rng);
    for (class, c) in v {
        runner.run_one(class, || black_box(s.as_slice()) == black_box(c.as_slice()));
    }
}

fn ctrl_loop(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (s, v) = inputs(BATCH, rng);
    for (class, c) in v {
        runner.run_one(class, || early_exit_eq(black_box(&s), black_box(&c)));
    }
}

fn ctrl_loop_sha(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (s, v) = inputs(BATCH, rng);
    for (class, c) in v {
        runner.run_one(class, || {
            black_box(Sha256::digest(black_box(&c)));
            early_exit_eq(black_box(&s), black_box(&c))
        });
    }
}

fn secret_check(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (s, v) = inputs(BATCH, rng);
    let scheme = SharedSecret::new([&s]).expect("valid secret");
    for (class, c) in v {
        runner.run_one(class, || scheme.check(black_box(&c)));
    }
}

fn secret_verify(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (s, v) = inputs(BATCH_REQUESTS, rng);
    let scheme = Arc::new(SharedSecret::new([&s]).expect("valid secret"));
    let requests: Vec<(Class, Cell<Option<http::Request<()>>>)> = v
        .into_iter()
        .map(|(class, c)| {
            let request = http::Request::post("/webhooks")
                .header(DEFAULT_SECRET_HEADER, c)
                .body(())
                .expect("valid request");
            (class, Cell::new(Some(request)))
        })
        .collect();
    for (class, request) in &requests {
        // The `take` costs the same in both classes; the rejected request is dropped inside
        // `verify`, in the timed region, alike for both.
        runner.run_one(*class, || {
            let request = request.take().expect("each request is used once");
            let verdict = Arc::clone(&scheme).verify(request, 1 << 20).now_or_never();
            verdict.is_some_and(|r| r.is_ok())
        });
    }
}

fn main() {
    let benches: Vec<BenchMetadata> = [
        (
            "ctrl_memcmp",
            ctrl_memcmp as fn(&mut CtRunner, &mut BenchRng),
        ),
        ("ctrl_loop", ctrl_loop),
        ("ctrl_loop_sha", ctrl_loop_sha),
        ("secret_check", secret_check),
        ("secret_verify", secret_verify),
    ]
    .into_iter()
    .map(|(name, benchfn)| BenchMetadata {
        name: BenchName(name),
        seed: None,
        benchfn,
    })
    .collect();

    let mut opts = BenchOpts::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--continuous" => {
                opts.continuous = true;
                opts.filter = args.next();
            }
            "--filter" => opts.filter = args.next(),
            "--out" => opts.file_out = args.next().map(PathBuf::from),
            // Added by `cargo bench`.
            "--bench" => {}
            other => opts.filter = Some(other.to_owned()),
        }
    }
    run_benches_console(opts, benches).expect("write to stdout");
}
