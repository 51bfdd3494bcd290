//! What the receiver reports: the metrics, through a recorder, as an exporter would see them
//! (the spans are in tests/spans.rs: a test binary of their own, so that no other test's
//! thread registers the crate's callsites first, without a subscriber).

mod support;

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use support::*;
use tower::ServiceExt;
use webhook_receiver::chirp::{self, MessageStatus};
use webhook_receiver::dispatch::RetryPolicy;
use webhook_receiver::telemetry;

/// The counter `name` with exactly `labels`, or 0.
fn counter(
    snapshot: &[(String, Vec<(String, String)>, DebugValue)],
    name: &str,
    labels: &[(&str, &str)],
) -> u64 {
    snapshot
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| match v {
            DebugValue::Counter(c) => *c,
            _ => 0,
        })
        .sum()
}

fn snapshot(snapshotter: &Snapshotter) -> Vec<(String, Vec<(String, String)>, DebugValue)> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (key.name().to_owned(), labels, value)
        })
        .collect()
}

/// Everything runs on this thread (a current-thread runtime inside the local recorder).
fn with_recorder(run: impl AsyncFnOnce()) -> Vec<(String, Vec<(String, String)>, DebugValue)> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run());
    });
    snapshot(&snapshotter)
}

#[test]
fn deliveries_attempts_retries_and_dead_letters_are_counted() {
    let snap = with_recorder(async || {
        let webhooks = chirp::webhooks([SECRET])
            .unwrap()
            .retry_policy(
                RetryPolicy::default()
                    .max_attempts(2)
                    .initial_backoff(Duration::from_millis(5)),
            )
            .on(chirp::SMS_DELIVERED, |s: MessageStatus, _ctx| async move {
                if s.id == "bad" {
                    return Err(std::io::Error::other("no"));
                }
                Ok(())
            })
            .fallback(|_, _| async {})
            .spawn();
        for id in ["m1", "m2", "bad"] {
            assert_accepted(&webhooks, delivered(id)).await;
        }
        assert_accepted(&webhooks, delivered("m1")).await; // a duplicate
        let wrong = http::Request::post(URI)
            .header("content-type", "application/json")
            .header("x-webhook-secret", "wrong")
            .body(axum::body::Body::from(delivered("m3")))
            .unwrap();
        assert_eq!(webhooks.clone().oneshot(wrong).await.unwrap().status(), 401);
        webhooks.drain(Duration::from_secs(10)).await.unwrap();
    });
    let d = telemetry::DELIVERIES;
    assert_eq!(
        counter(&snap, d, &[("outcome", "accepted"), ("status", "200")]),
        3
    );
    assert_eq!(counter(&snap, d, &[("outcome", "duplicate")]), 1);
    assert_eq!(
        counter(
            &snap,
            d,
            &[
                ("outcome", "rejected"),
                ("status", "401"),
                ("reason", "invalid_credentials")
            ]
        ),
        1
    );
    let a = telemetry::HANDLER_ATTEMPTS;
    let h = ("handler", "messages.sms.delivered");
    assert_eq!(counter(&snap, a, &[h, ("result", "ok")]), 2);
    assert_eq!(
        counter(&snap, a, &[h, ("result", "error")]),
        2,
        "bad failed twice"
    );
    assert_eq!(counter(&snap, telemetry::HANDLER_RETRIES, &[h]), 1);
    assert_eq!(
        counter(&snap, telemetry::DEAD_LETTERS, &[("reason", "exhausted")]),
        1
    );
    let names: Vec<&str> = snap.iter().map(|(n, _, _)| n.as_str()).collect();
    for name in [
        telemetry::QUEUE_WAIT,
        telemetry::HANDLER_DURATION,
        telemetry::QUEUE_DEPTH,
        telemetry::HANDLERS_RUNNING,
        telemetry::RETRIES_WAITING,
        telemetry::DEDUP_KEYS,
    ] {
        assert!(names.contains(&name), "{name} recorded: {names:?}");
    }
}
