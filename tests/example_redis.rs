//! Three `chirp_receiver` processes sharing one Redis (`REDIS_URL`), as replicas behind a load
//! balancer would: every event posted to all three (at once for some, one after the other for
//! others) is handled exactly once in all, and every answer that is not a 200 is a 503 with
//! `Retry-After` that, retried, ends in a 200.
#![cfg(all(unix, feature = "chirp", feature = "redis"))]

mod support;

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::BodyExt;
use support::process::Running;
use support::redis_server::RedisServer;

/// One POST of a Chirp event: status, `Retry-After`, body.
async fn post(addr: SocketAddr, body: String) -> (u16, Option<String>, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::post(support::URI)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("x-webhook-secret", support::SECRET)
        .body(http_body_util::Full::new(Bytes::from(body)))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        retry_after,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// Posts until a 200, checking every other answer is a 503 with `Retry-After`; returns whether
/// the 200 was a duplicate. (The retry does not wait the full `Retry-After`: a liveness bound of
/// 500 tries, 20 ms apart.)
async fn deliver(addr: SocketAddr, body: String) -> bool {
    for _ in 0..500 {
        let (status, retry_after, reply) = post(addr, body.clone()).await;
        match status {
            200 if reply == r#"{"received":true}"# => return false,
            200 if reply == r#"{"received":true,"duplicate":true}"# => return true,
            503 => {
                let seconds: u64 = retry_after
                    .unwrap_or_else(|| panic!("503 without Retry-After: {reply}"))
                    .parse()
                    .unwrap();
                assert!(seconds >= 1, "{reply}");
            }
            _ => panic!("unexpected answer {status}: {reply}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{body} not accepted after 500 tries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_one_redis_handle_each_event_once() {
    let redis = RedisServer::start();
    let url = redis.url();
    let env = [
        ("CHIRP_WEBHOOK_SECRET", support::SECRET),
        ("REDIS_URL", url.as_str()),
        ("REDIS_PREFIX", "example-redis:"),
    ];
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(Running::start("chirp_receiver", &env).await);
    }
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    let mut new = 0;
    for i in 0..20 {
        let body = support::delivered(&format!("replicated-{i}"));
        let answers: Vec<bool> = if i % 2 == 0 {
            // At once, to all three.
            futures_util::future::join_all(addrs.iter().map(|&a| deliver(a, body.clone()))).await
        } else {
            let mut answers = Vec::new();
            for &a in &addrs {
                answers.push(deliver(a, body.clone()).await);
            }
            answers
        };
        let fresh = answers.iter().filter(|duplicate| !**duplicate).count();
        assert_eq!(
            fresh, 1,
            "event {i}: exactly one replica accepted it as new: {answers:?}"
        );
        new += fresh;
    }
    assert_eq!(new, 20);
    let mut lines = Vec::new();
    for replica in replicas {
        lines.extend(replica.stop().await);
    }
    let mut ids: Vec<String> = lines
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("replicated-{i}")).collect();
    expected.sort();
    assert_eq!(
        ids, expected,
        "one stdout line per event across the replicas"
    );
}

/// The example receiver with `REDIS_URL` (dedup on Redis) and with `INBOX=redis` too.
fn chirp_receiver(addr: SocketAddr, url: &str, inbox: bool) -> std::process::Command {
    let mut cmd = std::process::Command::new(support::process::example_binary("chirp_receiver"));
    cmd.env("ADDR", addr.to_string())
        .env("CHIRP_WEBHOOK_SECRET", support::SECRET)
        .env("REDIS_URL", url)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if inbox {
        cmd.env("INBOX", "redis");
    }
    cmd
}

/// Issue 21, items 3 and 4: a replica started while Redis is unreachable exits non-zero with
/// the connect error once the connect timeout (5 s) has passed, instead of hanging; the error
/// names the URL without its password. (The 30 s bound is a liveness bound.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_cannot_reach_redis_exits_with_the_error_and_no_password() {
    let port = support::process::free_port().port();
    let url = format!("redis://:hunter2-pw@127.0.0.1:{port}");
    for inbox in [false, true] {
        let mut child = chirp_receiver(support::process::free_port(), &url, inbox)
            .spawn()
            .unwrap();
        let mut status = None;
        for _ in 0..600 {
            status = child.try_wait().unwrap();
            if status.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("inbox={inbox}: still running after 30 s");
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "inbox={inbox}: {status}\n{stderr}");
        assert!(
            stderr.contains(&format!("redis://…@127.0.0.1:{port}")) && stderr.contains("connect"),
            "inbox={inbox}: {stderr}"
        );
        assert!(!stderr.contains("hunter2-pw"), "inbox={inbox}: {stderr}");
    }
}

/// Issue 21, item 4: what a replica logs about its Redis server at start (`info`) does not hold
/// the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_logs_its_redis_server_without_the_password() {
    let redis = RedisServer::start_with(&["--requirepass", "right-pw"]);
    let url = format!("redis://:right-pw@127.0.0.1:{}", redis.port);
    for (inbox, opened) in [(false, "dedup on Redis"), (true, "Redis inbox open")] {
        let addr = support::process::free_port();
        let child =
            support::process::spawn_listening(&mut chirp_receiver(addr, &url, inbox), addr).await;
        let exited = support::process::signal_and_wait(child, "-TERM").await;
        assert!(exited.success, "{}", exited.stderr);
        assert!(exited.stderr.contains(opened), "{}", exited.stderr);
        assert!(
            exited
                .stderr
                .contains(&format!("redis://…@127.0.0.1:{}", redis.port)),
            "{}",
            exited.stderr
        );
        assert!(!exited.stderr.contains("right-pw"), "{}", exited.stderr);
    }
}
