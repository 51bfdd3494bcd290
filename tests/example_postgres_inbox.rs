//! Many replicas as an operator runs them: three Chirp example processes on three ports sharing
//! one PostgreSQL (started by the test) with `DATABASE_URL`, `INBOX=postgres` and
//! `HANDLER_SINK=postgres`. An event posted to all three is handled once; a replica SIGKILLed
//! with events in hand loses none of them: the others claim them once their lease expired; and
//! the table `handled` has exactly one row per event and handler, the killed replica's
//! uncommitted rows rolled back.
#![cfg(all(unix, feature = "chirp", feature = "postgres"))]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod support;

use support::postgres_server::PostgresServer;
use support::process::{free_port, signal_and_wait};

/// Starts a replica on `addr`; waits until it listens.
async fn start(addr: SocketAddr, url: &str) -> Child {
    let mut cmd = Command::new(support::process::example_binary("chirp_receiver"));
    cmd.env("ADDR", addr.to_string())
        .env("CHIRP_WEBHOOK_SECRET", support::SECRET)
        .env("DATABASE_URL", url)
        .env("INBOX", "postgres")
        .env("INBOX_LEASE_SECS", "2")
        .env("HANDLER_SINK", "postgres")
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

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_handle_each_event_once_and_a_killed_replicas_events_commit_once() {
    let server = PostgresServer::start();
    let url = server.url();
    let addrs = [free_port(), free_port(), free_port()];
    let mut replicas = Vec::new();
    for addr in addrs {
        replicas.push(start(addr, &url).await);
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();

    for i in 0..10 {
        let id = format!("everywhere-{i}");
        let new = futures_util::future::join_all(addrs.iter().map(|a| deliver(*a, &id))).await;
        assert_eq!(new.iter().filter(|n| **n).count(), 1, "{id}: {new:?}");
    }

    // 30 more, spread over the replicas; replica 0 is killed while their 1.5 s handlers run (in
    // their transactions), so it dies holding some of them.
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

    for _ in 0..300 {
        if count(&pool, "SELECT count(*) FROM webhook_inbox.events").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        count(&pool, "SELECT count(*) FROM webhook_inbox.events").await,
        0,
        "the events table was not emptied"
    );
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
        took_over += exited.stderr.matches("taking over an event").count();
    }
    assert!(
        took_over > 0,
        "the killed replica held no event: the take-over was not exercised"
    );

    // Exactly one committed row per (key, handler), for all 40 events.
    assert_eq!(count(&pool, "SELECT count(*) FROM handled").await, 40);
    assert_eq!(
        count(&pool, "SELECT count(DISTINCT (key, handler)) FROM handled").await,
        40
    );
    // A line is printed after its commit only: never twice (one may be missing if the kill
    // fell between a commit and its print).
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
            printed.get(id).copied().unwrap_or(0) <= 1,
            "{id} printed twice"
        );
    }
}
