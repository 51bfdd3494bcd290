//! Memory held by queued events (issue 13, item 9): `EVENTS` (default 20) unknown Chirp events
//! of just under 1 MiB each, `data` an array of zeros (`[0,0,...]`), accepted while every
//! handler is blocked; the process's RSS before and after, and what the same `data` would hold
//! as `serde_json::Value` trees (the representation before `RawJson`). Then the byte budget:
//! events sent until it answers 503, and the RSS at that point.
//!
//! Run with `cargo bench --bench queue_memory` (add `--profile dev` to skip the release build;
//! the sizes do not depend on it). Linux only (it reads `/proc/self/statm`).

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use webhook_receiver::chirp;
use webhook_receiver::dispatch::DEFAULT_QUEUE_BYTES;
use webhook_receiver::stack::DEFAULT_BODY_LIMIT;

const SECRET: &str = "bench-secret";

/// Resident set size in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux)");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// An unknown event of about `len` bytes whose `data.zeros` is `[0,0,...]`.
fn body(i: usize, len: usize) -> String {
    let head = format!(r#"{{"event":"calls.voice.started","data":{{"id":"call_{i}","zeros":[0"#);
    let tail = "]}}";
    let zeros = (len - head.len() - tail.len()) / 2;
    let mut body = String::with_capacity(len);
    body.push_str(&head);
    for _ in 0..zeros {
        body.push_str(",0");
    }
    body.push_str(tail);
    body
}

fn request(body: String) -> http::Request<String> {
    http::Request::post("/")
        .header("x-webhook-secret", SECRET)
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let len = DEFAULT_BODY_LIMIT - 64; // just under the default body limit (1 MiB)

    let gate = Arc::new(Semaphore::new(0));
    let webhooks = chirp::webhooks([SECRET])
        .unwrap()
        .fallback({
            let gate = Arc::clone(&gate);
            move |_, _| {
                let gate = Arc::clone(&gate);
                async move { gate.acquire().await.unwrap().forget() }
            }
        })
        .concurrency_limit(1) // one runs, the rest wait in the queue
        .spawn();
    // Warm up the allocator and the stack with one small event.
    let warm = webhooks
        .clone()
        .oneshot(request(body(0, 200)))
        .await
        .unwrap();
    assert_eq!(warm.status(), StatusCode::OK);
    gate.add_permits(1);
    while webhooks.dispatcher().queued_bytes() > 0 {
        tokio::task::yield_now().await;
    }

    println!(
        "queue_memory: {events} unknown Chirp events of {len} bytes, data [0,0,...], handlers blocked"
    );
    let before = rss();
    for i in 1..=events {
        let res = webhooks
            .clone()
            .oneshot(request(body(i, len)))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "event {i}");
    }
    let after = rss();
    let held = webhooks.dispatcher().queued_bytes();
    println!(
        "  queued (RawJson): RSS {:.1} MB -> {:.1} MB (+{:.1} MB for {:.1} MB of bodies, {:.2}x); budget holds {:.1} MB",
        mb(before),
        mb(after),
        mb(after.saturating_sub(before)),
        mb(events * len),
        after.saturating_sub(before) as f64 / (events * len) as f64,
        mb(held),
    );

    // The same `data` as the trees the queue held before (`ChirpEvent::Unknown { data: Value }`).
    let before_trees = rss();
    let trees: Vec<serde_json::Value> = (1..=events)
        .map(|i| {
            let body: serde_json::Value = serde_json::from_str(&body(i, len)).unwrap();
            body["data"].clone()
        })
        .collect();
    let after_trees = rss();
    println!(
        "  as Value trees:   RSS {:.1} MB -> {:.1} MB (+{:.1} MB, {:.1}x the bodies)",
        mb(before_trees),
        mb(after_trees),
        mb(after_trees.saturating_sub(before_trees)),
        after_trees.saturating_sub(before_trees) as f64 / (events * len) as f64,
    );
    drop(trees);

    // The byte budget: send until it answers 503.
    let mut accepted = events;
    let mut i = events;
    loop {
        i += 1;
        let res = webhooks
            .clone()
            .oneshot(request(body(i, len)))
            .await
            .unwrap();
        match res.status() {
            StatusCode::OK => accepted += 1,
            StatusCode::SERVICE_UNAVAILABLE => break,
            other => panic!("unexpected {other}"),
        }
    }
    println!(
        "  budget {:.1} MB: {accepted} events accepted, the next answered 503; budget holds {:.1} MB, RSS {:.1} MB",
        mb(DEFAULT_QUEUE_BYTES),
        mb(webhooks.dispatcher().queued_bytes()),
        mb(rss()),
    );

    gate.add_permits(accepted + 1);
    webhooks.drain(Duration::from_secs(60)).await.unwrap();
    println!(
        "  after the drain: budget holds {} bytes",
        webhooks.dispatcher().queued_bytes()
    );
}
