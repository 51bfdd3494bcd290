//! Many replicas as an operator runs them: three Chirp example processes on three ports sharing
//! one `redis-server` (started by the test) with `REDIS_URL` and `INBOX=redis`. An event posted
//! to all three prints one line in total; a replica SIGKILLed with events in hand loses none of
//! them: the others run them once they have been idle for the visibility timeout.
#![cfg(all(unix, feature = "chirp", feature = "redis"))]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod support;

use support::process::{free_port, signal_and_wait};
use support::redis_server::RedisServer;

/// Starts a replica on `addr`; waits until it listens.
async fn start(addr: SocketAddr, redis_url: &str) -> Child {
    let mut cmd = Command::new(support::process::example_binary("chirp_receiver"));
    cmd.env("ADDR", addr.to_string())
        .env("CHIRP_WEBHOOK_SECRET", support::SECRET)
        .env("REDIS_URL", redis_url)
        .env("INBOX", "redis")
        .env("INBOX_VISIBILITY_SECS", "2")
        .env("HANDLER_DELAY_MS", "1500")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    support::process::spawn_listening(&mut cmd, addr).await
}

/// Posts `id` to `addr` until it is answered 200 (a 503 is retried, as a sender would); returns
/// whether that 200 was new (not `"duplicate": true`).
async fn deliver(addr: SocketAddr, id: &str) -> bool {
    for _ in 0..200 {
        let (status, body) = support::post_chirp(addr, support::delivered(id)).await;
        match status {
            200 => return !body.contains("\"duplicate\":true"),
            503 => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("{id}: status {other}: {body}"),
        }
    }
    panic!("{id}: no 200 after 200 tries");
}

async fn stream_len(url: &str) -> u64 {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("XLEN")
        .arg("webhook:inbox:stream")
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_print_each_event_once_and_a_killed_replicas_events_run_on_the_others() {
    let server = RedisServer::start();
    let url = server.url();
    let addrs = [free_port(), free_port(), free_port()];
    let mut replicas = Vec::new();
    for addr in addrs {
        replicas.push(start(addr, &url).await);
    }

    // Each of 10 events posted to all three replicas at once: one new 200 in all.
    for i in 0..10 {
        let id = format!("everywhere-{i}");
        let new = futures_util::future::join_all(addrs.iter().map(|a| deliver(*a, &id))).await;
        assert_eq!(new.iter().filter(|n| **n).count(), 1, "{id}: {new:?}");
    }

    // 30 more, spread over the replicas; replica 0 is killed while their 1.5 s handlers run, so
    // it dies holding some of them.
    let ids: Vec<String> = (0..30).map(|i| format!("spread-{i}")).collect();
    futures_util::future::join_all(
        ids.iter()
            .enumerate()
            .map(|(n, id)| deliver(addrs[n % 3], id)),
    )
    .await;
    let mut replicas = replicas.into_iter();
    let killed = replicas.next().unwrap();
    let killed_lines = signal_and_wait(killed, "-KILL").await.lines;

    // The others take over what it held (after 2 s idle) and run it.
    for _ in 0..300 {
        if stream_len(&url).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stream_len(&url).await, 0, "the stream was not emptied");
    let mut lines = killed_lines;
    let mut took_over = 0;
    for replica in replicas {
        let exited = signal_and_wait(replica, "-TERM").await;
        assert!(
            exited.success,
            "a surviving replica did not exit 0 on SIGTERM: {}",
            exited.stderr
        );
        lines.extend(exited.lines);
        took_over += exited
            .stderr
            .matches("taking over a Redis inbox entry")
            .count();
    }
    assert!(
        took_over > 0,
        "the killed replica held no entry: the take-over was not exercised"
    );

    let mut printed: HashMap<String, usize> = HashMap::new();
    for line in &lines {
        assert!(line.get("dead_letter").is_none(), "{line}");
        *printed
            .entry(line["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for i in 0..10 {
        let id = format!("everywhere-{i}");
        assert_eq!(printed.get(&id), Some(&1), "{id} printed once in all");
    }
    for id in &ids {
        assert!(
            printed.contains_key(id),
            "{id} was acknowledged and never printed"
        );
    }
}
