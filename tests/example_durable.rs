//! The durable inbox as an operator sees it: the Chirp example with `INBOX_PATH`, killed with
//! SIGKILL while its handlers are busy, restarted on the same directory.
#![cfg(all(unix, feature = "chirp", feature = "durable"))]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod support;

/// Starts the Chirp example on `addr` with the inbox in `dir` and `env`; waits until it listens.
async fn start(addr: SocketAddr, dir: &Path, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(support::process::example_binary("chirp_receiver"));
    cmd.env("ADDR", addr.to_string())
        .env("CHIRP_WEBHOOK_SECRET", support::SECRET)
        .env("INBOX_PATH", dir)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    support::process::spawn_listening(&mut cmd, addr).await
}

/// Sends `signal`, waits for the exit; returns the stdout lines as JSON.
async fn stop(child: Child, signal: &str) -> Vec<serde_json::Value> {
    support::process::signal_and_wait(child, signal).await.lines
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wr-example-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_runs_after_a_sigkill_and_dedup_survives_it() {
    let dir = temp_dir("kill9");
    let addr = support::process::free_port();
    // Handlers take a minute: none has finished when the process is killed.
    let child = start(addr, &dir, &[("HANDLER_DELAY_MS", "60000")]).await;
    let ids = ["k1", "k2", "k3", "k4", "k5"];
    for id in ids {
        let (status, _) = support::post_chirp(addr, support::delivered(id)).await;
        assert_eq!(status, 200);
    }
    let lines = stop(child, "-KILL").await;
    assert!(lines.is_empty(), "nothing ran before the kill: {lines:?}");

    let addr = support::process::free_port();
    let child = start(addr, &dir, &[]).await;
    // A redelivery of an event acknowledged before the crash is a duplicate.
    let (status, reply) = support::post_chirp(addr, support::delivered("k3")).await;
    assert_eq!(
        (status, reply.as_str()),
        (200, r#"{"received":true,"duplicate":true}"#)
    );
    let lines = stop(child, "-TERM").await;
    let mut seen: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    seen.sort_unstable();
    assert_eq!(
        seen, ids,
        "each acknowledged event ran once after the restart"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_recorded_before_a_sigkill_resumes_at_its_next_attempt() {
    let dir = temp_dir("kill9-retry");
    let addr = support::process::free_port();
    let child = start(
        addr,
        &dir,
        &[("HANDLER_FAIL_FIRST", "1"), ("RETRY_BACKOFF_MS", "1500")],
    )
    .await;
    let (status, _) = support::post_chirp(addr, support::delivered("a1")).await;
    assert_eq!(status, 200);
    // a1's first attempt fails at once and its retry is recorded; the next accepted event's
    // commit makes that record durable.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = support::post_chirp(addr, support::delivered("a2")).await;
    assert_eq!(status, 200);
    let lines = stop(child, "-KILL").await;
    assert!(lines.is_empty(), "{lines:?}");

    let addr = support::process::free_port();
    let child = start(addr, &dir, &[]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = stop(child, "-TERM").await;
    let a1: Vec<&serde_json::Value> = lines.iter().filter(|l| l["id"] == "a1").collect();
    assert_eq!(a1.len(), 1, "{lines:?}");
    assert_eq!(
        a1[0]["attempt"], 2,
        "a1 resumed at its second attempt: {lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| l["id"] == "a2").count(),
        1,
        "{lines:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
