//! `METRICS_ADDR`: the Chirp example serves its metrics in the Prometheus text format; a
//! scrape after known traffic shows the known counts.
#![cfg(all(unix, feature = "chirp"))]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;

use support::process::{Running, free_port, wait_until_listening};

/// `GET /metrics` on `addr`; the body.
async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    raw.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chirp_example_serves_prometheus_metrics_with_the_known_counts() {
    let metrics_addr = free_port();
    let addr = metrics_addr.to_string();
    let running = Running::start(
        "chirp_receiver",
        &[
            ("CHIRP_WEBHOOK_SECRET", support::SECRET),
            ("METRICS_ADDR", addr.as_str()),
            ("HANDLER_FAIL_FIRST", "1"),
            ("RETRY_BACKOFF_MS", "10"),
        ],
    )
    .await;
    wait_until_listening(metrics_addr).await;
    for name in ["sms_delivered", "whatsapp_read", "template_updated"] {
        let (status, _) = support::post_chirp(running.addr, support::fixture(name)).await;
        assert_eq!(status, 200);
    }
    let (status, reply) =
        support::post_chirp(running.addr, support::fixture("sms_delivered")).await;
    assert_eq!((status, reply.contains("duplicate")), (200, true));
    let wrong = [
        ("content-type", "application/json"),
        ("x-webhook-secret", "wrong"),
    ];
    let (status, _) = support::post(
        running.addr,
        support::URI,
        &wrong,
        support::fixture("sms_sent"),
    )
    .await;
    assert_eq!(status, 401);

    // Each handler fails once, then succeeds on its retry (~10-20 ms later).
    let mut text = String::new();
    for _ in 0..200 {
        text = scrape(metrics_addr).await;
        if sample(&text, "webhook_handler_attempts_total", &["result=\"ok\""])
            .is_some_and(|v| v >= 1.0)
            && text
                .lines()
                .filter(|l| {
                    l.starts_with("webhook_handler_attempts_total{") && l.contains("result=\"ok\"")
                })
                .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
                .sum::<f64>()
                >= 3.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let d = "webhook_deliveries_total";
    assert_eq!(
        sample(&text, d, &["outcome=\"accepted\"", "status=\"200\""]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, d, &["outcome=\"duplicate\""]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            d,
            &[
                "outcome=\"rejected\"",
                "status=\"401\"",
                "reason=\"invalid_credentials\""
            ]
        ),
        Some(1.0),
        "{text}"
    );
    let a = "webhook_handler_attempts_total";
    for handler in ["messages.sms.delivered", "messages.whatsapp.*", "fallback"] {
        let h = format!("handler=\"{handler}\"");
        assert_eq!(
            sample(&text, a, &[&h, "result=\"error\""]),
            Some(1.0),
            "{handler}: {text}"
        );
        assert_eq!(
            sample(&text, a, &[&h, "result=\"ok\""]),
            Some(1.0),
            "{handler}: {text}"
        );
        assert_eq!(
            sample(&text, "webhook_handler_retries_total", &[&h]),
            Some(1.0),
            "{text}"
        );
    }
    assert!(text.contains("webhook_queue_wait_seconds_bucket"), "{text}");
    assert!(
        text.contains("webhook_handler_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        sample(&text, "webhook_queue_depth", &[]).is_some(),
        "{text}"
    );
    let lines = running.stop().await;
    assert_eq!(
        lines.len(),
        3,
        "one line per event, at attempt 2: {lines:?}"
    );
}
