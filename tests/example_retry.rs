//! Retries, dead letters and an unfinished drain as an operator sees them: the Chirp example
//! as a separate process, its stdout lines, its stderr and its exit status.
#![cfg(all(unix, feature = "chirp"))]

use std::process::{Command, Stdio};

mod support;

/// Runs the Chirp example with `env`, posts `ids` as `messages.sms.delivered` events (each
/// answered 200), sends SIGTERM and waits for the exit.
async fn run_chirp(env: &[(&str, &str)], ids: &[&str]) -> support::process::Exited {
    let addr = support::process::free_port();
    let mut cmd = Command::new(support::process::example_binary("chirp_receiver"));
    cmd.env("ADDR", addr.to_string())
        .env("CHIRP_WEBHOOK_SECRET", support::SECRET)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = support::process::spawn_listening(&mut cmd, addr).await;
    for id in ids {
        let (status, _) = support::post_chirp(addr, support::delivered(id)).await;
        assert_eq!(status, 200, "{id}");
    }
    support::process::signal_and_wait(child, "-TERM").await
}

fn ids_of(lines: &[serde_json::Value]) -> Vec<String> {
    let mut ids: Vec<String> = lines
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fail_first_2_every_event_prints_one_line_at_attempt_3() {
    let ids = ["f1", "f2", "f3", "f4"];
    let done = run_chirp(
        &[("HANDLER_FAIL_FIRST", "2"), ("RETRY_BACKOFF_MS", "20")],
        &ids,
    )
    .await;
    assert!(done.success, "{}", done.stderr);
    assert_eq!(ids_of(&done.lines), ids, "one line per event");
    for line in &done.lines {
        assert_eq!(line["attempt"], 3, "{line}");
        assert!(line.get("dead_letter").is_none(), "{line}");
    }
    assert!(
        done.stderr.contains("it will be retried") && done.stderr.contains("attempt=2"),
        "each failed attempt is logged: {}",
        done.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_fail_first_99_and_3_attempts_every_event_is_dead_lettered_once() {
    let ids = ["d1", "d2", "d3"];
    let done = run_chirp(
        &[
            ("HANDLER_FAIL_FIRST", "99"),
            ("RETRY_MAX_ATTEMPTS", "3"),
            ("RETRY_BACKOFF_MS", "20"),
        ],
        &ids,
    )
    .await;
    assert!(done.success, "{}", done.stderr);
    assert_eq!(ids_of(&done.lines), ids, "one dead-letter line per event");
    for line in &done.lines {
        assert_eq!(line["dead_letter"], true, "{line}");
        assert_eq!(line["attempts"], 3, "{line}");
        assert_eq!(line["reason"], "exhausted", "{line}");
        assert_eq!(line["handler"], "messages.sms.delivered", "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_drain_names_every_event_it_leaves_and_exits_non_zero() {
    // The operator's case: one event running for 1.5 s, two queued, a 1 s drain deadline.
    let done = run_chirp(
        &[
            ("HANDLER_DELAY_MS", "1500"),
            ("WEBHOOK_CONCURRENCY", "1"),
            ("WEBHOOK_QUEUE_CAPACITY", "2"),
            ("DRAIN_TIMEOUT_SECS", "1"),
        ],
        &["u1", "u2", "u3"],
    )
    .await;
    assert!(
        !done.success,
        "a drain that did not finish is an error exit"
    );
    assert!(
        done.stderr.contains(
            "drain deadline passed with 1 event(s) still running, 2 queued and 0 waiting for a retry"
        ),
        "{}",
        done.stderr
    );
    // Each of the three is named: the two queued at the deadline (shutdown), the running one
    // when the runtime stopped it.
    assert_eq!(ids_of(&done.lines), ["u1", "u2", "u3"]);
    let mut reasons: Vec<&str> = done
        .lines
        .iter()
        .map(|l| {
            assert_eq!(l["dead_letter"], true, "{l}");
            l["reason"].as_str().unwrap()
        })
        .collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["runtime_dropped", "shutdown", "shutdown"]);
    for line in &done.lines {
        let key = line["key"].as_str().unwrap();
        assert!(
            done.stderr.lines().any(|l| l.contains("ERROR")
                && l.contains(key)
                && l.contains("messages.sms.delivered")),
            "no error line names {key}: {}",
            done.stderr
        );
    }
}
