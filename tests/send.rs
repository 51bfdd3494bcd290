//! The `send` example (a test sender, like `stripe trigger`) against the example receivers, all
//! as separate processes over real HTTP: what it sends is accepted once, redelivered as a
//! duplicate, tampered with and rejected, and the receivers print one line per event.
#![cfg(all(
    unix,
    feature = "chirp",
    feature = "hmac",
    feature = "standard-webhooks",
    feature = "testing"
))]

use std::collections::{BTreeMap, BTreeSet};

mod support;

use support::process::{Running, example_binary};
use webhook_receiver::chirp::EVENT_TYPES;

const GENERIC_TYPES: [&str; 9] = [
    "user.created",
    "user.updated",
    "user.deleted",
    "project.created",
    "project.updated",
    "project.deleted",
    "file.uploaded",
    "payment.succeeded",
    "payment.failed",
];
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One stdout line of `send`: `<event> <what> <status> <body>`.
#[derive(Debug)]
struct Sent {
    event: String,
    what: String,
    status: u16,
    body: String,
}

/// Runs the `send` example with `args`; returns its exit code and stdout lines.
async fn send(args: &[&str]) -> (i32, Vec<Sent>) {
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
                (Some(event), Some(what), Some(status), Some(body)) => Sent {
                    event: event.to_owned(),
                    what: what.to_owned(),
                    status,
                    body: body.to_owned(),
                },
                _ => panic!("not `<event> <what> <status> <body>`: {line}"),
            }
        })
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

fn url(receiver: &Running, path: &str) -> String {
    format!("http://{}{path}", receiver.addr)
}

/// Each (what, status, body) per event type, in the order sent.
fn by_event(lines: &[Sent]) -> BTreeMap<&str, Vec<(&str, u16, &str)>> {
    let mut map: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for l in lines {
        map.entry(l.event.as_str())
            .or_default()
            .push((l.what.as_str(), l.status, l.body.as_str()));
    }
    map
}

