//! The queue's byte budget (`queue_bytes`): 503 past it with nothing remembered, and every
//! reservation given back (handled, dead-lettered, abandoned at the shutdown); and untyped
//! payloads reaching handlers as their exact raw text.

mod support;

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use support::*;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use webhook_receiver::chirp::{self, ChirpEvent};
use webhook_receiver::dispatch::{DeadLetter, EventContext, RetryPolicy};
use webhook_receiver::event::Received;
use webhook_receiver::stack::Dispatcher;

/// An unknown Chirp event of exactly `len` bytes, with data id `id`.
fn unknown(id: &str, len: usize) -> String {
    let head = format!(r#"{{"event":"calls.voice.started","data":{{"id":"{id}","pad":""#);
    let tail = r#""}}"#;
    let pad = len - head.len() - tail.len();
    let body = format!("{head}{}{tail}", "x".repeat(pad));
    assert_eq!(body.len(), len);
    body
}

/// Waits until the dispatcher holds `bytes` (a liveness bound, not a timing check).
async fn until_held(d: &Dispatcher<ChirpEvent>, bytes: usize) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while d.queued_bytes() != bytes {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("still {} bytes held, not {bytes}", d.queued_bytes()));
}

/// A receiver whose fallback records the event, then waits for a permit of `gate`.
fn gated(
    rec: &Recorder,
    gate: &Arc<Semaphore>,
    tweak: impl FnOnce(
        webhook_receiver::WebhooksBuilder<
            chirp::Chirp,
            webhook_receiver::verify::SharedSecret,
            Recorder,
        >,
    ) -> webhook_receiver::WebhooksBuilder<
        chirp::Chirp,
        webhook_receiver::verify::SharedSecret,
        Recorder,
    >,
) -> (Stack, Dispatcher<ChirpEvent>) {
    let gate = Arc::clone(gate);
    stack_with(rec, move |b| {
        tweak(b.fallback(move |item, ctx: EventContext<Recorder>| {
            let gate = Arc::clone(&gate);
            async move {
                ctx.state().record("fallback", item, &ctx);
                gate.acquire().await.unwrap().forget();
            }
        }))
    })
}

const LEN: usize = 1000;

#[tokio::test]
async fn past_the_byte_budget_is_503_and_nothing_is_remembered() {
    let rec = Recorder::default();
    let gate = Arc::new(Semaphore::new(0));
    // Room for two bodies, not three; the count (1024) is far away. A fixed Retry-After, to see
    // that the byte budget's 503 carries the configured one (the adaptive default is tested in
    // tests/retry_after.rs).
    let (stack, d) = gated(&rec, &gate, |b| {
        b.queue_bytes(2 * LEN + LEN / 2)
            .retry_after(Duration::from_secs(7))
    });
    for id in ["call_1", "call_2"] {
        let res = stack
            .clone()
            .oneshot(chirp_request(unknown(id, LEN)))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{id}");
    }
    assert_eq!(
        d.queued_bytes(),
        2 * LEN,
        "both held while their handlers run"
    );

    let res = stack
        .clone()
        .oneshot(chirp_request(unknown("call_3", LEN)))
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "7");
    let err = error_body(res, 503, "api_error").await;
    assert_eq!(err["code"], "queue_full", "the same shape as a full queue");
    assert_eq!(
        d.queued_bytes(),
        2 * LEN,
        "the refused body reserved nothing"
    );

    // The handlers finish: their bytes are given back.
    gate.add_permits(2);
    until_held(&d, 0).await;

    // Nothing was remembered of the refused event: it is new now, and dispatched.
    let res = stack
        .clone()
        .oneshot(chirp_request(unknown("call_3", LEN)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_body(res).await, serde_json::json!({"received": true}));
    // An accepted one was remembered: a duplicate, which reserves nothing either.
    let res = stack
        .clone()
        .oneshot(chirp_request(unknown("call_1", LEN)))
        .await
        .unwrap();
    assert_eq!(json_body(res).await["duplicate"], true);
    gate.add_permits(1);
    let seen = rec.wait_for(3).await;
    let ids: Vec<_> = seen
        .iter()
        .map(|s| match &s.item {
            Received::Event(e) => e.id().unwrap().to_owned(),
            Received::Invalid(i) => panic!("{i}"),
        })
        .collect();
    assert_eq!(ids, ["call_1", "call_2", "call_3"]);
    stack.drain(Duration::from_secs(30)).await.unwrap();
    assert_eq!(d.queued_bytes(), 0);
}

