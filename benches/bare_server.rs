//! The baseline of the HTTP load test (`benches/load.sh`): a bare axum server whose
//! `POST /webhooks/chirp` reads the whole body, spawns a task that prints one JSON line on
//! stdout, and answers 200 with the same JSON body the receiver acknowledges with. No
//! authentication, no parsing, no dedup, no queue: the difference between it and the
//! `chirp_receiver` example is the cost of this crate.
//!
//! The per-event output is the example's: one line per request,
//! `{"event":"messages.sms.delivered","handler":"bare","n":<request number>}`, built in a buffer
//! and written by a spawned task (it runs after the response is written, as the example's
//! handlers run after the 200) with one `write(2)` of the locked, line-buffered stdout. On
//! SIGTERM or Ctrl-C it stops accepting, waits until every spawned line is written (as the
//! example drains its queue), and exits 0: `load.sh` counts the lines afterwards. Nothing else
//! goes to stdout.
//!
//! Built, like the example, with `#[tokio::main]` (multi-threaded runtime, one worker per CPU
//! the process may run on) and axum's `serve`.
//!
//! ```sh
//! cargo bench --bench bare_server --no-run --message-format=json   # prints the binary path
//! ADDR=127.0.0.1:3001 target/release/deps/bare_server-<hash>       # serves until SIGTERM
//! ```
//!
//! It serves only when `ADDR` is set, so that a plain `cargo bench` runs it as a no-op.
#![allow(clippy::print_stderr)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::post;
use bytes::Bytes;

/// The receiver's acknowledgement, so that both servers send the same bytes.
const ACK: &str = r#"{"received":true}"#;

/// Requests whose line task was spawned (the line's `n`).
static SPAWNED: AtomicU64 = AtomicU64::new(0);
/// Lines written (or failed to write: a closed stdout does not stop the server).
static WRITTEN: AtomicU64 = AtomicU64::new(0);

/// Reads the body, spawns the task that prints its line, answers 200.
async fn ack(
    body: Bytes,
) -> (
    StatusCode,
    [(header::HeaderName, &'static str); 1],
    &'static str,
) {
    std::hint::black_box(body);
    let n = SPAWNED.fetch_add(1, Ordering::Relaxed) + 1;
    tokio::spawn(async move {
        let mut buf = Vec::with_capacity(96);
        buf.extend_from_slice(br#"{"event":"messages.sms.delivered","handler":"bare","n":"#);
        let _ = write!(buf, "{n}");
        buf.extend_from_slice(b"}\n");
        // One complete line through the line-buffered stdout: one write(2), flushed.
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&buf).and_then(|()| out.flush());
        drop(out);
        WRITTEN.fetch_add(1, Ordering::Release);
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        ACK,
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Ok(addr) = std::env::var("ADDR") else {
        eprintln!("bare_server: set ADDR=127.0.0.1:<port> to serve (used by benches/load.sh)");
        return Ok(());
    };
    let addr: SocketAddr = addr.parse()?;
    let app = Router::new().route("/webhooks/chirp", post(ack));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!(
        "bare_server listening on http://{}/webhooks/chirp",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    // Every request answered has spawned its line; wait until all are written.
    let deadline = Instant::now() + Duration::from_secs(30);
    while WRITTEN.load(Ordering::Acquire) < SPAWNED.load(Ordering::Relaxed) {
        if Instant::now() > deadline {
            return Err("lines still unwritten 30 s after shutdown".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    eprintln!(
        "bare_server stopped; {} lines written",
        WRITTEN.load(Ordering::Acquire)
    );
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
