//! The baseline of the HTTP load test (`benches/load.sh`): a bare axum server whose
//! `POST /webhooks/chirp` reads the whole body and answers 200 with the same JSON body the
//! receiver acknowledges with. No authentication, no parsing, no dedup, no queue: the
//! difference between it and the `chirp_receiver` example is the cost of this crate.
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

use std::net::SocketAddr;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::post;
use bytes::Bytes;

/// The receiver's acknowledgement, so that both servers send the same bytes.
const ACK: &str = r#"{"received":true}"#;

/// Reads the body, answers 200.
async fn ack(
    body: Bytes,
) -> (
    StatusCode,
    [(header::HeaderName, &'static str); 1],
    &'static str,
) {
    std::hint::black_box(body);
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
