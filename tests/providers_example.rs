//! `examples/provider_receiver.rs` against `examples/send.rs --scheme <provider>`, both as
//! separate processes over real HTTP: for each of Stripe, GitHub, Slack and Shopify, every
//! genuine delivery is accepted once and its redelivery answered as a duplicate, every tampered
//! copy is rejected, and the receiver prints one line per event with the provider's name and id.
//! (`send` signs from each sender's documentation with the `hmac` crate, not with the presets.)
#![cfg(all(unix, feature = "providers", feature = "testing"))]

use std::collections::BTreeMap;

mod support;

use support::process::{Running, example_binary};

/// Runs `send` with `args`; returns its exit code and stdout lines, `<event> <what> <status> <body>`.
async fn send(args: &[&str]) -> (i32, Vec<(String, String, u16, String)>) {
    let out = tokio::process::Command::new(example_binary("send"))
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines = stdout
        .lines()
        .map(|line| {
            let mut words = line.split_whitespace();
            let (event, what, status) = (words.next(), words.next(), words.next());
            let body = line.find('{').map(|i| &line[i..]);
            match (event, what, status.and_then(|s| s.parse().ok()), body) {
                (Some(e), Some(w), Some(s), Some(b)) => {
                    (e.to_owned(), w.to_owned(), s, b.to_owned())
                }
                _ => panic!("not `<event> <what> <status> <body>`: {line}"),
            }
        })
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

async fn provider_round_trip(provider: &str, secrets: &str, events: &[&str]) {
    let receiver = Running::start(
        "provider_receiver",
        &[("PROVIDER", provider), ("WEBHOOK_SECRET", secrets)],
    )
    .await;
    let url = format!("http://{}/webhooks/{provider}", receiver.addr);
    // The last of the receiver's secrets: a sender that has not rotated yet.
    let secret = secrets.rsplit(',').next().unwrap();
    let (code, lines) = send(&[
        "--scheme",
        provider,
        "--url",
        &url,
        "--secret",
        secret,
        "--redeliver",
        "2",
        "--tamper",
    ])
    .await;
    assert_eq!(code, 0, "{provider}: {lines:?}");

    let mut by_event: BTreeMap<&str, Vec<(&str, u16, &str)>> = BTreeMap::new();
    for (event, what, status, body) in &lines {
        by_event
            .entry(event.as_str())
            .or_default()
            .push((what.as_str(), *status, body.as_str()));
    }
    let mut sent: Vec<&str> = by_event.keys().copied().collect();
    let mut expected = events.to_vec();
    sent.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sent, expected, "{provider}");
    for (event, answers) in &by_event {
        let statuses: Vec<(&str, u16)> = answers.iter().map(|(w, s, _)| (*w, *s)).collect();
        assert_eq!(
            statuses,
            [
                ("wrong-signature", 401),
                ("altered-body", 401),
                ("missing-header", 401),
                ("delivery", 200),
                ("redelivery#2", 200),
            ],
            "{provider} {event}"
        );
        for (what, _, body) in &answers[..3] {
            assert!(
                body.contains("invalid_credentials"),
                "{provider} {event} {what}: {body}"
            );
        }
        if *event == "url_verification" {
            // Slack's handshake is answered with its challenge, by the example's route.
            assert!(
                answers[3].2.starts_with(r#"{"challenge":""#),
                "{}",
                answers[3].2
            );
            assert_eq!(answers[3].2, answers[4].2);
        } else {
            assert_eq!(answers[3].2, r#"{"received":true}"#, "{provider} {event}");
            assert_eq!(
                answers[4].2, r#"{"received":true,"duplicate":true}"#,
                "{provider} {event}"
            );
        }
    }

    let printed = receiver.stop().await;
    let mut names: Vec<&str> = printed
        .iter()
        .map(|l| l["event"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    let handled: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|e| *e != "url_verification")
        .collect();
    assert_eq!(
        names, handled,
        "{provider}: one line per event: {printed:?}"
    );
    for line in &printed {
        let id = line["id"].as_str().unwrap();
        assert!(!id.is_empty() && line["attempt"] == 1, "{provider}: {line}");
        if provider == "stripe" {
            assert!(id.starts_with("evt_"), "{line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_through_the_example() {
    let events = [
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.refunded",
        "customer.subscription.created",
        "invoice.paid",
    ];
    provider_round_trip("stripe", "whsec_new_secret,whsec_old_secret", &events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_through_the_example() {
    let events = ["ping", "push", "issues.opened", "pull_request.closed"];
    provider_round_trip("github", "github-secret", &events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_through_the_example() {
    let events = [
        "url_verification",
        "app_mention",
        "message",
        "reaction_added",
    ];
    provider_round_trip("slack", "8f742231b10e8888abcd99yyyzzz85a5", &events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_through_the_example() {
    let events = [
        "orders/create",
        "orders/paid",
        "products/update",
        "app/uninstalled",
    ];
    provider_round_trip("shopify", "shpss_secret", &events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_refuses_a_missing_or_unknown_provider() {
    for (env, expected) in [
        (None, "PROVIDER is not set"),
        (Some("paypal"), "unknown PROVIDER"),
    ] {
        let mut cmd = tokio::process::Command::new(example_binary("provider_receiver"));
        cmd.env_remove("PROVIDER").env("ADDR", "127.0.0.1:0");
        if let Some(p) = env {
            cmd.env("PROVIDER", p);
        }
        let out = cmd.output().await.unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
}
