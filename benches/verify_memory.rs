//! Memory an unauthenticated request can make the verify layer hold (issue 21, item 8): a
//! well-formed but false HMAC signature header passes the header check, so the body is read up
//! to the limit (1 MiB, the default) before the signature is found wrong.
//!
//! The body is just under 1 MiB, delivered in chunks of 1 byte and of 64 KiB, with and without
//! a `Content-Length`. Each chunk is cut from an 8 KiB read buffer the way hyper's HTTP/1
//! decoder does (`split_to(n).freeze()` of its `BytesMut`, a new buffer when one is full), so a
//! chunk kept by the reader also keeps its share of that buffer.
//!
//! Reported: the peak of the bytes held (live heap bytes, counted by a global allocator, minus
//! those before the request), sampled each time the reader asks for the next chunk, and what
//! is still held once the 401 is out. It counts requested bytes (not the allocator's rounding).
//!
//! Run with `cargo bench --bench verify_memory` (add `--profile dev` to skip the release
//! build; the sizes do not depend on it).

#![allow(clippy::print_stdout)]

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http_body::{Body, Frame};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use webhook_receiver::Rejection;
use webhook_receiver::stack::DEFAULT_BODY_LIMIT;
use webhook_receiver::verify::{HmacSha256, VerifyRequest};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// Live heap bytes right now.
fn live() -> usize {
    let stats = INSTRUMENTED_SYSTEM.stats();
    stats.bytes_allocated - stats.bytes_deallocated
}

/// hyper's initial read buffer (`INIT_BUFFER_SIZE`).
const READ_BUFFER: usize = 8 * 1024;

/// A body of `remaining` bytes in chunks of `chunk` bytes, cut from a read buffer as hyper
/// does, recording the peak of live bytes above `base` each time it is polled.
struct WireBody {
    remaining: usize,
    chunk: usize,
    read_buf: BytesMut,
    base: usize,
    peak: Arc<std::sync::atomic::AtomicUsize>,
}

impl Body for WireBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let held = live().saturating_sub(self.base);
        self.peak
            .fetch_max(held, std::sync::atomic::Ordering::Relaxed);
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.chunk.min(self.remaining);
        if self.read_buf.capacity() - self.read_buf.len() < n {
            // What hyper's `reserve` does once the chunks handed out share the whole buffer.
            self.read_buf = BytesMut::with_capacity(READ_BUFFER.max(n));
        }
        self.read_buf.put_bytes(b'x', n);
        self.remaining -= n;
        let data = self.read_buf.split_to(n).freeze();
        Poll::Ready(Some(Ok(Frame::data(data))))
    }
}

impl From<Bytes> for WireBody {
    fn from(_: Bytes) -> Self {
        unreachable!("the request is rejected, never passed on")
    }
}

/// Verifies one request whose signature is well-formed and false; returns (peak, after).
async fn measure(
    scheme: &Arc<HmacSha256>,
    len: usize,
    chunk: usize,
    declared: bool,
) -> (usize, usize) {
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut request = http::Request::post("/").header("x-webhook-signature", "00".repeat(32));
    if declared {
        request = request.header("content-length", len);
    }
    let base = live();
    let body = WireBody {
        remaining: len,
        chunk,
        read_buf: BytesMut::new(),
        base,
        peak: Arc::clone(&peak),
    };
    let request = request.body(body).unwrap();
    let result = Arc::clone(scheme).verify(request, DEFAULT_BODY_LIMIT).await;
    assert!(matches!(result, Err(Rejection::Unauthorized)));
    drop(result);
    let after = live().saturating_sub(base);
    (peak.load(std::sync::atomic::Ordering::Relaxed), after)
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let scheme = Arc::new(HmacSha256::new(["bench-secret"]).unwrap());
    let len = DEFAULT_BODY_LIMIT - 1024;
    println!(
        "body {} ({len} bytes), limit {}; bytes held while reading (peak) and after the 401",
        kib(len),
        kib(DEFAULT_BODY_LIMIT)
    );
    println!("| chunks | Content-Length | peak held | peak / body | held after |");
    println!("|---|---|---|---|---|");
    for chunk in [1, 64 * 1024] {
        for declared in [true, false] {
            let (peak, after) = measure(&scheme, len, chunk, declared).await;
            println!(
                "| {chunk} B | {} | {} | {:.2} | {} |",
                if declared {
                    "declared"
                } else {
                    "none (chunked)"
                },
                kib(peak),
                peak as f64 / len as f64,
                kib(after),
            );
        }
    }
}
