//! The Chirp example as a sender and an operator see it: a separate process, real HTTP, stdout
//! lines, and SIGTERM draining every accepted event before exiting 0.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

fn example_binary(name: &str) -> PathBuf {
    // tests run from target/<profile>/deps; `cargo test` builds examples into target/<profile>/examples
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|p| p.parent()).unwrap();
    let bin = profile_dir.join("examples").join(name);
    assert!(
        bin.exists(),
        "{} not built: run through `cargo test`, which builds the examples",
        bin.display()
    );
    bin
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

async fn wait_until_listening(addr: SocketAddr) {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("example did not listen on {addr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chirp_example_acknowledges_prints_and_drains_on_sigterm() {
    let addr = free_port();
    let mut child = Command::new(example_binary("chirp_receiver"))
        .env("ADDR", addr.to_string())
        .env(
            "CHIRP_WEBHOOK_SECRET",
            format!("old-secret,{}", support::SECRET),
        )
        .env("HANDLER_DELAY_MS", "300")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_listening(addr).await;

    let fixtures = support::FIXTURES;
    let mut expected = Vec::new();
    for name in fixtures {
        let body = support::fixture(name);
        let (status, reply) = support::post_chirp(addr, body.clone()).await;
        assert_eq!(
            (status, reply.as_str()),
            (200, r#"{"received":true}"#),
            "{name}"
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        expected.push((
            v["event"].as_str().unwrap().to_owned(),
            v["data"]["id"].as_str().unwrap().to_owned(),
        ));
    }
    // A redelivery: 200, no second line.
    let (status, reply) = support::post_chirp(addr, support::fixture("sms_delivered")).await;
    assert_eq!(
        (status, reply.as_str()),
        (200, r#"{"received":true,"duplicate":true}"#)
    );
    // The old secret still works (rotation); a wrong one does not.
    let (status, _) = support::post(
        addr,
        support::URI,
        &[
            ("content-type", "application/json"),
            ("x-webhook-secret", "wrong"),
        ],
        support::fixture("sms_sent"),
    )
    .await;
    assert_eq!(status, 401);

    // Handlers sleep 300 ms each: SIGTERM now, while most are still pending.
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let stdout = child.stdout.take().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");

    let mut seen: Vec<(String, String)> = BufReader::new(stdout)
        .lines()
        .map(|line| {
            let line = line.unwrap();
            let v: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            (
                v["event"].as_str().unwrap().to_owned(),
                v["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    expected.sort();
    assert_eq!(
        seen, expected,
        "one stdout line per accepted event, all handled before exit"
    );
}