/// Asserts the receiver's stdout has one line per event type of `types`, each with its own id,
/// and returns the ids.
fn assert_one_line_per_event(lines: &[serde_json::Value], types: &[&str]) -> BTreeSet<String> {
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    let ids: BTreeSet<String> = lines
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = events.clone();
    sorted.sort_unstable();
    let mut expected = types.to_vec();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "one receiver line per event type");
    assert_eq!(ids.len(), lines.len(), "one line per event id: {lines:?}");
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chirp_events_are_accepted_once_and_redeliveries_are_duplicates() {
    let receiver = Running::start("chirp_receiver", &[("CHIRP_WEBHOOK_SECRET", "s3cr3t")]).await;
    let url = url(&receiver, "/webhooks/chirp");

    let (code, lines) = send(&["--url", &url, "--secret", "s3cr3t", "--redeliver", "2"]).await;
    assert_eq!(code, 0, "{lines:?}");
    let sent = by_event(&lines);
    assert_eq!(sent.keys().copied().collect::<Vec<_>>(), {
        let mut all = EVENT_TYPES.to_vec();
        all.sort_unstable();
        all
    });
    for (event, answers) in &sent {
        assert_eq!(
            answers,
            &[
                ("delivery", 200, r#"{"received":true}"#),
                ("redelivery#2", 200, r#"{"received":true,"duplicate":true}"#),
            ],
            "{event}"
        );
    }

    // A second run has fresh ids: accepted as new events, not duplicates of the first run's.
    let (code, lines) = send(&["--url", &url, "--secret", "s3cr3t"]).await;
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.len(), EVENT_TYPES.len());
    for l in &lines {
        assert_eq!(
            (l.status, l.body.as_str()),
            (200, r#"{"received":true}"#),
            "{l:?}"
        );
    }

    // Two lines per event type (one per run), every one with its own id.
    let printed = receiver.stop().await;
    let twice: Vec<&str> = EVENT_TYPES.iter().chain(&EVENT_TYPES).copied().collect();
    assert_one_line_per_event(&printed, &twice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chirp_tampered_requests_are_rejected_and_not_dispatched() {
    let receiver = Running::start("chirp_receiver", &[("CHIRP_WEBHOOK_SECRET", "s3cr3t")]).await;
    let url = url(&receiver, "/webhooks/chirp");

    let (code, lines) = send(&["--url", &url, "--secret", "s3cr3t", "--tamper"]).await;
    assert_eq!(code, 0, "{lines:?}");
    let sent = by_event(&lines);
    assert_eq!(sent.len(), EVENT_TYPES.len());
    for (event, answers) in &sent {
        let statuses: Vec<(&str, u16)> = answers.iter().map(|(w, s, _)| (*w, *s)).collect();
        // (No altered-body case: Chirp's shared secret does not sign the body.)
        assert_eq!(
            statuses,
            [
                ("wrong-secret", 401),
                ("missing-header", 401),
                ("delivery", 200)
            ],
            "{event}"
        );
        // The genuine delivery after the rejected ones is new: nothing was remembered.
        assert_eq!(answers[2].2, r#"{"received":true}"#, "{event}");
        assert!(answers[0].2.contains("authentication_error"), "{event}");
    }

    let printed = receiver.stop().await;
    assert_one_line_per_event(&printed, &EVENT_TYPES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_scheme_is_accepted_by_the_generic_receiver() {
    let receiver = Running::start("generic_receiver", &[("WEBHOOK_SECRET", "generic")]).await;
    let url = url(&receiver, "/webhook");

    let (code, lines) = send(&["--scheme", "hmac", "--url", &url, "--secret", "generic"]).await;
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.len(), GENERIC_TYPES.len());
    for l in &lines {
        assert_eq!(
            (l.what.as_str(), l.status, l.body.as_str()),
            ("delivery", 200, r#"{"received":true}"#),
            "{l:?}"
        );
    }
    let printed = receiver.stop().await;
    let ids = assert_one_line_per_event(&printed, &GENERIC_TYPES);
    assert!(ids.iter().all(|id| id.starts_with("evt_")), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_scheme_is_accepted_by_the_standard_receiver() {
    let receiver =
        Running::start("standard_receiver", &[("WEBHOOK_SECRET", STANDARD_SECRET)]).await;
    let url = url(&receiver, "/webhook");

    let args = [
        "--scheme",
        "standard",
        "--url",
        &url,
        "--secret",
        STANDARD_SECRET,
    ];
    let (code, lines) = send(&args).await;
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(lines.len(), GENERIC_TYPES.len());
    for l in &lines {
        assert_eq!(
            (l.what.as_str(), l.status, l.body.as_str()),
            ("delivery", 200, r#"{"received":true}"#),
            "{l:?}"
        );
    }
    let printed = receiver.stop().await;
    let ids = assert_one_line_per_event(&printed, &GENERIC_TYPES);
    assert!(ids.iter().all(|id| id.starts_with("msg_")), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_reports_rejected_deliveries_and_usage_errors() {
    let receiver = Running::start("chirp_receiver", &[("CHIRP_WEBHOOK_SECRET", "s3cr3t")]).await;
    let url = url(&receiver, "/webhooks/chirp");

    // --event sends that type only; the wrong secret makes the genuine delivery fail.
    let (code, lines) = send(&[
        "--url",
        &url,
        "--secret",
        "not-the-secret",
        "--event",
        "messages.sms.delivered",
    ])
    .await;
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (lines[0].event.as_str(), lines[0].status),
        ("messages.sms.delivered", 401)
    );

    for usage in [
        &["--scheme", "nope"][..],
        &["--url", &url, "--secret", "s", "--event", "no.such.event"],
        &["--url", &url, "--secret", "s", "--redeliver", "0"],
        &["--bogus"],
    ] {
        assert_eq!(send(usage).await.0, 2, "{usage:?}");
    }

    let help = tokio::process::Command::new(example_binary("send"))
        .arg("--help")
        .output()
        .await
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--redeliver N"));

    assert!(receiver.stop().await.is_empty(), "nothing was accepted");
}
