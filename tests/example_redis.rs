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
