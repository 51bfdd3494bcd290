//! Slow clients (slowloris) against the Chirp example as a process: connections that send half
//! their headers, or nothing, or declare a 1 MB body and send a few bytes, are closed by the
//! server after about its timeouts; a normal delivery is answered 200 meanwhile; and SIGTERM
//! with such connections open still ends the process soon, with status 0 and every accepted
//! event printed. The time bounds are liveness bounds (generous), not timing assertions.
#![cfg(all(unix, feature = "chirp"))]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use support::process::Running;
use support::{SECRET, delivered};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A slow client's opening: what it sends, then it sends nothing more.
#[derive(Debug, Clone, Copy)]
enum Slow {
    /// The request line and half the headers, no blank line, no secret.
    HalfHeaders,
    /// A complete head with the right secret, `content-length: 1000000`, and 10 bytes of body.
    ShortBody,
    /// Nothing at all.
    Silent,
}

async fn open(addr: SocketAddr, slow: Slow) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let bytes = match slow {
        Slow::HalfHeaders => {
            "POST /webhooks/chirp HTTP/1.1\r\nhost: localhost\r\ncontent-type: appl".to_owned()
        }
        Slow::ShortBody => format!(
            "POST /webhooks/chirp HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
             x-webhook-secret: {SECRET}\r\ncontent-length: 1000000\r\n\r\n{{\"event\":"
        ),
        Slow::Silent => String::new(),
    };
    stream.write_all(bytes.as_bytes()).await.unwrap();
    stream
}

/// Reads until the server closes `stream` (EOF or a reset), at most `bound`; returns what it
/// sent and how long that took, or panics naming `what`.
async fn closed_by_server(
    mut stream: TcpStream,
    bound: Duration,
    what: Slow,
) -> (String, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let read = tokio::time::timeout(bound, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "{what:?}: still open after {bound:?}");
    (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
}

/// SIGTERMs `running` and requires it to exit (status 0) within `bound`; a watchdog SIGKILLs it
/// after twice that, so a hung example fails the test instead of hanging it.
async fn stop_within(running: Running, bound: Duration) -> Vec<serde_json::Value> {
    let pid = running.id().to_string();
    let watchdog = tokio::spawn(async move {
        tokio::time::sleep(bound * 2).await;
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
    });
    let start = Instant::now();
    let lines = running.stop().await;
    let took = start.elapsed();
    watchdog.abort();
    assert!(took < bound, "exit took {took:?} (bound {bound:?})");
    lines
}

fn printed_ids(lines: &[serde_json::Value]) -> Vec<String> {
    let mut ids: Vec<String> = lines
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_connections_are_closed_after_the_timeouts_and_normal_deliveries_are_answered() {
    slow_connections_are_closed("chirp_receiver").await;
}

/// The plain hyper + tower example has the same header and request timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tower_stack_example_closes_slow_connections_too() {
    slow_connections_are_closed("tower_stack").await;
}

async fn slow_connections_are_closed(example: &str) {
    let running = Running::start(
        example,
        &[
            ("CHIRP_WEBHOOK_SECRET", SECRET),
            ("HEADER_TIMEOUT_SECS", "1"),
            ("BODY_TIMEOUT_SECS", "1"),
        ],
    )
    .await;
    let addr = running.addr;
    let mut slow = Vec::new();
    for kind in [Slow::HalfHeaders, Slow::ShortBody, Slow::Silent] {
        for _ in 0..3 {
            slow.push((kind, open(addr, kind).await));
        }
    }
    // Fresh connections are served while the slow ones hang.
    for id in ["n1", "n2"] {
        let (status, body) = support::post_chirp(addr, delivered(id)).await;
        assert_eq!((status, body.as_str()), (200, r#"{"received":true}"#));
    }
    let waits = slow.into_iter().map(|(kind, stream)| async move {
        let (answer, took) = closed_by_server(stream, Duration::from_secs(10), kind).await;
        (kind, answer, took)
    });
    for (kind, answer, took) in futures_util::future::join_all(waits).await {
        // Not before the timeout (minus timer slack).
        assert!(
            took >= Duration::from_millis(500),
            "{kind:?} closed after {took:?}"
        );
        if let Slow::ShortBody = kind {
            assert!(answer.starts_with("HTTP/1.1 408"), "{kind:?}: {answer:?}");
        } else {
            assert!(!answer.contains("200 OK"), "{kind:?}: {answer:?}");
        }
    }
    // Slow connections open at SIGTERM do not hold the exit up.
    let _held: Vec<TcpStream> = futures_util::future::join_all(
        [Slow::HalfHeaders, Slow::ShortBody, Slow::Silent].map(|k| open(addr, k)),
    )
    .await;
    let lines = stop_within(running, Duration::from_secs(10)).await;
    assert_eq!(printed_ids(&lines), ["n1", "n2"], "{lines:?}");
}

/// With a header timeout far longer than the test, only the shutdown's grace (the body
/// timeout) can close the slow connections: before the fix one such connection kept the
/// example alive until the client left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_slow_connections_after_the_grace_and_drains() {
    let running = Running::start(
        "chirp_receiver",
        &[
            ("CHIRP_WEBHOOK_SECRET", SECRET),
            ("HEADER_TIMEOUT_SECS", "120"),
            ("BODY_TIMEOUT_SECS", "2"),
            ("IDLE_TIMEOUT_SECS", "120"),
            // Handlers still running at SIGTERM are drained, not cut.
            ("HANDLER_DELAY_MS", "300"),
        ],
    )
    .await;
    let addr = running.addr;
    let mut held = Vec::new();
    for kind in [Slow::HalfHeaders, Slow::ShortBody, Slow::Silent] {
        for _ in 0..3 {
            held.push(open(addr, kind).await);
        }
    }
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = format!("s{i}");
        let (status, body) = support::post_chirp(addr, delivered(&id)).await;
        assert_eq!((status, body.as_str()), (200, r#"{"received":true}"#));
        ids.push(id);
    }
    let lines = stop_within(running, Duration::from_secs(10)).await;
    assert_eq!(printed_ids(&lines), ids, "{lines:?}");
    drop(held);
}