#[tokio::test]
async fn an_event_larger_than_the_whole_budget_is_accepted_alone() {
    let rec = Recorder::default();
    let gate = Arc::new(Semaphore::new(0));
    let (stack, d) = gated(&rec, &gate, |b| b.queue_bytes(LEN / 2));
    let res = stack
        .clone()
        .oneshot(chirp_request(unknown("big_1", LEN)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "nothing else held: taken");
    let res = stack
        .clone()
        .oneshot(chirp_request(unknown("big_2", LEN)))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "not beside another"
    );
    // Even a small one waits: the budget is spent.
    let res = stack
        .clone()
        .oneshot(chirp_request(unknown("small", 100)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    gate.add_permits(1);
    until_held(&d, 0).await;
    let res = stack
        .clone()
        .oneshot(chirp_request(unknown("big_2", LEN)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "alone again");
    gate.add_permits(1);
    stack.drain(Duration::from_secs(30)).await.unwrap();
    assert_eq!(d.queued_bytes(), 0);
}

#[tokio::test]
async fn the_budget_is_held_by_a_waiting_retry_and_given_back_after_a_dead_letter() {
    let rec = Recorder::default();
    let (letters_tx, mut letters) = tokio::sync::mpsc::unbounded_channel();
    let (stack, d) = stack_with(&rec, move |b| {
        b.retry_policy(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_backoff(Duration::from_millis(1))
                .without_jitter(),
        )
        .on(chirp::SMS_DELIVERED, |_, _| async {
            Err::<(), _>(std::io::Error::other("database down"))
        })
        .on_dead_letter(move |letter: DeadLetter<ChirpEvent>| {
            letters_tx.send(letter.attempts).unwrap();
        })
    });
    let body = delivered("msg_1");
    assert_accepted(&stack, body.clone()).await;
    assert_eq!(
        letters.recv().await,
        Some(2),
        "two attempts, then dead-lettered"
    );
    until_held(&d, 0).await;
    // Each event gives its bytes back when it is dead-lettered.
    let res = stack
        .clone()
        .oneshot(chirp_request(delivered("msg_2")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(letters.recv().await, Some(2));
    until_held(&d, 0).await;
    stack.drain(Duration::from_secs(30)).await.unwrap();
}

#[tokio::test]
async fn waiting_retries_hold_their_bytes_until_the_drain_abandons_them() {
    let rec = Recorder::default();
    let (stack, d) = stack_with(&rec, |b| {
        b.retry_policy(RetryPolicy::default().initial_backoff(Duration::from_secs(3600)))
            .on(chirp::SMS_DELIVERED, |_, _| async {
                Err::<(), _>(std::io::Error::other("database down"))
            })
    });
    let body = delivered("msg_1");
    assert_accepted(&stack, body.clone()).await;
    tokio::time::timeout(Duration::from_secs(30), async {
        while d.retrying() == 0 || d.running() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(d.queued_bytes(), body.len(), "held by the waiting retry");
    let left = stack.drain(Duration::from_millis(10)).await.unwrap_err();
    assert_eq!(left.retrying, 1);
    assert_eq!(d.queued_bytes(), 0, "given back with the abandoned retry");
}

#[tokio::test]
async fn at_the_drain_deadline_queued_bytes_are_given_back_and_running_ones_when_they_end() {
    let rec = Recorder::default();
    let gate = Arc::new(Semaphore::new(0));
    let (stack, d) = gated(&rec, &gate, |b| b.concurrency_limit(1));
    for id in ["call_1", "call_2", "call_3"] {
        let res = stack
            .clone()
            .oneshot(chirp_request(unknown(id, LEN)))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    rec.wait_for(1).await; // the first runs, two wait
    assert_eq!(d.queued_bytes(), 3 * LEN);
    let left = stack.drain(Duration::from_millis(10)).await.unwrap_err();
    assert_eq!((left.running, left.queued), (1, 2));
    assert_eq!(d.queued_bytes(), LEN, "only the running event's");
    gate.add_permits(1);
    until_held(&d, 0).await;
}

#[tokio::test]
async fn an_unknown_event_reaches_the_fallback_with_its_exact_raw_text() {
    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    // Spacing, key order, a number beyond f64 and an escape: all kept as sent.
    let data = r#"{ "id" : "call_1", "n": 1e400, "zeros": [0,0,0], "s": "\u0041" }"#;
    let body = format!(r#"{{"event":"calls.voice.started","data":{data}}}"#);
    assert_accepted(&stack, body).await;
    let seen = rec.wait_for(1).await;
    assert_eq!(seen[0].handler, "fallback");
    let Received::Event(ChirpEvent::Unknown {
        name,
        id,
        data: raw,
    }) = &seen[0].item
    else {
        panic!("expected an unknown event, got {:?}", seen[0].item);
    };
    assert_eq!(
        (name.as_str(), id.as_deref()),
        ("calls.voice.started", Some("call_1"))
    );
    assert_eq!(raw.get(), data);
    #[derive(serde::Deserialize)]
    struct Call {
        zeros: Vec<u8>,
        s: String,
    }
    let call: Call = raw.parse().unwrap();
    assert_eq!((call.zeros, call.s.as_str()), (vec![0, 0, 0], "A"));
}

#[tokio::test]
async fn an_invalid_payload_serde_cannot_represent_keeps_its_raw_text() {
    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    let data = r#"{"id": 1e400, "status": "delivered"}"#;
    let body = format!(r#"{{"event":"messages.sms.delivered","data":{data}}}"#);
    assert_accepted(&stack, body).await;
    let seen = rec.wait_for(1).await;
    assert_eq!(seen[0].handler, "fallback");
    let Received::Invalid(invalid) = &seen[0].item else {
        panic!("expected an invalid payload, got {:?}", seen[0].item);
    };
    assert_eq!(invalid.event_name, "messages.sms.delivered");
    assert_eq!(invalid.path, ".");
    assert_eq!(invalid.data.get(), data);
    assert!(invalid.data.to_value().is_err(), "a tree cannot hold it");
}

/// An event replayed from the durable inbox counts against the budget, as it did before the
/// restart, and gives its bytes back when it ends.
#[cfg(feature = "durable")]
#[tokio::test]
async fn a_replayed_event_holds_its_bytes() {
    use webhook_receiver::store::DurableInbox;

    let dir = std::env::temp_dir().join(format!("wr-queue-bytes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let failing = || {
        chirp::webhooks([SECRET])
            .unwrap()
            .retry_policy(RetryPolicy::default().initial_backoff(Duration::from_secs(3600)))
            .on(chirp::SMS_DELIVERED, |_, _| async {
                Err::<(), _>(std::io::Error::other("database down"))
            })
            .store(DurableInbox::open(&dir).unwrap())
            .spawn()
    };
    let body = delivered("msg_1");
    let first = failing();
    assert_accepted(&first, body.clone()).await;
    let d = first.dispatcher().clone();
    tokio::time::timeout(Duration::from_secs(30), async {
        while d.retrying() == 0 || d.running() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(d.queued_bytes(), body.len());
    first.drain(Duration::from_millis(10)).await.unwrap_err();
    assert_eq!(d.queued_bytes(), 0, "left in the inbox, not in memory");
    drop((first, d));

    let second = failing();
    assert_eq!(
        second.dispatcher().retrying(),
        1,
        "replayed, waiting for its retry"
    );
    assert_eq!(second.dispatcher().queued_bytes(), body.len());
    second.drain(Duration::from_millis(10)).await.unwrap_err();
    assert_eq!(second.dispatcher().queued_bytes(), 0);
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
